/*
 * error.c — owns the per-thread last error. Never allocates on the error path (fixed buffers), so
 * an out-of-memory error can always be reported.
 */
#include "error.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	tasker_error pub;
	char message[2048];
	char sqlstate[6];
} thread_error;

static _Thread_local thread_error last = {{0, "", ""}, "", ""};

const tasker_error *tasker_error_last(void)
{
	last.pub.message = last.message;
	last.pub.sqlstate = last.sqlstate;
	return &last.pub;
}

void tasker_error_clear(void)
{
	last.pub.code = TASKER_OK;
	last.message[0] = '\0';
	last.sqlstate[0] = '\0';
}

int tasker_set_error(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last.message, sizeof last.message, fmt, ap);
	va_end(ap);
	last.pub.code = code;
	last.sqlstate[0] = '\0';
	return code;
}

int tasker_set_oom(void)
{
	return tasker_set_error(TASKER_ENOMEM, "out of memory");
}

/* SQLSTATE class 08 is "connection exception"; 57P01..57P03 are admin shutdown / crash / cannot connect. */
static int is_connection_state(const char *state)
{
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

int tasker_set_error_pg(const struct pg_result *res, const char *conn_message, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	int code;

	if (!msg || !*msg)
		msg = (conn_message && *conn_message) ? conn_message : "unknown database error";
	if (!state) {
		/* No SQLSTATE: libpq itself failed, which means the connection is gone or unusable. */
		state = "08006";
		code = TASKER_ECONN;
	} else {
		code = is_connection_state(state) ? TASKER_ECONN : TASKER_EDB;
	}
	if (detail && *detail)
		tasker_set_error(code, "%s: %s (SQLSTATE %s; %s)", what, msg, state, detail);
	else
		tasker_set_error(code, "%s: %s (SQLSTATE %s)", what, msg, state);
	/* strip libpq's trailing newline from the message */
	size_t n = strlen(last.message);
	while (n > 0 && (last.message[n - 1] == '\n' || last.message[n - 1] == ' '))
		last.message[--n] = '\0';
	snprintf(last.sqlstate, sizeof last.sqlstate, "%s", state);
	return code;
}

const char *tasker_error_name(int code)
{
	switch (code) {
	case TASKER_OK: return "TASKER_OK";
	case TASKER_EXISTS: return "TASKER_EXISTS";
	case TASKER_ERROR: return "TASKER_ERROR";
	case TASKER_ENOMEM: return "TASKER_ENOMEM";
	case TASKER_EINVAL: return "TASKER_EINVAL";
	case TASKER_ENOTFOUND: return "TASKER_ENOTFOUND";
	case TASKER_EDB: return "TASKER_EDB";
	case TASKER_ECONN: return "TASKER_ECONN";
	case TASKER_ECONFLICT: return "TASKER_ECONFLICT";
	case TASKER_ETRANSITION: return "TASKER_ETRANSITION";
	case TASKER_EMIGRATION: return "TASKER_EMIGRATION";
	case TASKER_ETEMPLATE: return "TASKER_ETEMPLATE";
	case TASKER_ECONTEXT: return "TASKER_ECONTEXT";
	case TASKER_EJSON: return "TASKER_EJSON";
	case TASKER_ECONFIG: return "TASKER_ECONFIG";
	case TASKER_ESTOPPED: return "TASKER_ESTOPPED";
	case TASKER_ETIMEOUT: return "TASKER_ETIMEOUT";
	case TASKER_ECANCELED: return "TASKER_ECANCELED";
	case TASKER_ECLOSED: return "TASKER_ECLOSED";
	default: return "TASKER_UNKNOWN";
	}
}
