/*
 * logging.h — structured logs: one JSON object per line (level, event, timestamp, ids, correlation id),
 * handed to the host's handler (tasker_log_set_handler). With no handler installed nothing is written
 * anywhere: a library must not write to stderr behind its host's back.
 */
#ifndef TASKER_CORE_LOGGING_H
#define TASKER_CORE_LOGGING_H

#include <stdarg.h>

#include "tasker.h"

/* 1 when a handler is installed for `level` or lower. One atomic load: call it before building a line. */
int tlog_enabled(tasker_log_level level);

/* Hands one complete JSON object (no newline) to the handler, if it takes `level`. */
void tlog_line(tasker_log_level level, const char *json_object);

/* Logs a lifecycle event: {"level":..,"event":name, <payload members>}. `payload_json` is the event's
 * payload object (it carries the ids, the correlation id and the timestamp). */
void tlog_event(tasker_log_level level, const char *name, const char *payload_json);

/* Logs an engine message: {"level":..,"event":event,"timestamp":..,<ids when non-zero>,"message":..}. */
void tlog_message(tasker_log_level level, const char *event, int64_t task_id, int64_t step_id, const char *fmt,
                  ...) __attribute__((format(printf, 5, 6)));
void tlog_vmessage(tasker_log_level level, const char *event, int64_t task_id, int64_t step_id, const char *fmt,
                   va_list ap);

#endif
