/*
 * tc_errors.c — the exception hierarchy under TaskerCore::Error and the one place where a tasker_*
 * error code becomes a Ruby exception. Must not decide anything else about errors: handler failures
 * are classified in tc_handler.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc.h"

VALUE tc_eError;

/* Every class defined here, parents before children. `code` 0: raised by the binding only. */
static const struct {
	const char *name, *parent;
	int code;
} classes[] = {
	{"ConnectionError", "Error", TASKER_ECONN},
	{"DatabaseError", "Error", TASKER_EDB},
	{"MigrationError", "DatabaseError", TASKER_EMIGRATION},
	{"NotFoundError", "Error", TASKER_ENOTFOUND},
	{"HandlerNotFoundError", "NotFoundError", 0},
	{"ConflictError", "Error", TASKER_ECONFLICT},
	{"TransitionError", "Error", TASKER_ETRANSITION},
	{"ValidationError", "Error", TASKER_EINVAL},
	{"TemplateError", "ValidationError", TASKER_ETEMPLATE},
	{"ContextError", "ValidationError", TASKER_ECONTEXT},
	{"JSONError", "ValidationError", TASKER_EJSON},
	{"ConfigurationError", "Error", TASKER_ECONFIG},
	{"StoppedError", "Error", TASKER_ESTOPPED},
	{"TimeoutError", "Error", TASKER_ETIMEOUT},
	{"CanceledError", "Error", TASKER_ECANCELED},
	{"ClosedError", "Error", TASKER_ECLOSED},
	{"ProceduralError", "Error", 0},
	{"RetryableError", "ProceduralError", 0},
	{"PermanentError", "ProceduralError", 0},
};

#define NCLASSES (sizeof classes / sizeof classes[0])
static VALUE class_values[NCLASSES];
static ID id_code, id_sqlstate;

VALUE tc_error_class_named(const char *name)
{
	for (size_t i = 0; i < NCLASSES; i++)
		if (strcmp(classes[i].name, name) == 0)
			return class_values[i];
	return tc_eError;
}

VALUE tc_error_class(int code)
{
	for (size_t i = 0; i < NCLASSES; i++)
		if (classes[i].code == code)
			return class_values[i];
	return tc_eError;
}

void tc_raise(int code)
{
	const tasker_error *e = tasker_error_last();
	if (code == TASKER_ENOMEM)
		rb_memerror();
	VALUE msg = rb_enc_str_new_cstr(e->message && *e->message ? e->message : tasker_error_name(code),
	                                rb_utf8_encoding());
	VALUE exc = rb_exc_new_str(tc_error_class(code), msg);
	rb_ivar_set(exc, id_code, ID2SYM(rb_intern(tasker_error_name(code))));
	rb_ivar_set(exc, id_sqlstate, e->sqlstate && *e->sqlstate ? rb_str_new_cstr(e->sqlstate) : Qnil);
	rb_exc_raise(exc);
}

void tc_raise_named(const char *klass_name, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	rb_exc_raise(rb_exc_new_str(tc_error_class_named(klass_name), rb_enc_str_new_cstr(buf, rb_utf8_encoding())));
}

void tc_init_errors(void)
{
	id_code = rb_intern("@code");
	id_sqlstate = rb_intern("@sqlstate");
	tc_eError = rb_define_class_under(tc_mTaskerCore, "Error", rb_eStandardError);
	for (size_t i = 0; i < NCLASSES; i++) {
		VALUE parent = strcmp(classes[i].parent, "Error") == 0 ? tc_eError
		                                                        : rb_const_get(tc_mTaskerCore, rb_intern(classes[i].parent));
		class_values[i] = rb_define_class_under(tc_mTaskerCore, classes[i].name, parent);
	}
}
