/*
 * tc_handler.c — _native.StepHandler, the base type users subclass (re-exported as
 * tasker_core.StepHandler). `process` must be overridden; the default `process_results` stores
 * process's output unless the handler assigned step.results during process (handler
 * specification, rule 3). Running the lifecycle is the worker's job (tasker_core/_runner.py).
 */
#include "tc.h"

PyObject *tc_handler_type;

static PyObject *handler_process(PyObject *self, PyObject *args)
{
	(void)args;
	PyObject *type = PyObject_Type(self);
	PyObject *name = type ? PyObject_GetAttrString(type, "__qualname__") : NULL;
	Py_XDECREF(type);
	if (!name) return NULL;
	PyErr_Format(PyExc_NotImplementedError, "%S.process(task, sequence, step) is not implemented", name);
	Py_DECREF(name);
	return NULL;
}

static PyObject *handler_process_results(PyObject *self, PyObject *args, PyObject *kw)
{
	(void)self;
	static char *kwlist[] = {"step", "output", "initial_results", NULL};
	PyObject *step, *output, *initial = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O", kwlist, &step, &output, &initial)) return NULL;
	PyObject *assigned = PyObject_GetAttrString(step, "results_assigned");
	if (!assigned) return NULL;
	int was = PyObject_IsTrue(assigned);
	Py_DECREF(assigned);
	if (was < 0) return NULL;
	if (!was && PyObject_SetAttrString(step, "results", output) < 0) return NULL;
	Py_RETURN_NONE;
}

static PyMethodDef handler_methods[] = {
	{"process", handler_process, METH_VARARGS,
	 "process(task, sequence, step): runs the step; returns its results (plain def or async def)."},
	{"process_results", (PyCFunction)(void (*)(void))handler_process_results, METH_VARARGS | METH_KEYWORDS,
	 "process_results(step, output, initial_results): decides what is stored; by default `output`, "
	 "unless step.results was assigned during process."},
	{NULL, NULL, 0, NULL},
};

static PyType_Slot handler_slots[] = {
	{Py_tp_doc, "Base class of step handlers: subclass it and override process(task, sequence, step)."},
	{Py_tp_new, PyType_GenericNew},
	{Py_tp_methods, handler_methods},
	{0, NULL},
};

static PyType_Spec handler_spec = {"tasker_core.StepHandler", 0, 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
                                   handler_slots};

int tc_handler_init_type(PyObject *m)
{
	tc_handler_type = PyType_FromSpec(&handler_spec);
	if (!tc_handler_type) return -1;
	Py_INCREF(tc_handler_type);
	return PyModule_AddObject(m, "StepHandler", tc_handler_type);
}
