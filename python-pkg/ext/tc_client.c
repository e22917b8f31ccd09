/*
 * tc_client.c — _native.Client: a tasker_client (a pool of PostgreSQL connections) and the calls
 * made with it. Every call that may wait on the database releases the GIL. Values cross as Python
 * objects: JSON text from the core is converted here, never by the json module.
 */
#include "tc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	PyObject_HEAD
	tasker_client *client;
	int inflight;  /* calls running with the GIL released (changed only with the GIL held) */
	int closed;    /* close() was called: refuse new calls; the last call in flight frees */
} tc_client;

PyObject *tc_client_type;

static tasker_cancel *main_cancel;       /* the main thread's token */
static unsigned long main_thread_ident;  /* the thread that imported the module */
static struct sigaction python_sigint;   /* the handler in place before a call, chained to */

static void on_sigint(int sig)
{
	tasker_cancel_fire(main_cancel);
	if (!(python_sigint.sa_flags & SA_SIGINFO) && python_sigint.sa_handler != SIG_IGN &&
	    python_sigint.sa_handler != SIG_DFL)
		python_sigint.sa_handler(sig);
}

/* 1 when this call is interruptible (made on the main thread); installs the SIGINT chain. */
static int tc_interrupt_begin(void)
{
	if (!main_cancel || PyThread_get_thread_ident() != main_thread_ident) return 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, &python_sigint) != 0) return 0;
	tasker_cancel_reset(main_cancel);
	tasker_cancel_set_current(main_cancel);
	return 1;
}

static void tc_interrupt_end(int interruptible)
{
	if (!interruptible) return;
	tasker_cancel_set_current(NULL);
	sigaction(SIGINT, &python_sigint, NULL);
}

/* Enter/leave a call: the client stays alive while a call runs without the GIL. */
static tasker_client *enter(tc_client *self)
{
	if (self->closed || !self->client) {
		PyErr_SetString(tc_error_class("ClosedError"), "the client is closed");
		return NULL;
	}
	self->inflight++;
	return self->client;
}

static void leave(tc_client *self)
{
	if (--self->inflight == 0 && self->closed && self->client) {
		tasker_client *c = self->client;
		self->client = NULL;
		Py_BEGIN_ALLOW_THREADS
		tasker_client_free(c);
		Py_END_ALLOW_THREADS
	}
}

tasker_client *tc_client_ptr(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, (PyTypeObject *)tc_client_type)) {
		PyErr_SetString(PyExc_TypeError, "expected a tasker_core Client");
		return NULL;
	}
	tc_client *self = (tc_client *)obj;
	if (self->closed || !self->client) {
		PyErr_SetString(tc_error_class("ClosedError"), "the client is closed");
		return NULL;
	}
	return self->client;
}

/* Every database wait runs with the GIL released. On the main thread it is also interruptible: while
 * the call runs, SIGINT fires the main thread's cancel token (the core then ends the wait with
 * TASKER_ECANCELED) and is passed on to Python's own handler, so KeyboardInterrupt follows. */
#define BLOCKING(rc, expr)                                      \
	do {                                                        \
		int interruptible_ = tc_interrupt_begin();              \
		Py_BEGIN_ALLOW_THREADS (rc) = (expr); Py_END_ALLOW_THREADS \
		tc_interrupt_end(interruptible_);                       \
	} while (0)

/* Loads `config` (None, a dict, or a path to a YAML file) over the defaults, then the environment. */
static int load_config(tasker_config *cfg, PyObject *config)
{
	int rc = 0;
	tasker_config_init(cfg);
	if (config && config != Py_None) {
		if (PyDict_Check(config)) {
			char *json = tc_py_to_json_str(config, "config");
			if (!json) return -1;
			rc = tasker_config_load_string(cfg, json, "config (dict)"); /* JSON is YAML */
			free(json);
		} else {
			PyObject *bytes = NULL;
			if (!PyUnicode_FSConverter(config, &bytes)) return -1;
			rc = tasker_config_load_file(cfg, PyBytes_AsString(bytes));
			Py_DECREF(bytes);
		}
	}
	if (!rc) rc = tasker_config_apply_env(cfg);
	if (rc) {
		tc_raise(rc);
		tasker_config_clear(cfg);
		return -1;
	}
	return 0;
}

static int client_init(tc_client *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"database_url", "pool_size", "config", "application_name", NULL};
	PyObject *url = Py_None, *config = Py_None, *app = Py_None;
	unsigned int pool = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OIOO", kwlist, &url, &pool, &config, &app)) return -1;
	if (self->client) {
		PyErr_SetString(PyExc_RuntimeError, "Client is already open");
		return -1;
	}
	PyObject *kurl = NULL, *kapp = NULL;
	tasker_client_options o = TASKER_CLIENT_OPTIONS_INIT;
	tasker_config cfg;
	if (tc_str_arg(&o.database_url, &kurl, url, "database_url") < 0 ||
	    tc_str_arg(&o.application_name, &kapp, app, "application_name") < 0 || load_config(&cfg, config) < 0) {
		Py_XDECREF(kurl);
		Py_XDECREF(kapp);
		return -1;
	}
	o.pool_size = pool;
	o.config = &cfg;
	int rc;
	tasker_client *c = NULL;
	BLOCKING(rc, tasker_client_open(&c, &o));
	tasker_config_clear(&cfg);
	Py_XDECREF(kurl);
	Py_XDECREF(kapp);
	if (rc) { tc_raise(rc); return -1; }
	self->client = c;
	return 0;
}

static void client_dealloc(tc_client *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	if (self->client) {
		tasker_client *c = self->client;
		self->client = NULL;
		Py_BEGIN_ALLOW_THREADS
		tasker_client_free(c);
		Py_END_ALLOW_THREADS
	}
	freefunc f = (freefunc)PyType_GetSlot(tp, Py_tp_free);
	f(self);
	Py_DECREF(tp);
}

static PyObject *client_close(tc_client *self, PyObject *noargs)
{
	(void)noargs;
	if (!self->closed) {
		self->closed = 1;
		if (self->client) {
			tasker_client *c = self->client;
			Py_BEGIN_ALLOW_THREADS
			tasker_client_close(c); /* ends waits of calls in flight, waits for them to return */
			Py_END_ALLOW_THREADS
		}
		self->inflight++;
		leave(self); /* frees now unless a call is still running */
	}
	Py_RETURN_NONE;
}

static PyObject *client_closed(tc_client *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->closed);
}

static PyObject *client_migrate(tc_client *self, PyObject *noargs)
{
	(void)noargs;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	int rc, applied = 0;
	BLOCKING(rc, tasker_db_apply_migrations(&applied, c));
	leave(self);
	return rc ? tc_raise(rc) : PyLong_FromLong(applied);
}

static PyObject *template_info(const tasker_template_info *info)
{
	return Py_BuildValue("{s:s,s:s,s:s,s:n}", "namespace_name", info->namespace_name, "name", info->name,
	                     "version", info->version, "step_count", (Py_ssize_t)info->step_count);
}

/* register_template(path=None, *, text=None, is_json=False, strict=None, environment=None) */
static PyObject *client_register_template(tc_client *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "text", "is_json", "strict", "environment", NULL};
	PyObject *path = Py_None, *text = Py_None, *strict = Py_None, *env = Py_None;
	int is_json = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$OpOO", kwlist, &path, &text, &is_json, &strict, &env))
		return NULL;
	PyObject *kpath = NULL, *ktext = NULL, *kenv = NULL;
	const char *cpath = NULL, *ctext = NULL;
	tasker_template_options o = TASKER_TEMPLATE_OPTIONS_INIT;
	if (strict != Py_None) o.strict = PyObject_IsTrue(strict) ? 1 : 0;
	if (path != Py_None && !PyUnicode_FSConverter(path, &kpath)) return NULL;
	if (kpath) cpath = PyBytes_AsString(kpath);
	if (tc_str_arg(&ctext, &ktext, text, "text") < 0 || tc_str_arg(&o.environment, &kenv, env, "environment") < 0)
		goto fail;
	if (!cpath && !ctext) {
		PyErr_SetString(PyExc_TypeError, "register_template needs a path or text");
		goto fail;
	}
	tasker_client *c = enter(self);
	if (!c) goto fail;
	tasker_template_info info;
	int rc;
	BLOCKING(rc, tasker_template_register_ext(&info, c, cpath, ctext, is_json, "template (text)", &o));
	leave(self);
	Py_XDECREF(kpath); Py_XDECREF(ktext); Py_XDECREF(kenv);
	return rc ? tc_raise(rc) : template_info(&info);
fail:
	Py_XDECREF(kpath); Py_XDECREF(ktext); Py_XDECREF(kenv);
	return NULL;
}

static int parse_identity(tasker_identity_strategy *out, PyObject *v)
{
	*out = TASKER_IDENTITY_CLIENT_DEFAULT;
	if (!v || v == Py_None) return 0;
	PyObject *b = PyUnicode_Check(v) ? PyUnicode_AsUTF8String(v) : NULL;
	const char *s = b ? PyBytes_AsString(b) : "";
	if (!strcmp(s, "unique") || !strcmp(s, "default")) *out = TASKER_IDENTITY_UNIQUE;
	else if (!strcmp(s, "hash")) *out = TASKER_IDENTITY_HASH;
	else {
		Py_XDECREF(b);
		PyErr_Clear();
		PyErr_SetString(tc_error_class("ValidationError"), "identity_strategy must be 'unique' or 'hash'");
		return -1;
	}
	Py_XDECREF(b);
	return 0;
}

/* create_task(name, context, *, namespace=None, version=None, initiator=None, source_system=None,
 *             reason=None, tags=None, bypass_steps=None, identity_strategy=None, traceparent=None,
 *             requested_at=None) -> (task_id, created) */
static PyObject *client_create_task(tc_client *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"name", "context", "namespace", "version", "initiator", "source_system", "reason",
	                         "tags", "bypass_steps", "identity_strategy", "traceparent", "requested_at", NULL};
	PyObject *v[12] = {0};
	for (int i = 2; i < 12; i++) v[i] = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|$OOOOOOOOOO", kwlist, &v[0], &v[1], &v[2], &v[3], &v[4],
	                                 &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]))
		return NULL;
	tasker_task_request rq = TASKER_TASK_REQUEST_INIT;
	PyObject *keep[8] = {0};
	char *context = NULL, *tags = NULL, *bypass = NULL;
	PyObject *result = NULL;
	if (!PyDict_Check(v[1])) {
		PyErr_SetString(tc_error_class("ValidationError"), "context must be a dict (a JSON object)");
		return NULL;
	}
	if (tc_str_arg(&rq.name, &keep[0], v[0], "name") < 0 ||
	    tc_str_arg(&rq.namespace_name, &keep[1], v[2], "namespace") < 0 ||
	    tc_str_arg(&rq.template_version, &keep[2], v[3], "version") < 0 ||
	    tc_str_arg(&rq.initiator, &keep[3], v[4], "initiator") < 0 ||
	    tc_str_arg(&rq.source_system, &keep[4], v[5], "source_system") < 0 ||
	    tc_str_arg(&rq.reason, &keep[5], v[6], "reason") < 0 ||
	    tc_str_arg(&rq.traceparent, &keep[6], v[10], "traceparent") < 0 ||
	    tc_str_arg(&rq.requested_at, &keep[7], v[11], "requested_at") < 0 || parse_identity(&rq.identity_strategy, v[9]) < 0)
		goto out;
	if (!rq.name) { PyErr_SetString(tc_error_class("ValidationError"), "name is required"); goto out; }
	if (!(context = tc_py_to_json_str(v[1], "context"))) goto out;
	if (v[7] != Py_None && !(tags = tc_py_to_json_str(v[7], "tags"))) goto out;
	if (v[8] != Py_None && !(bypass = tc_py_to_json_str(v[8], "bypass_steps"))) goto out;
	rq.context_json = context, rq.tags_json = tags, rq.bypass_steps_json = bypass;
	tasker_client *c = enter(self);
	if (!c) goto out;
	int64_t id = 0;
	int rc;
	BLOCKING(rc, tasker_task_create(&id, c, &rq));
	leave(self);
	if (rc < 0) tc_raise(rc);
	else result = Py_BuildValue("(LO)", (long long)id, rc == TASKER_EXISTS ? Py_False : Py_True);
out:
	for (int i = 0; i < 8; i++) Py_XDECREF(keep[i]);
	free(context), free(tags), free(bypass);
	return result;
}

static int id_arg(int64_t *out, PyObject *arg)
{
	long long v = PyLong_AsLongLong(arg);
	if (v == -1 && PyErr_Occurred()) return -1;
	*out = v;
	return 0;
}

static PyObject *state_str(tasker_state s)
{
	const char *n = tasker_state_name(s);
	return PyUnicode_FromString(n ? n : "unknown");
}

/* Sets d[key] = value and drops the reference; -1 if value is NULL or the set fails. */
static int put_item(PyObject *d, const char *key, PyObject *value)
{
	if (!value) return -1;
	int rc = PyDict_SetItemString(d, key, value);
	Py_DECREF(value);
	return rc;
}

static PyObject *str_or_none(const char *s)
{
	if (!s) Py_RETURN_NONE;
	return PyUnicode_FromString(s);
}

static PyObject *step_view_dict(const tasker_step_view *s)
{
	PyObject *d = PyDict_New(), *parents = PyList_New((Py_ssize_t)s->parent_count);
	if (!d || !parents) { Py_XDECREF(d); Py_XDECREF(parents); return NULL; }
	for (size_t i = 0; i < s->parent_count; i++) {
		PyObject *p = PyLong_FromLongLong(s->parent_ids[i]);
		if (!p) { Py_DECREF(d); Py_DECREF(parents); return NULL; }
		PyList_SetItem(parents, (Py_ssize_t)i, p);
	}
	if (put_item(d, "workflow_step_id", PyLong_FromLongLong(s->workflow_step_id)) ||
	    put_item(d, "name", PyUnicode_FromString(s->name)) ||
	    put_item(d, "handler_class", str_or_none(s->handler_class)) || put_item(d, "state", state_str(s->state)) ||
	    put_item(d, "attempts", PyLong_FromLong(s->attempts)) ||
	    put_item(d, "retry_limit", PyLong_FromLong(s->retry_limit)) ||
	    put_item(d, "retryable", PyBool_FromLong(s->retryable)) ||
	    put_item(d, "skippable", PyBool_FromLong(s->skippable)) ||
	    put_item(d, "processed", PyBool_FromLong(s->processed)) ||
	    put_item(d, "results", tc_json_to_py(s->results_json)) || put_item(d, "parent_ids", parents)) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

static PyObject *task_view_dict(const tasker_task_view *t)
{
	PyObject *d = PyDict_New(), *steps = PyList_New((Py_ssize_t)t->step_count);
	if (!d || !steps) { Py_XDECREF(d); Py_XDECREF(steps); return NULL; }
	for (size_t i = 0; i < t->step_count; i++) {
		PyObject *s = step_view_dict(&t->steps[i]);
		if (!s) { Py_DECREF(d); Py_DECREF(steps); return NULL; }
		PyList_SetItem(steps, (Py_ssize_t)i, s);
	}
	if (put_item(d, "task_id", PyLong_FromLongLong(t->task_id)) ||
	    put_item(d, "namespace_name", str_or_none(t->namespace_name)) || put_item(d, "name", str_or_none(t->name)) ||
	    put_item(d, "version", str_or_none(t->version)) || put_item(d, "state", state_str(t->state)) ||
	    put_item(d, "complete", PyBool_FromLong(t->complete)) ||
	    put_item(d, "context", tc_json_to_py(t->context_json)) || put_item(d, "tags", tc_json_to_py(t->tags_json)) ||
	    put_item(d, "initiator", str_or_none(t->initiator)) ||
	    put_item(d, "source_system", str_or_none(t->source_system)) ||
	    put_item(d, "reason", str_or_none(t->reason)) || put_item(d, "identity_hash", str_or_none(t->identity_hash)) ||
	    put_item(d, "requested_at", str_or_none(t->requested_at)) || put_item(d, "steps", steps)) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

static PyObject *client_task(tc_client *self, PyObject *arg)
{
	int64_t id;
	if (id_arg(&id, arg) < 0) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	tasker_task_view *view = NULL;
	int rc;
	BLOCKING(rc, tasker_task_get(&view, c, id));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *d = task_view_dict(view);
	if (d) {
		char *m = tasker_task_view_mermaid(view);
		if (put_item(d, "mermaid", m ? PyUnicode_FromString(m) : (Py_INCREF(Py_None), Py_None))) Py_CLEAR(d);
		tasker_free(m);
	}
	tasker_task_view_free(view);
	return d;
}

static PyObject *time_or_none(int64_t us)
{
	if (us == TASKER_NULL_TIME) Py_RETURN_NONE;
	return PyFloat_FromDouble((double)us / 1e6);
}

static PyObject *int_or_none(int v)
{
	if (v < 0) Py_RETURN_NONE;
	return PyLong_FromLong(v);
}

static PyObject *client_readiness(tc_client *self, PyObject *arg)
{
	int64_t id;
	if (id_arg(&id, arg) < 0) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	tasker_step_readiness *rows = NULL;
	size_t n = 0;
	int rc;
	BLOCKING(rc, tasker_task_readiness(&rows, &n, c, id));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *list = PyList_New((Py_ssize_t)n);
	for (size_t i = 0; list && i < n; i++) {
		const tasker_step_readiness *r = &rows[i];
		PyObject *d = PyDict_New();
		if (!d || put_item(d, "workflow_step_id", PyLong_FromLongLong(r->workflow_step_id)) ||
		    put_item(d, "task_id", PyLong_FromLongLong(r->task_id)) ||
		    put_item(d, "named_step_id", PyLong_FromLong(r->named_step_id)) ||
		    put_item(d, "name", str_or_none(r->name)) || put_item(d, "current_state", state_str(r->current_state)) ||
		    put_item(d, "dependencies_satisfied", PyBool_FromLong(r->dependencies_satisfied)) ||
		    put_item(d, "retry_eligible", PyBool_FromLong(r->retry_eligible)) ||
		    put_item(d, "ready_for_execution", PyBool_FromLong(r->ready_for_execution)) ||
		    put_item(d, "last_failure_at", time_or_none(r->last_failure_at)) ||
		    put_item(d, "next_retry_at", time_or_none(r->next_retry_at)) ||
		    put_item(d, "total_parents", PyLong_FromLong(r->total_parents)) ||
		    put_item(d, "completed_parents", PyLong_FromLong(r->completed_parents)) ||
		    put_item(d, "attempts", PyLong_FromLong(r->attempts)) ||
		    put_item(d, "retry_limit", PyLong_FromLong(r->retry_limit)) ||
		    put_item(d, "backoff_request_seconds", int_or_none(r->backoff_request_seconds)) ||
		    put_item(d, "last_attempted_at", time_or_none(r->last_attempted_at))) {
			Py_XDECREF(d);
			Py_CLEAR(list);
			break;
		}
		PyList_SetItem(list, (Py_ssize_t)i, d);
	}
	tasker_readiness_free(rows, n);
	return list;
}

static PyObject *client_execution_context(tc_client *self, PyObject *arg)
{
	int64_t id;
	if (id_arg(&id, arg) < 0) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	tasker_task_context x;
	int rc;
	BLOCKING(rc, tasker_task_execution_context(&x, c, id));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *d = PyDict_New();
	if (!d || put_item(d, "task_id", PyLong_FromLongLong(x.task_id)) || put_item(d, "status", state_str(x.status)) ||
	    put_item(d, "total_steps", PyLong_FromLongLong(x.total_steps)) ||
	    put_item(d, "pending_steps", PyLong_FromLongLong(x.pending_steps)) ||
	    put_item(d, "in_progress_steps", PyLong_FromLongLong(x.in_progress_steps)) ||
	    put_item(d, "completed_steps", PyLong_FromLongLong(x.completed_steps)) ||
	    put_item(d, "failed_steps", PyLong_FromLongLong(x.failed_steps)) ||
	    put_item(d, "ready_steps", PyLong_FromLongLong(x.ready_steps)) ||
	    put_item(d, "execution_status", str_or_none(x.execution_status)) ||
	    put_item(d, "recommended_action", str_or_none(x.recommended_action)) ||
	    put_item(d, "completion_percentage", PyFloat_FromDouble(x.completion_percentage)) ||
	    put_item(d, "health_status", str_or_none(x.health_status)) ||
	    put_item(d, "next_ready_at", time_or_none(x.next_ready_at))) {
		Py_XDECREF(d);
		return NULL;
	}
	return d;
}

/* One id in, nothing out: cancel_task, retry_task. */
static PyObject *id_call(tc_client *self, PyObject *arg, int (*fn)(tasker_client *, int64_t))
{
	int64_t id;
	if (id_arg(&id, arg) < 0) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	int rc;
	BLOCKING(rc, fn(c, id));
	leave(self);
	if (rc) return tc_raise(rc);
	Py_RETURN_NONE;
}

static PyObject *client_cancel_task(tc_client *self, PyObject *arg) { return id_call(self, arg, tasker_task_cancel); }
static PyObject *client_retry_task(tc_client *self, PyObject *arg) { return id_call(self, arg, tasker_task_retry); }

static PyObject *client_resolve_step(tc_client *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"step_id", "results", NULL};
	long long id;
	PyObject *results = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "L|O", kwlist, &id, &results)) return NULL;
	char *json = NULL;
	if (results != Py_None && !(json = tc_py_to_json_str(results, "results"))) return NULL;
	tasker_client *c = enter(self);
	if (!c) { free(json); return NULL; }
	int rc;
	BLOCKING(rc, tasker_step_resolve(c, id, json));
	leave(self);
	free(json);
	if (rc) return tc_raise(rc);
	Py_RETURN_NONE;
}

/* Calls returning malloc'd text: health (JSON), handler class, metrics. */
static PyObject *client_health(tc_client *self, PyObject *noargs)
{
	(void)noargs;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	char *json = NULL;
	int rc;
	BLOCKING(rc, tasker_health_counts(&json, c));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *v = tc_json_to_py(json);
	tasker_free(json);
	return v;
}

static PyObject *client_step_handler_class(tc_client *self, PyObject *arg)
{
	int64_t id;
	if (id_arg(&id, arg) < 0) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	char *name = NULL;
	int rc;
	BLOCKING(rc, tasker_step_handler_class(&name, c, id));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *v = PyUnicode_FromString(name);
	tasker_free(name);
	return v;
}

static PyObject *client_metrics(tc_client *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"include_database", NULL};
	int db = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &db)) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	char *text = NULL;
	int rc;
	BLOCKING(rc, tasker_metrics_snapshot(&text, c, db));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *v = PyUnicode_FromString(text);
	tasker_free(text);
	return v;
}

static PyObject *client_task_record(tc_client *self, PyObject *arg)
{
	int64_t id;
	if (id_arg(&id, arg) < 0) return NULL;
	tasker_client *c = enter(self);
	if (!c) return NULL;
	char *json = NULL;
	int rc;
	BLOCKING(rc, tasker_task_record(&json, c, id));
	leave(self);
	if (rc) return tc_raise(rc);
	PyObject *v = tc_json_to_py(json);
	tasker_free(json);
	return v;
}

/* describe_template(path=None, *, text=None, is_json=False, environment=None) -> (info, steps):
 * validates a template without a database and lists its steps (name, handler_class, depends_on,
 * retry_limit, retryable, skippable). */
static PyObject *py_describe_template(PyObject *mod, PyObject *args, PyObject *kw)
{
	(void)mod;
	static char *kwlist[] = {"path", "text", "is_json", "environment", NULL};
	PyObject *path = Py_None, *text = Py_None, *env = Py_None, *kpath = NULL, *ktext = NULL, *kenv = NULL;
	int is_json = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O$OpO", kwlist, &path, &text, &is_json, &env)) return NULL;
	const char *cpath = NULL, *ctext = NULL, *cenv = NULL;
	PyObject *result = NULL;
	if (path != Py_None && !PyUnicode_FSConverter(path, &kpath)) return NULL;
	if (kpath) cpath = PyBytes_AsString(kpath);
	if (tc_str_arg(&ctext, &ktext, text, "text") < 0 || tc_str_arg(&cenv, &kenv, env, "environment") < 0) goto out;
	tasker_template_step *steps = NULL;
	size_t n = 0;
	tasker_template_info info;
	int rc = tasker_template_describe(&steps, &n, &info, cpath, ctext, is_json, "template (text)", cenv);
	if (rc) { tc_raise(rc); goto out; }
	PyObject *list = PyList_New((Py_ssize_t)n);
	for (size_t i = 0; list && i < n; i++) {
		const tasker_template_step *t = &steps[i];
		PyObject *deps = PyList_New((Py_ssize_t)t->depends_on_count);
		for (size_t k = 0; deps && k < t->depends_on_count; k++) {
			PyObject *d = PyUnicode_FromString(t->depends_on[k]);
			if (!d) { Py_CLEAR(deps); break; }
			PyList_SetItem(deps, (Py_ssize_t)k, d);
		}
		PyObject *item = deps ? Py_BuildValue("{s:s,s:s,s:N,s:i,s:O,s:O}", "name", t->name, "handler_class",
		                                      t->handler_class, "depends_on", deps, "retry_limit", t->retry_limit,
		                                      "retryable", t->retryable ? Py_True : Py_False, "skippable",
		                                      t->skippable ? Py_True : Py_False)
		                      : NULL;
		if (!item) { Py_CLEAR(list); break; }
		PyList_SetItem(list, (Py_ssize_t)i, item);
	}
	tasker_template_steps_free(steps, n);
	if (list) result = Py_BuildValue("(NN)", template_info(&info), list);
out:
	Py_XDECREF(kpath); Py_XDECREF(ktext); Py_XDECREF(kenv);
	return result;
}

static PyMethodDef client_functions[] = {
	{"describe_template", (PyCFunction)(void (*)(void))py_describe_template, METH_VARARGS | METH_KEYWORDS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyMethodDef client_methods[] = {
	{"close", (PyCFunction)client_close, METH_NOARGS, NULL},
	{"migrate", (PyCFunction)client_migrate, METH_NOARGS, NULL},
	{"register_template", (PyCFunction)(void (*)(void))client_register_template, METH_VARARGS | METH_KEYWORDS, NULL},
	{"create_task", (PyCFunction)(void (*)(void))client_create_task, METH_VARARGS | METH_KEYWORDS, NULL},
	{"task", (PyCFunction)client_task, METH_O, NULL},
	{"task_record", (PyCFunction)client_task_record, METH_O, NULL},
	{"readiness", (PyCFunction)client_readiness, METH_O, NULL},
	{"execution_context", (PyCFunction)client_execution_context, METH_O, NULL},
	{"cancel_task", (PyCFunction)client_cancel_task, METH_O, NULL},
	{"retry_task", (PyCFunction)client_retry_task, METH_O, NULL},
	{"resolve_step", (PyCFunction)(void (*)(void))client_resolve_step, METH_VARARGS | METH_KEYWORDS, NULL},
	{"health", (PyCFunction)client_health, METH_NOARGS, NULL},
	{"step_handler_class", (PyCFunction)client_step_handler_class, METH_O, NULL},
	{"metrics", (PyCFunction)(void (*)(void))client_metrics, METH_VARARGS | METH_KEYWORDS, NULL},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef client_getset[] = {
	{"closed", (getter)client_closed, NULL, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot client_slots[] = {
	{Py_tp_doc, "A pool of connections to the engine's database (the C core's tasker_client)."},
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_init, client_init},
	{Py_tp_dealloc, client_dealloc},
	{Py_tp_methods, client_methods},
	{Py_tp_getset, client_getset},
	{0, NULL},
};

static PyType_Spec client_spec = {"tasker_core._native.Client", sizeof(tc_client), 0,
                                  Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, client_slots};

int tc_client_init_type(PyObject *m)
{
	if (!main_cancel && tasker_cancel_new(&main_cancel) != TASKER_OK) return -1;
	main_thread_ident = PyThread_get_thread_ident();
	tc_client_type = PyType_FromSpec(&client_spec);
	if (!tc_client_type) return -1;
	Py_INCREF(tc_client_type);
	if (PyModule_AddObject(m, "Client", tc_client_type) < 0) return -1;
	return PyModule_AddFunctions(m, client_functions);
}
