/*
 * tc_log.c — the core's log lines reach Ruby (TaskerCore.logger, lib/tasker_core/logging.rb).
 *
 * The core calls its log handler on any thread — a Ruby thread inside an engine call with the GVL
 * released, or one of its own pthreads, which must never touch Ruby — and the handler is process-wide,
 * like the core's. So the handler here only copies the line into a bounded queue (the oldest line is
 * dropped and counted when it is full) and, when the queue was empty, writes one byte to a pipe. A Ruby
 * thread reads that pipe as an IO (it waits without the GVL and can be interrupted like any IO read),
 * drains the queue and hands each line to the logger. Never blocks the thread that logs.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tc.h"

#define LOG_QUEUE_MAX 4096

typedef struct log_line {
	struct log_line *next;
	int level;
	char text[]; /* the JSON object, NUL-terminated */
} log_line;

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static log_line *log_head, *log_tail;
static size_t log_count;
static int log_signaled;          /* a byte is in the pipe and no drain has taken the queue since */
static int log_pipe[2] = {-1, -1};
static unsigned long long log_queued, log_dropped;

/* The core's handler: any thread, no Ruby. */
static void on_line(tasker_log_level level, const char *text, void *payload)
{
	(void)payload;
	size_t n = strlen(text) + 1;
	log_line *l = malloc(sizeof *l + n);
	if (!l)
		return;
	l->next = NULL;
	l->level = (int)level;
	memcpy(l->text, text, n);
	pthread_mutex_lock(&log_mu);
	if (log_count == LOG_QUEUE_MAX) {
		log_line *oldest = log_head;
		log_head = oldest->next;
		free(oldest);
		log_count--;
		log_dropped++;
	}
	if (log_tail)
		log_tail->next = l;
	else
		log_head = l;
	log_tail = l;
	log_count++;
	log_queued++;
	int wake = !log_signaled && log_pipe[1] >= 0;
	if (wake)
		log_signaled = 1;
	pthread_mutex_unlock(&log_mu);
	if (wake) {
		ssize_t ignored = write(log_pipe[1], "", 1); /* non-blocking: a full pipe already wakes the reader */
		(void)ignored;
	}
}

static void free_lines(log_line *l)
{
	while (l) {
		log_line *next = l->next;
		free(l);
		l = next;
	}
}

/* TaskerCore._log_open(level) → the read end of the pipe (an fd number); installs the core's handler
 * for lines at `level` (0 debug .. 3 error) and above. */
static VALUE m_log_open(VALUE mod, VALUE level)
{
	(void)mod;
	int lv = NUM2INT(level);
	if (lv < TASKER_LOG_DEBUG || lv > TASKER_LOG_ERROR)
		rb_raise(rb_eArgError, "log level must be 0 (debug) to 3 (error), got %d", lv);
	pthread_mutex_lock(&log_mu);
	int fd = log_pipe[0];
	if (fd < 0 && pipe(log_pipe) == 0) {
		fcntl(log_pipe[1], F_SETFL, fcntl(log_pipe[1], F_GETFL) | O_NONBLOCK);
		fcntl(log_pipe[0], F_SETFD, FD_CLOEXEC);
		fcntl(log_pipe[1], F_SETFD, FD_CLOEXEC);
		fd = log_pipe[0];
	}
	pthread_mutex_unlock(&log_mu);
	if (fd < 0)
		rb_sys_fail("TaskerCore.logger: pipe");
	tasker_log_set_handler((tasker_log_level)lv, on_line, NULL);
	return INT2NUM(fd);
}

/* TaskerCore._log_close: the core logs nothing any more (the pipe stays for the next logger). */
static VALUE m_log_close(VALUE mod)
{
	(void)mod;
	tasker_log_set_handler(TASKER_LOG_OFF, NULL, NULL);
	pthread_mutex_lock(&log_mu);
	log_line *lines = log_head;
	log_head = log_tail = NULL;
	log_count = 0;
	pthread_mutex_unlock(&log_mu);
	free_lines(lines);
	return Qnil;
}

/* TaskerCore._log_drain → [[level, line], ...] queued since the last drain, oldest first, and the
 * number of lines queued in all (to know when everything logged so far was handed over). */
static VALUE m_log_drain(VALUE mod)
{
	(void)mod;
	pthread_mutex_lock(&log_mu);
	log_line *lines = log_head;
	log_head = log_tail = NULL;
	log_count = 0;
	log_signaled = 0;
	unsigned long long queued = log_queued;
	pthread_mutex_unlock(&log_mu);
	VALUE out = rb_ary_new();
	for (log_line *l = lines; l; l = l->next)
		rb_ary_push(out, rb_assoc_new(INT2NUM(l->level), tc_str(l->text)));
	free_lines(lines);
	return rb_assoc_new(out, ULL2NUM(queued));
}

/* TaskerCore._log_stats → [queued, dropped] since the process started. */
static VALUE m_log_stats(VALUE mod)
{
	(void)mod;
	pthread_mutex_lock(&log_mu);
	VALUE stats = rb_assoc_new(ULL2NUM(log_queued), ULL2NUM(log_dropped));
	pthread_mutex_unlock(&log_mu);
	return stats;
}

void tc_init_log(void)
{
	rb_define_module_function(tc_mTaskerCore, "_log_open", m_log_open, 1);
	rb_define_module_function(tc_mTaskerCore, "_log_close", m_log_close, 0);
	rb_define_module_function(tc_mTaskerCore, "_log_drain", m_log_drain, 0);
	rb_define_module_function(tc_mTaskerCore, "_log_stats", m_log_stats, 0);
}
