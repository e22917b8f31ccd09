/*
 * error.h — the calling thread's last error (tasker_error_last()).
 * Every failing function in core/ sets it through tasker_set_error*; nothing else stores errors.
 */
#ifndef TASKER_CORE_ERROR_H
#define TASKER_CORE_ERROR_H

#include "tasker.h"

struct pg_result;

/* Sets the thread's error and returns `code`, so callers can `return tasker_set_error(...)`. */
int tasker_set_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets TASKER_EDB (or TASKER_ECONN) from a failed libpq result; `what` says what was being done. */
int tasker_set_error_pg(const struct pg_result *res, const char *conn_message, const char *what);
/* Sets TASKER_ENOMEM. */
int tasker_set_oom(void);

#endif
