/*
 * tc_events.c — _native.EventQueue: a pull-style subscription (tasker_event_queue). The core queues
 * the client's matching events; Python takes them on its own thread or event loop (fd()), so no core
 * thread calls into Python.
 */
#include "tc.h"

typedef struct {
	PyObject_HEAD
	tasker_event_queue *queue;
	PyObject *client;
} tc_queue;

PyObject *tc_queue_type;

static int queue_init(tc_queue *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"client", "pattern", "capacity", NULL};
	PyObject *client, *pattern;
	unsigned int capacity = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|I", kwlist, &client, &pattern, &capacity)) return -1;
	tasker_client *c = tc_client_ptr(client);
	if (!c) return -1;
	const char *p;
	PyObject *keep;
	if (tc_str_arg(&p, &keep, pattern, "pattern") < 0) return -1;
	if (!p) { PyErr_SetString(PyExc_TypeError, "pattern is required"); return -1; }
	int rc = tasker_event_queue_open(&self->queue, c, p, capacity);
	Py_DECREF(keep);
	if (rc) { tc_raise(rc); return -1; }
	self->client = client;
	Py_INCREF(client);
	return 0;
}

static void queue_dispose(tc_queue *self)
{
	if (!self->queue) return;
	tasker_event_queue *q = self->queue;
	self->queue = NULL;
	Py_BEGIN_ALLOW_THREADS
	tasker_event_queue_close(q);
	Py_END_ALLOW_THREADS
}

static void queue_dealloc(tc_queue *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	queue_dispose(self);
	Py_CLEAR(self->client);
	freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
	f(self);
	Py_DECREF(tp);
}

/* next(timeout_ms=-1) -> (name, payload, task_id, workflow_step_id, id, timestamp) or None when none
 * came in time; StoppedError after close. */
static PyObject *queue_next(tc_queue *self, PyObject *args)
{
	int timeout = -1;
	if (!PyArg_ParseTuple(args, "|i", &timeout)) return NULL;
	if (!self->queue) return tc_raise(TASKER_ESTOPPED);
	tasker_event *e = NULL;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = tasker_event_queue_next(&e, self->queue, timeout);
	Py_END_ALLOW_THREADS
	if (rc == TC_ETIMEOUT) Py_RETURN_NONE;
	if (rc) return tc_raise(rc);
	PyObject *payload = tc_json_to_py(e->payload_json);
	PyObject *t = payload ? Py_BuildValue("(sNLLLd)", e->name, payload, (long long)e->task_id,
	                                      (long long)e->workflow_step_id, (long long)e->id,
	                                      (double)e->timestamp / 1e6)
	                      : NULL;
	tasker_event_free(e);
	return t;
}

static PyObject *queue_fd(tc_queue *self, PyObject *noargs)
{
	(void)noargs;
	if (!self->queue) return tc_raise(TASKER_ESTOPPED);
	return PyLong_FromLong(tasker_event_queue_fd(self->queue));
}

static PyObject *queue_close(tc_queue *self, PyObject *noargs)
{
	(void)noargs;
	queue_dispose(self);
	Py_RETURN_NONE;
}

static PyObject *queue_dropped(tc_queue *self, void *c)
{
	(void)c;
	return PyLong_FromUnsignedLongLong(self->queue ? tasker_event_queue_dropped(self->queue) : 0);
}

static PyMethodDef queue_methods[] = {
	{"next", (PyCFunction)queue_next, METH_VARARGS, NULL},
	{"fd", (PyCFunction)queue_fd, METH_NOARGS, NULL},
	{"close", (PyCFunction)queue_close, METH_NOARGS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef queue_getset[] = {
	{"dropped", (getter)queue_dropped, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot queue_slots[] = {
	{Py_tp_doc, "A bounded queue of a client's events whose names match a pattern."},
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_init, queue_init},
	{Py_tp_dealloc, queue_dealloc},
	{Py_tp_methods, queue_methods},
	{Py_tp_getset, queue_getset},
	{0, NULL},
};

static PyType_Spec queue_spec = {"tasker_core._native.EventQueue", sizeof(tc_queue), 0, Py_TPFLAGS_DEFAULT,
                                 queue_slots};

int tc_events_init_type(PyObject *m)
{
	tc_queue_type = PyType_FromSpec(&queue_spec);
	if (!tc_queue_type) return -1;
	Py_INCREF(tc_queue_type);
	return PyModule_AddObject(m, "EventQueue", tc_queue_type);
}
