/*
 * tc_worker.c — _native.Worker: the core's host-driven worker. The core claims, extends leases,
 * recovers, batches completions and stops gracefully; it hands steps out (next / fd) and takes
 * outcomes back (Job.succeed / Job.fail → tasker_worker_finish). Python runs the handlers on its own
 * threads or event loop; no core thread ever calls into Python.
 */
#include "tc.h"

PyObject *tc_job_new(tasker_claimed_step *step, PyObject *owner, int from_worker);

typedef struct {
	PyObject_HEAD
	tasker_worker *worker;
	PyObject *client;  /* keeps the client alive while the worker is */
	int started;
} tc_worker;

PyObject *tc_worker_type;

static int worker_init(tc_worker *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"client", "handler_classes", "concurrency", "claim_batch", "completion_batch",
	                         "lease_seconds", "poll_interval_ms", "worker_id", NULL};
	PyObject *client, *classes, *wid = Py_None;
	tasker_worker_options o = TASKER_WORKER_OPTIONS_INIT;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$IIIiiO", kwlist, &client, &classes, &o.concurrency,
	                                 &o.claim_batch, &o.completion_batch, &o.lease_seconds, &o.poll_interval_ms,
	                                 &wid))
		return -1;
	if (self->worker) {
		PyErr_SetString(PyExc_RuntimeError, "Worker is already initialised");
		return -1;
	}
	tasker_client *c = tc_client_ptr(client);
	if (!c) return -1;
	PyObject *kwid = NULL;
	if (tc_str_arg(&o.worker_id, &kwid, wid, "worker_id") < 0) return -1;
	tasker_worker *w = NULL;
	int rc = tasker_worker_new(&w, c, &o);
	Py_XDECREF(kwid);
	if (rc) { tc_raise(rc); return -1; }
	PyObject *it = PyObject_GetIter(classes);
	PyObject *item;
	while (it && (item = PyIter_Next(it))) {
		const char *name;
		PyObject *keep;
		rc = tc_str_arg(&name, &keep, item, "handler class");
		Py_DECREF(item);
		if (rc < 0) break;
		rc = tasker_worker_declare(w, name);
		Py_DECREF(keep);
		if (rc) { tc_raise(rc); rc = -1; break; }
	}
	Py_XDECREF(it);
	if (!it || PyErr_Occurred()) {
		tasker_worker_free(w);
		return -1;
	}
	self->worker = w;
	self->client = client;
	Py_INCREF(client);
	return 0;
}

/* Stops and frees the worker: steps still out are released by the core. */
static void worker_dispose(tc_worker *self)
{
	tasker_worker *w = self->worker;
	if (!w) return;
	self->worker = NULL;
	Py_BEGIN_ALLOW_THREADS
	if (self->started) {
		tasker_worker_stop(w);
		tasker_worker_wait(w, -1);
	}
	tasker_worker_free(w);
	Py_END_ALLOW_THREADS
}

static void worker_dealloc(tc_worker *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	worker_dispose(self);
	Py_CLEAR(self->client);
	freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
	f(self);
	Py_DECREF(tp);
}

static tasker_worker *live(tc_worker *self)
{
	if (!self->worker) PyErr_SetString(tc_error_class("ClosedError"), "the worker was closed");
	return self->worker;
}

/* The tasker_worker of a _native.Worker, or NULL with ClosedError set once it was closed. */
tasker_worker *tc_worker_live(PyObject *worker)
{
	return live((tc_worker *)worker);
}

static PyObject *worker_start(tc_worker *self, PyObject *noargs)
{
	(void)noargs;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = tasker_worker_start(w);
	Py_END_ALLOW_THREADS
	if (rc) return tc_raise(rc);
	self->started = 1;
	Py_RETURN_NONE;
}

/* next(timeout_ms=-1) -> Job, or None when none came in time. StoppedError once the worker is
 * stopping and hands out nothing more. Waits with the GIL released. */
static PyObject *worker_next(tc_worker *self, PyObject *args)
{
	int timeout = -1;
	if (!PyArg_ParseTuple(args, "|i", &timeout)) return NULL;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	tasker_claimed_step *step = NULL;
	int rc;
	if (timeout == 0) {
		rc = tasker_worker_next(&step, w, 0);
	} else {
		Py_BEGIN_ALLOW_THREADS
		rc = tasker_worker_next(&step, w, timeout);
		Py_END_ALLOW_THREADS
	}
	if (rc == TC_ETIMEOUT) Py_RETURN_NONE;
	if (rc) return tc_raise(rc);
	PyObject *j = tc_job_new(step, (PyObject *)self, 1);
	if (!j) {
		tasker_step_result res = {0};
		res.outcome = TASKER_OUTCOME_RETRYABLE;
		res.error_message = "out of memory handing the step to Python";
		res.retry_after = -1;
		tasker_worker_finish(w, step, &res);
	}
	return j;
}

static PyObject *worker_fd(tc_worker *self, PyObject *noargs)
{
	(void)noargs;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	return PyLong_FromLong(tasker_worker_fd(w));
}

static PyObject *worker_stop(tc_worker *self, PyObject *noargs)
{
	(void)noargs;
	if (self->worker) tasker_worker_stop(self->worker);
	Py_RETURN_NONE;
}

/* wait(timeout_ms=-1) -> True once the machinery stopped and every result is written, False if not yet. */
static PyObject *worker_wait(tc_worker *self, PyObject *args)
{
	int timeout = -1;
	if (!PyArg_ParseTuple(args, "|i", &timeout)) return NULL;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = tasker_worker_wait(w, timeout);
	Py_END_ALLOW_THREADS
	if (rc == TC_ETIMEOUT) Py_RETURN_FALSE;
	if (rc) return tc_raise(rc);
	Py_RETURN_TRUE;
}

static PyObject *worker_idle(tc_worker *self, PyObject *noargs)
{
	(void)noargs;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	int idle;
	Py_BEGIN_ALLOW_THREADS
	idle = tasker_worker_idle(w);
	Py_END_ALLOW_THREADS
	return PyBool_FromLong(idle);
}

/* claim_step(workflow_step_id) -> Job: claims exactly this step for the host (delegation). */
static PyObject *worker_claim_step(tc_worker *self, PyObject *arg)
{
	long long id = PyLong_AsLongLong(arg);
	if (id == -1 && PyErr_Occurred()) return NULL;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	tasker_claimed_step *step = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = tasker_worker_claim_step(&step, w, id);
	Py_END_ALLOW_THREADS
	if (rc) return tc_raise(rc);
	return tc_job_new(step, (PyObject *)self, 1);
}

static PyObject *worker_close(tc_worker *self, PyObject *noargs)
{
	(void)noargs;
	worker_dispose(self);
	Py_RETURN_NONE;
}

static PyObject *worker_processed(tc_worker *self, void *c)
{
	(void)c;
	return PyLong_FromUnsignedLongLong(self->worker ? tasker_worker_processed(self->worker) : 0);
}

static PyMethodDef worker_methods[] = {
	{"start", (PyCFunction)worker_start, METH_NOARGS, NULL},
	{"next", (PyCFunction)worker_next, METH_VARARGS, NULL},
	{"fd", (PyCFunction)worker_fd, METH_NOARGS, NULL},
	{"stop", (PyCFunction)worker_stop, METH_NOARGS, NULL},
	{"wait", (PyCFunction)worker_wait, METH_VARARGS, NULL},
	{"idle", (PyCFunction)worker_idle, METH_NOARGS, NULL},
	{"claim_step", (PyCFunction)worker_claim_step, METH_O, NULL},
	{"close", (PyCFunction)worker_close, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyObject *worker_concurrency(tc_worker *self, void *c)
{
	(void)c;
	tasker_worker *w = live(self);
	if (!w) return NULL;
	return PyLong_FromUnsignedLong(tasker_worker_concurrency(w));
}

static PyGetSetDef worker_getset[] = {
	{"processed", (getter)worker_processed, NULL, NULL, NULL},
	{"concurrency", (getter)worker_concurrency, NULL,
	 "steps run at once: the concurrency given, else the client's execution.concurrency", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot worker_slots[] = {
	{Py_tp_doc, "The core's host-driven worker: steps are taken with next() or when fd() is readable."},
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_init, worker_init},
	{Py_tp_dealloc, worker_dealloc},
	{Py_tp_methods, worker_methods},
	{Py_tp_getset, worker_getset},
	{0, NULL},
};

static PyType_Spec worker_spec = {"tasker_core._native.Worker", sizeof(tc_worker), 0, Py_TPFLAGS_DEFAULT,
                                  worker_slots};

int tc_job_init_type(PyObject *m);

int tc_worker_init_type(PyObject *m)
{
	if (tc_job_init_type(m) < 0) return -1;
	tc_worker_type = PyType_FromSpec(&worker_spec);
	if (!tc_worker_type) return -1;
	Py_INCREF(tc_worker_type);
	return PyModule_AddObject(m, "Worker", tc_worker_type);
}
