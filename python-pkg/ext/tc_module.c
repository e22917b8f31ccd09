/*
 * tc_module.c — the tasker_core._native module: its init, the one table that maps the core's error
 * codes to Python exception classes, and small helpers shared by the types.
 */
#include "tc.h"

#include <stdlib.h>
#include <string.h>

PyObject *tc_module;
PyObject *tc_cls_task, *tc_cls_step, *tc_cls_sequence, *tc_cls_sequence_step;
static PyObject *errors_module;

/* Every core error code and the class (tasker_core._errors) that reports it. */
static const struct {
	int code;
	const char *cls;
} error_classes[] = {
	{TASKER_ERROR, "Error"},
	{TASKER_ENOMEM, "Error"},
	{TASKER_EINVAL, "ValidationError"},
	{TASKER_ENOTFOUND, "NotFoundError"},
	{TASKER_EDB, "DatabaseError"},
	{TASKER_ECONN, "ConnectionError"},
	{TASKER_ECONFLICT, "ConflictError"},
	{TASKER_ETRANSITION, "TransitionError"},
	{TASKER_EMIGRATION, "MigrationError"},
	{TASKER_ETEMPLATE, "TemplateError"},
	{TASKER_ECONTEXT, "ContextError"},
	{TASKER_EJSON, "JSONError"},
	{TASKER_ECONFIG, "ConfigurationError"},
	{TASKER_ESTOPPED, "StoppedError"},
	{TC_ETIMEOUT, "TimeoutError"},
	{TC_ECANCELED, "CancelledError"},
	{TC_ECLOSED, "ClosedError"},
};

PyObject *tc_error_class(const char *name)
{
	PyObject *cls = errors_module ? PyObject_GetAttrString(errors_module, name) : NULL;
	if (!cls) { PyErr_Clear(); return PyExc_RuntimeError; }
	Py_DECREF(cls); /* the module keeps it alive */
	return cls;
}

static const char *class_name_of(int code)
{
	for (size_t i = 0; i < sizeof error_classes / sizeof *error_classes; i++)
		if (error_classes[i].code == code) return error_classes[i].cls;
	return "Error";
}

PyObject *tc_raise(int code)
{
	if (code == TASKER_ENOMEM) return PyErr_NoMemory();
	if (code == TC_ECANCELED && PyErr_CheckSignals() < 0) return NULL; /* Ctrl-C: KeyboardInterrupt */
	const tasker_error *e = tasker_error_last();
	const char *msg = e && e->message && *e->message ? e->message : tasker_error_name(code);
	PyObject *cls = tc_error_class(class_name_of(code));
	PyObject *exc = PyObject_CallFunction(cls, "s", msg);
	if (!exc) return NULL;
	const char *name = tasker_error_name(code);
	PyObject *pcode = name ? PyUnicode_FromString(name) : PyLong_FromLong(code);
	PyObject *sqlstate = e && e->sqlstate && *e->sqlstate ? PyUnicode_FromString(e->sqlstate) : Py_None;
	if (sqlstate == Py_None) Py_INCREF(Py_None);
	if (pcode) PyObject_SetAttrString(exc, "code", pcode);
	if (sqlstate) PyObject_SetAttrString(exc, "sqlstate", sqlstate);
	Py_XDECREF(pcode);
	Py_XDECREF(sqlstate);
	PyErr_SetObject(cls, exc);
	Py_DECREF(exc);
	return NULL;
}

int tc_str_arg(const char **out, PyObject **keep, PyObject *value, const char *what)
{
	*out = NULL;
	*keep = NULL;
	if (!value || value == Py_None) return 0;
	if (!PyUnicode_Check(value)) {
		PyErr_Format(PyExc_TypeError, "%s must be a str or None", what);
		return -1;
	}
	*keep = PyUnicode_AsUTF8String(value);
	if (!*keep) return -1;
	*out = PyBytes_AsString(*keep);
	if (strlen(*out) != (size_t)PyBytes_Size(*keep)) {
		Py_CLEAR(*keep);
		PyErr_Format(tc_error_class("ValidationError"), "%s contains a NUL character", what);
		return -1;
	}
	return 0;
}

/* json_loads(text) / json_dumps(value): the extension's conversions, for tests and tools. */
static PyObject *py_json_loads(PyObject *self, PyObject *arg)
{
	(void)self;
	const char *s;
	PyObject *keep;
	if (tc_str_arg(&s, &keep, arg, "text") < 0) return NULL;
	PyObject *v = tc_json_to_py(s);
	Py_XDECREF(keep);
	return v;
}

static PyObject *py_json_dumps(PyObject *self, PyObject *arg)
{
	(void)self;
	tc_buf b;
	if (tc_py_to_json(&b, arg, "$") < 0) return NULL;
	PyObject *s = PyUnicode_DecodeUTF8(b.data, (Py_ssize_t)b.len, "strict");
	tc_buf_free(&b);
	return s;
}

/* _setup(objects_module): the classes handler arguments are made of. */
static PyObject *py_setup(PyObject *self, PyObject *mod)
{
	(void)self;
	PyObject **slots[] = {&tc_cls_task, &tc_cls_step, &tc_cls_sequence, &tc_cls_sequence_step};
	const char *names[] = {"Task", "Step", "Sequence", "SequenceStep"};
	for (int i = 0; i < 4; i++) {
		PyObject *c = PyObject_GetAttrString(mod, names[i]);
		if (!c) return NULL;
		Py_XDECREF(*slots[i]);
		*slots[i] = c;
	}
	Py_RETURN_NONE;
}

static PyObject *py_error_name(PyObject *self, PyObject *arg)
{
	(void)self;
	long code = PyLong_AsLong(arg);
	if (code == -1 && PyErr_Occurred()) return NULL;
	const char *n = tasker_error_name((int)code);
	if (!n) Py_RETURN_NONE;
	return PyUnicode_FromString(n);
}

static PyMethodDef module_methods[] = {
	{"json_loads", py_json_loads, METH_O, "Parses JSON text as the core does (integers keep every digit)."},
	{"json_dumps", py_json_dumps, METH_O, "Writes a value as JSON by the handler specification's rules."},
	{"error_name", py_error_name, METH_O, "The stable name of a core error code."},
	{"_setup", py_setup, METH_O, NULL},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
	PyModuleDef_HEAD_INIT, "tasker_core._native",
	"The tasker-core engine (C), compiled into this package.", -1, module_methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void)
{
	PyObject *m = PyModule_Create(&module_def);
	if (!m) return NULL;
	tc_module = m;
	errors_module = PyImport_ImportModule("tasker_core._errors");
	if (!errors_module) goto fail;
	if (PyModule_AddStringConstant(m, "CORE_VERSION", TASKER_VERSION) < 0) goto fail;
	if (tc_client_init_type(m) < 0 || tc_handler_init_type(m) < 0 || tc_worker_init_type(m) < 0 ||
	    tc_events_init_type(m) < 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
