/*
 * tc_job.c — _native.Job: one claimed step handed to Python. It makes the handler's arguments
 * (task, sequence, step) from the claimed step, and hands the outcome back: to the worker that
 * handed the step out (tasker_worker_finish, never waits on the database), or, for a step claimed
 * by delegation (claim_step), straight to the database (tasker_steps_complete, GIL released).
 */
#include "tc.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	PyObject_HEAD
	tasker_claimed_step *step;
	PyObject *owner;            /* the Worker (mode WORKER) or the Client (mode DIRECT) */
	int from_worker;            /* mode WORKER: the step belongs to owner's worker until finished */
	int finished;
	PyObject *sequence;         /* the Sequence handed out by arguments(): it reads the step lazily */
} tc_job;

PyObject *tc_job_type;

tasker_worker *tc_worker_live(PyObject *worker);

PyObject *tc_job_new(tasker_claimed_step *step, PyObject *owner, int from_worker)
{
	tc_job *j = PyObject_New(tc_job, (PyTypeObject *)tc_job_type);
	if (!j) return NULL;
	j->step = step;
	j->owner = owner;
	Py_INCREF(owner);
	j->from_worker = from_worker;
	j->finished = 0;
	j->sequence = NULL;
	return (PyObject *)j;
}

/* Before the claimed step goes away: a Sequence someone still holds reads every step now (it was
 * lazy: most handlers look at a few steps of a large task, or none). */
static int settle_sequence(tc_job *j)
{
	if (!j->sequence) return 0;
	int rc = 0;
	if (Py_REFCNT(j->sequence) > 1) {
		PyObject *r = PyObject_CallMethod(j->sequence, "_materialize", NULL);
		if (!r) rc = -1;
		Py_XDECREF(r);
	}
	Py_CLEAR(j->sequence);
	return rc;
}

/* Hands the result over; the step is no longer ours afterwards. Returns 0 or -1 with an exception. */
static int hand_over(tc_job *j, tasker_step_result *res)
{
	if (j->finished || !j->step) {
		PyErr_SetString(tc_error_class("ValidationError"), "this step was already finished");
		return -1;
	}
	if (settle_sequence(j) < 0) return -1;
	res->workflow_step_id = j->step->workflow_step_id;
	res->claim_id = j->step->claim_id;
	j->finished = 1;
	int rc;
	if (j->from_worker) {
		tasker_worker *w = tc_worker_live(j->owner);
		if (!w) { j->step = NULL; return -1; } /* the worker was closed and released the step */
		/* The GIL stays held: finishing never waits on the database (the result is queued for the
		 * batched completion), and the worker cannot be closed meanwhile. */
		tasker_claimed_step *step = j->step;
		j->step = NULL;
		rc = tasker_worker_finish(w, step, res); /* frees the step */
		if (rc) { tc_raise(rc); return -1; }
		return 0;
	}
	tasker_client *c = tc_client_ptr(j->owner);
	if (!c) return -1;
	Py_BEGIN_ALLOW_THREADS
	rc = tasker_steps_complete(c, res, 1);
	Py_END_ALLOW_THREADS
	tasker_claimed_step_free(j->step);
	j->step = NULL;
	if (rc) { tc_raise(rc); return -1; }
	if (res->status) { tc_raise(res->status); return -1; }
	return 0;
}

static void job_dealloc(tc_job *j)
{
	PyTypeObject *tp = Py_TYPE(j);
	if (j->step && !j->finished) {
		/* Dropped without an outcome: the step fails this attempt rather than waiting for its lease. */
		tasker_step_result res;
		memset(&res, 0, sizeof res);
		res.outcome = TASKER_OUTCOME_RETRYABLE;
		res.error_message = "the step was dropped by the host without an outcome";
		res.error_class = "tasker_core.DroppedStep";
		res.retry_after = -1;
		PyObject *et, *ev, *etb;
		PyErr_Fetch(&et, &ev, &etb);
		if (hand_over(j, &res) < 0) PyErr_Clear();
		PyErr_Restore(et, ev, etb);
	}
	if (j->sequence) {
		PyObject *et, *ev, *etb;
		PyErr_Fetch(&et, &ev, &etb);
		if (settle_sequence(j) < 0) PyErr_Clear();
		PyErr_Restore(et, ev, etb);
	}
	if (j->step && !j->from_worker) tasker_claimed_step_free(j->step);
	Py_XDECREF(j->owner);
	freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
	f(j);
	Py_DECREF(tp);
}

static PyObject *str_or_none(const char *s)
{
	if (!s) Py_RETURN_NONE;
	return PyUnicode_FromString(s);
}

static PyObject *call_steal(PyObject *cls, PyObject *args)
{
	if (!args) return NULL;
	PyObject *o = PyObject_CallObject(cls, args);
	Py_DECREF(args);
	return o;
}

static PyObject *sequence_step(const tasker_sequence_step *q)
{
	const char *state = tasker_state_name(q->state);
	PyObject *results = tc_json_to_py(q->results_json);
	if (!results) return NULL;
	return call_steal(tc_cls_sequence_step, Py_BuildValue("(LssiN)", (long long)q->workflow_step_id, q->name,
	                                                      state ? state : "unknown", q->attempts, results));
}

/* A usable step of this job, or NULL with ValidationError once it was finished. */
static const tasker_claimed_step *readable(tc_job *j)
{
	if (!j->step || j->finished) {
		PyErr_SetString(tc_error_class("ValidationError"), "this step was already finished");
		return NULL;
	}
	return j->step;
}

/* _sequence_steps() -> [SequenceStep...]: every step of the task (what Sequence.steps shows). */
static PyObject *job_sequence_steps(tc_job *j, PyObject *noargs)
{
	(void)noargs;
	const tasker_claimed_step *s = readable(j);
	if (!s) return NULL;
	PyObject *list = PyList_New((Py_ssize_t)s->sequence_count);
	for (size_t i = 0; list && i < s->sequence_count; i++) {
		PyObject *item = sequence_step(&s->sequence[i]);
		if (!item) { Py_CLEAR(list); break; }
		PyList_SetItem(list, (Py_ssize_t)i, item);
	}
	return list;
}

/* _sequence_step(name) -> SequenceStep or None: one step, without reading the others. */
static PyObject *job_sequence_step(tc_job *j, PyObject *name)
{
	const tasker_claimed_step *s = readable(j);
	const char *n;
	PyObject *keep;
	if (!s || tc_str_arg(&n, &keep, name, "name") < 0) return NULL;
	PyObject *found = NULL;
	for (size_t i = 0; n && i < s->sequence_count; i++)
		if (strcmp(s->sequence[i].name, n) == 0) { found = sequence_step(&s->sequence[i]); goto out; }
	found = Py_None;
	Py_INCREF(found);
out:
	Py_XDECREF(keep);
	return found;
}

/* arguments() -> (task, sequence, step): new objects each call. */
static PyObject *job_arguments(tc_job *j, PyObject *noargs)
{
	(void)noargs;
	const tasker_claimed_step *s = j->step;
	if (j->from_worker && !tc_worker_live(j->owner)) return NULL;
	if (!s) {
		PyErr_SetString(tc_error_class("ValidationError"), "this step was already finished");
		return NULL;
	}
	if (!tc_cls_task) {
		PyErr_SetString(PyExc_RuntimeError, "tasker_core is not initialised");
		return NULL;
	}
	PyObject *context = tc_json_to_py(s->context_json), *tags = tc_json_to_py(s->tags_json);
	PyObject *task = (context && tags)
	                     ? call_steal(tc_cls_task, Py_BuildValue("(LsssNNNNN)", (long long)s->task_id, s->task_name,
	                                                             s->namespace_name, s->task_version, context, tags,
	                                                             str_or_none(s->initiator), str_or_none(s->source_system),
	                                                             str_or_none(s->reason)))
	                     : (Py_XDECREF(context), Py_XDECREF(tags), NULL);
	if (!task) return NULL;
	PyObject *sequence = call_steal(tc_cls_sequence, Py_BuildValue("(O)", (PyObject *)j));
	if (!sequence) { Py_DECREF(task); return NULL; }
	Py_XDECREF(j->sequence);
	j->sequence = sequence;
	Py_INCREF(sequence);
	PyObject *config = tc_json_to_py(s->handler_config_json), *inputs = tc_json_to_py(s->inputs_json);
	PyObject *results = tc_json_to_py(s->results_json);
	PyObject *step = (config && inputs && results)
	                     ? call_steal(tc_cls_step, Py_BuildValue("(LsiiNNNs)", (long long)s->workflow_step_id, s->name,
	                                                             s->attempts, s->retry_limit, config, inputs, results,
	                                                             s->handler_class))
	                     : (Py_XDECREF(config), Py_XDECREF(inputs), Py_XDECREF(results), NULL);
	if (!step) { Py_DECREF(task); Py_DECREF(sequence); return NULL; }
	return Py_BuildValue("(NNN)", task, sequence, step);
}

/* succeed(results): stores `results` (any JSON value). A value with no JSON form raises JSONError
 * and leaves the step unfinished, so the caller can fail it with INVALID_RESULT. */
static PyObject *job_succeed(tc_job *j, PyObject *value)
{
	char *json = tc_py_to_json_str(value, "$");
	if (!json) return NULL;
	tasker_step_result res;
	memset(&res, 0, sizeof res);
	res.outcome = TASKER_OUTCOME_SUCCESS;
	res.results_json = json;
	res.retry_after = -1;
	int rc = hand_over(j, &res);
	free(json);
	if (rc < 0) return NULL;
	Py_RETURN_NONE;
}

/* fail(permanent, message, error_class, error_code=None, context=None, backtrace=None, retry_after=None) */
static PyObject *job_fail(tc_job *j, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"permanent", "message", "error_class", "error_code", "context", "backtrace",
	                         "retry_after", NULL};
	int permanent;
	PyObject *message, *error_class, *code = Py_None, *context = Py_None, *backtrace = Py_None, *retry = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "pOO|OOOO", kwlist, &permanent, &message, &error_class, &code,
	                                 &context, &backtrace, &retry))
		return NULL;
	tasker_step_result res;
	memset(&res, 0, sizeof res);
	res.outcome = permanent ? TASKER_OUTCOME_PERMANENT : TASKER_OUTCOME_RETRYABLE;
	res.retry_after = -1;
	PyObject *k1 = NULL, *k2 = NULL, *k3 = NULL, *result = NULL;
	char *ctx = NULL, *bt = NULL;
	if (tc_str_arg(&res.error_message, &k1, message, "message") < 0 ||
	    tc_str_arg(&res.error_class, &k2, error_class, "error_class") < 0 ||
	    tc_str_arg(&res.error_code, &k3, code, "error_code") < 0)
		goto out;
	if (context != Py_None && !(ctx = tc_py_to_json_str(context, "context"))) goto out;
	if (backtrace != Py_None && !(bt = tc_py_to_json_str(backtrace, "backtrace"))) goto out;
	if (retry != Py_None) {
		double s = PyFloat_AsDouble(retry);
		if (s == -1.0 && PyErr_Occurred()) goto out;
		/* a fraction waits the next whole second (handler specification, rule 4) */
		long whole = (long)s;
		if ((double)whole < s) whole++;
		res.retry_after = whole < 0 ? 0 : (whole > 0x7fffffff ? 0x7fffffff : (int)whole);
	}
	res.error_context_json = ctx;
	res.backtrace_json = bt;
	if (hand_over(j, &res) == 0) { result = Py_None; Py_INCREF(result); }
out:
	Py_XDECREF(k1); Py_XDECREF(k2); Py_XDECREF(k3);
	free(ctx), free(bt);
	return result;
}

static PyObject *job_get_handler_class(tc_job *j, void *c)
{
	(void)c;
	if (!j->step) Py_RETURN_NONE;
	return PyUnicode_FromString(j->step->handler_class);
}

static PyObject *job_get_name(tc_job *j, void *c)
{
	(void)c;
	if (!j->step) Py_RETURN_NONE;
	return PyUnicode_FromString(j->step->name);
}

static PyObject *job_get_ids(tc_job *j, void *c)
{
	(void)c;
	if (!j->step) Py_RETURN_NONE;
	return Py_BuildValue("(LLi)", (long long)j->step->task_id, (long long)j->step->workflow_step_id, j->step->attempts);
}

static PyObject *job_get_traceparent(tc_job *j, void *c)
{
	(void)c;
	if (!j->step || !j->step->traceparent) Py_RETURN_NONE;
	return PyUnicode_FromString(j->step->traceparent);
}

static PyObject *job_get_finished(tc_job *j, void *c)
{
	(void)c;
	return PyBool_FromLong(j->finished);
}

static PyObject *job_get_traceparent_source(tc_job *j, void *c)
{
	(void)c;
	if (!j->step) Py_RETURN_NONE;
	return Py_BuildValue("(ss)", j->step->namespace_name, j->step->task_name);
}

static PyMethodDef job_methods[] = {
	{"arguments", (PyCFunction)job_arguments, METH_NOARGS, NULL},
	{"_sequence_steps", (PyCFunction)job_sequence_steps, METH_NOARGS, NULL},
	{"_sequence_step", (PyCFunction)job_sequence_step, METH_O, NULL},
	{"succeed", (PyCFunction)job_succeed, METH_O, NULL},
	{"fail", (PyCFunction)(void (*)(void))job_fail, METH_VARARGS | METH_KEYWORDS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef job_getset[] = {
	{"handler_class", (getter)job_get_handler_class, NULL, NULL, NULL},
	{"name", (getter)job_get_name, NULL, NULL, NULL},
	{"ids", (getter)job_get_ids, NULL, "(task_id, workflow_step_id, attempts)", NULL},
	{"finished", (getter)job_get_finished, NULL, NULL, NULL},
	{"traceparent", (getter)job_get_traceparent, NULL, "the task's W3C traceparent, or None", NULL},
	{"names", (getter)job_get_traceparent_source, NULL, "(namespace_name, task_name)", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot job_slots[] = {
	{Py_tp_doc, "One claimed step handed to Python: its handler's arguments, and where its outcome goes."},
	{Py_tp_dealloc, job_dealloc},
	{Py_tp_methods, job_methods},
	{Py_tp_getset, job_getset},
	{0, NULL},
};

static PyType_Spec job_spec = {"tasker_core._native.Job", sizeof(tc_job), 0, Py_TPFLAGS_DEFAULT, job_slots};

/* claim_step(client, workflow_step_id) -> Job: delegation (a job system's job runs exactly this step).
 * NotFoundError when the step is not claimable now. */
static PyObject *py_claim_step(PyObject *self, PyObject *args)
{
	(void)self;
	PyObject *client;
	long long id;
	if (!PyArg_ParseTuple(args, "OL", &client, &id)) return NULL;
	tasker_client *c = tc_client_ptr(client);
	if (!c) return NULL;
	tasker_claimed_step *step = NULL;
	tasker_claim_options opts = TASKER_CLAIM_OPTIONS_INIT;
	int rc;
	Py_BEGIN_ALLOW_THREADS
	rc = tasker_step_claim(&step, c, id, &opts);
	Py_END_ALLOW_THREADS
	if (rc) return tc_raise(rc);
	PyObject *j = tc_job_new(step, client, 0);
	if (!j) tasker_claimed_step_free(step);
	return j;
}

static PyMethodDef job_functions[] = {
	{"claim_step", py_claim_step, METH_VARARGS, "claim_step(client, workflow_step_id) -> Job"},
	{NULL, NULL, 0, NULL},
};

int tc_job_init_type(PyObject *m)
{
	tc_job_type = PyType_FromSpec(&job_spec);
	if (!tc_job_type) return -1;
	Py_INCREF(tc_job_type);
	if (PyModule_AddObject(m, "Job", tc_job_type) < 0) return -1;
	return PyModule_AddFunctions(m, job_functions);
}
