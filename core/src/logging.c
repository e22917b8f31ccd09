/*
 * logging.c — owns the process's log handler (tasker_log_set_handler) and formats log lines as JSON
 * objects. The handler is the one piece of process-wide state in the library, like libgit2's trace
 * callback: logs belong to the host process, not to a client. Never writes anywhere on its own.
 */
#include "logging.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "jsonw.h"
#include "util.h"

static pthread_rwlock_t handler_lock = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int min_level = TASKER_LOG_OFF;
static tasker_log_fn handler;
static void *handler_payload;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

const char *tasker_log_level_name(tasker_log_level level)
{
	return (unsigned)level <= TASKER_LOG_OFF ? level_names[level] : NULL;
}

int tasker_log_level_parse(tasker_log_level *out, const char *name)
{
	for (int i = 0; i <= TASKER_LOG_OFF; i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			*out = (tasker_log_level)i;
			return TASKER_OK;
		}
	}
	if (name && strcmp(name, "warning") == 0) {
		*out = TASKER_LOG_WARN;
		return TASKER_OK;
	}
	return tasker_set_error(TASKER_EINVAL, "unknown log level \"%s\" (expected debug, info, warn, error or off)",
	                        name ? name : "(null)");
}

void tasker_log_set_handler(tasker_log_level level, tasker_log_fn fn, void *payload)
{
	pthread_rwlock_wrlock(&handler_lock);
	handler = fn;
	handler_payload = payload;
	atomic_store(&min_level, fn && (unsigned)level < TASKER_LOG_OFF ? (int)level : TASKER_LOG_OFF);
	pthread_rwlock_unlock(&handler_lock);
}

void tasker_log_stderr(tasker_log_level level, const char *line, void *payload)
{
	(void)level;
	(void)payload;
	fprintf(stderr, "%s\n", line);
}

int tlog_enabled(tasker_log_level level) { return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed); }

void tlog_line(tasker_log_level level, const char *json_object)
{
	if (!tlog_enabled(level) || !json_object)
		return;
	pthread_rwlock_rdlock(&handler_lock);
	if (handler && (int)level >= atomic_load(&min_level))
		handler(level, json_object, handler_payload);
	pthread_rwlock_unlock(&handler_lock);
}

void tlog_event(tasker_log_level level, const char *name, const char *payload_json)
{
	if (!tlog_enabled(level))
		return;
	char stack[1024];
	tjw w;
	tjw_init(&w, stack, sizeof stack);
	tjw_open(&w);
	tjw_kstr(&w, "level", tasker_log_level_name(level));
	tjw_kstr(&w, "event", name);
	tjw_members(&w, payload_json);
	tjw_close(&w);
	tlog_line(level, tjw_text(&w));
	tjw_free(&w);
}

void tlog_vmessage(tasker_log_level level, const char *event, int64_t task_id, int64_t step_id, const char *fmt,
                   va_list ap)
{
	if (!tlog_enabled(level))
		return;
	char msg[1200];
	vsnprintf(msg, sizeof msg, fmt, ap);
	char stack[1536];
	tjw w;
	tjw_init(&w, stack, sizeof stack);
	tjw_open(&w);
	tjw_kstr(&w, "level", tasker_log_level_name(level));
	tjw_kstr(&w, "event", event);
	tjw_key(&w, "timestamp");
	tjw_time(&w, ttime_now());
	if (task_id)
		tjw_ki64(&w, "task_id", task_id);
	if (step_id)
		tjw_ki64(&w, "step_id", step_id);
	tjw_kstr(&w, "message", msg);
	tjw_close(&w);
	tlog_line(level, tjw_text(&w));
	tjw_free(&w);
}

void tlog_message(tasker_log_level level, const char *event, int64_t task_id, int64_t step_id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tlog_vmessage(level, event, task_id, step_id, fmt, ap);
	va_end(ap);
}
