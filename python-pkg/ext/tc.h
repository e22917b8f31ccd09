/*
 * tc.h — shared declarations of the tasker_core extension (CPython, limited API 3.9).
 *
 * The extension converts values between Python and the core and runs Python code; every rule of the
 * engine stays in the core. Files: tc_module.c (module, error mapping), tc_json.c (JSON text <->
 * Python values), tc_client.c (Client), tc_worker.c (Worker, Job, delegation), tc_handler.c
 * (StepHandler), tc_events.c (event queues).
 */
#ifndef TC_H
#define TC_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* CPython 3.12 made None, True and False immortal, and from 3.13 its headers return them without taking
 * a reference. This extension is built once (abi3) and runs on 3.9 too, where those objects are counted:
 * every return of one must take its reference, or each call drops one and the interpreter aborts once
 * None's count reaches zero. */
#if defined(Py_LIMITED_API) && Py_LIMITED_API + 0 < 0x030c0000
#undef Py_RETURN_NONE
#undef Py_RETURN_TRUE
#undef Py_RETURN_FALSE
#define Py_RETURN_NONE return Py_INCREF(Py_None), Py_None
#define Py_RETURN_TRUE return Py_INCREF(Py_True), Py_True
#define Py_RETURN_FALSE return Py_INCREF(Py_False), Py_False
#endif
#include <tasker.h>

/* Kit error codes, spelled here too so the mapping compiles against any tasker.h of this series. */
#define TC_ETIMEOUT (-15)
#define TC_ECANCELED (-16)
#define TC_ECLOSED (-17)

/* ---- tc_module.c */
extern PyObject *tc_module;            /* the _native module (borrowed after init) */
/* Raises the Python exception for a core error code, using tasker_error_last() of this thread.
 * Returns NULL so callers can `return tc_raise(rc);`. */
PyObject *tc_raise(int code);
/* An exception class of tasker_core._errors by name (borrowed), e.g. "JSONError". */
PyObject *tc_error_class(const char *name);
/* The Python classes the handler objects are made of (tasker_core._objects), borrowed. */
extern PyObject *tc_cls_task, *tc_cls_step, *tc_cls_sequence, *tc_cls_sequence_step;

/* ---- tc_json.c */
/* Parses JSON text (as the core and PostgreSQL write it) into dict/list/str/int/float/bool/None.
 * Integers keep every digit. NULL text is None. New reference, or NULL with ValueError set. */
PyObject *tc_json_to_py(const char *text);

typedef struct tc_buf {
	char *data;
	size_t len, cap;
} tc_buf;
void tc_buf_free(tc_buf *b);

/* Writes a Python value as JSON text into *out (malloc'd, NUL-terminated; free with tc_buf_free).
 * What has no JSON form (NaN, an object(), a non-str key json would not write, text with NUL) fails
 * with tasker_core.JSONError whose message names the value's type and its path below `root`
 * ("$.value[2]"). Returns 0 or -1. */
int tc_py_to_json(tc_buf *out, PyObject *value, const char *root);
/* As tc_py_to_json, but returns a new bytes-free C string (malloc'd) or NULL with an exception. */
char *tc_py_to_json_str(PyObject *value, const char *root);

/* ---- helpers shared by the types */
/* A str argument (or None → NULL) as UTF-8 kept alive by *keep (a bytes object the caller DECREFs). */
int tc_str_arg(const char **out, PyObject **keep, PyObject *value, const char *what);

/* ---- types */
extern PyObject *tc_client_type, *tc_worker_type, *tc_job_type, *tc_handler_type, *tc_queue_type;
int tc_client_init_type(PyObject *m);
int tc_worker_init_type(PyObject *m);
int tc_handler_init_type(PyObject *m);
int tc_events_init_type(PyObject *m);
/* The tasker_client of a _native.Client, or NULL with TypeError/ClosedError set. */
tasker_client *tc_client_ptr(PyObject *client);

#endif
