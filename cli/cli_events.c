/*
 * cli_events.c — `tasker events list|watch`, `tasker task events ID`, `tasker metrics`, and the CLI's
 * observability settings: structured logs to stderr (TASKER_LOG_LEVEL, default info) and event
 * persistence (TASKER_EVENTS_PERSIST=1). Thin wrappers over the public API.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"

static int truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

void cli_events_setup(void)
{
	const char *v = getenv("TASKER_LOG_LEVEL");
	tasker_log_level level = TASKER_LOG_INFO;
	if (v && *v && tasker_log_level_parse(&level, v) != TASKER_OK) {
		fprintf(stderr, "tasker: TASKER_LOG_LEVEL: %s; using info\n", tasker_error_last()->message);
		level = TASKER_LOG_INFO;
	}
	tasker_log_set_handler(level, tasker_log_stderr, NULL);
}

void cli_events_client(tasker_client *c)
{
	if (truthy(getenv("TASKER_EVENTS_PERSIST")) && tasker_event_set_persist(c, 1) != TASKER_OK)
		fprintf(stderr, "tasker: TASKER_EVENTS_PERSIST: %s; events are not persisted\n", tasker_error_last()->message);
}

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

static int run_list(const cli_args *a)
{
	const tasker_event_info *cat;
	size_t n = tasker_event_catalog(&cat), fired = 0;
	int json = cli_flag(a, "--json");
	if (!json)
		printf("%-14s %-42s %-5s %-5s %s\n", "GROUP", "NAME", "FIRED", "LEVEL", "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		const tasker_event_info *e = &cat[i];
		fired += e->fired != 0;
		if (json)
			printf("{\"name\":\"%s\",\"group\":\"%s\",\"fired\":%s,\"level\":\"%s\"}\n", e->name, e->group,
			       e->fired ? "true" : "false", level_names[e->level]);
		else
			printf("%-14s %-42s %-5s %-5s %s\n", e->group, e->name, e->fired ? "yes" : "-", level_names[e->level],
			       e->description);
	}
	if (!json)
		printf("%zu events, %zu fired by tasker-core; payload keys: tasker events list --keys\n", n, fired);
	if (cli_flag(a, "--keys"))
		for (size_t i = 0; i < n; i++)
			printf("%-42s %s, timestamp\n", cat[i].name, cat[i].payload_keys[0] ? cat[i].payload_keys : "(none)");
	return 0;
}

/* `tasker events watch` state. */
typedef struct {
	const char *pattern;
	const char *until;
	long limit;
	long printed;
	int done;
} watch_state;

static volatile sig_atomic_t watch_stop;

static void on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
}

static void print_event(const tasker_event *e)
{
	printf("{\"id\":%lld,\"name\":\"%s\",\"task_id\":%lld,\"step_id\":%lld,\"payload\":%s}\n", (long long)e->id,
	       e->name, (long long)e->task_id, (long long)e->workflow_step_id, e->payload_json);
}

static int on_watched(const tasker_event *e, void *payload)
{
	watch_state *s = payload;
	if (s->done)
		return 1; /* leave the rest for a later run (at-least-once resume) */
	/* the watcher reads every event, so that --until also sees names outside PATTERN */
	if (tasker_event_name_matches(s->pattern, e->name)) {
		print_event(e);
		fflush(stdout);
		s->printed++;
	}
	if ((s->until && strcmp(e->name, s->until) == 0) || (s->limit > 0 && s->printed >= s->limit))
		s->done = 1;
	return 0;
}

static int run_watch(const cli_args *a)
{
	long long count, task_id, after_id, timeout_s;
	if (cli_option_number(&count, a, "--count", 0, LONG_MAX, 0) ||
	    cli_option_number(&task_id, a, "--task", 0, LLONG_MAX, 0) ||
	    cli_option_number(&after_id, a, "--after", 0, LLONG_MAX, TASKER_EVENTS_FROM_NOW) ||
	    cli_option_number(&timeout_s, a, "--timeout", 0, INT_MAX, 0))
		return 2;
	watch_state s = {"*", cli_option(a, "--until"), (long)count, 0, 0};
	if (a->argc > 0 && a->argv[0][0] != '-')
		s.pattern = a->argv[0];
	tasker_event_watch_options o = TASKER_EVENT_WATCH_OPTIONS_INIT;
	o.task_id = task_id;
	o.after_id = cli_flag(a, "--from-start") ? 0 : after_id;
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	tasker_event_watcher *w = NULL;
	int rc = tasker_event_watcher_open(&w, c, &o);
	tasker_client_free(c);
	if (rc)
		return cli_fail("events watch");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr, "tasker: watching %s%s after event %lld\n", s.pattern, o.task_id ? " of one task" : "",
	        (long long)o.after_id);
	time_t deadline = timeout_s > 0 ? time(NULL) + timeout_s : 0;
	int status = 0;
	while (!s.done && !watch_stop && !rc) {
		if (deadline && time(NULL) >= deadline) {
			status = 3;
			break;
		}
		rc = tasker_event_watcher_poll(NULL, w, 500, on_watched, &s);
	}
	long long last = (long long)tasker_event_watcher_last_id(w);
	tasker_event_watcher_free(w);
	if (rc)
		return cli_fail("events watch");
	fprintf(stderr, "tasker: %ld event%s; resume with --after %lld%s\n", s.printed, s.printed == 1 ? "" : "s", last,
	        status == 3 ? " (timed out)" : "");
	return status;
}

typedef struct {
	int json;
	long n;
} replay_state;

static int on_replayed(const tasker_event *e, void *payload)
{
	replay_state *r = payload;
	r->n++;
	if (r->json) {
		print_event(e);
		return 0;
	}
	time_t t = (time_t)(e->timestamp / 1000000);
	struct tm tm;
	char when[32];
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-8lld %s.%06lld  %-40s %s\n", (long long)e->id, when, (long long)(e->timestamp % 1000000), e->name,
	       e->payload_json);
	return 0;
}

static int run_task_events(const cli_args *a)
{
	int64_t id;
	if (cli_parse_id(&id, a, "task"))
		return 2;
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	replay_state r = {cli_flag(a, "--json"), 0};
	int rc = tasker_task_events(c, id, on_replayed, &r);
	tasker_client_free(c);
	if (rc)
		return cli_fail("task events");
	if (!r.json)
		printf("%ld event%s persisted for task %lld%s\n", r.n, r.n == 1 ? "" : "s", (long long)id,
		       r.n ? "" : " (events are persisted when TASKER_EVENTS_PERSIST=1 or tasker_event_set_persist is on)");
	return 0;
}

static int run_metrics(const cli_args *a)
{
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	char *text = NULL;
	int rc = tasker_metrics_snapshot(&text, c, !cli_flag(a, "--no-database"));
	tasker_client_free(c);
	if (rc)
		return cli_fail("metrics");
	fputs(text, stdout);
	tasker_free(text);
	return 0;
}

const cli_command cli_cmd_events_list = {
	"events list", 2, "events list [--json] [--keys]", "the lifecycle event catalog (65 names)",
	"Lists the lifecycle event catalog, grouped, with a description of each event. Needs no database.\n"
	"  --json   one JSON object per event instead\n"
	"  --keys   then list each event's payload keys\n",
	run_list};
const cli_command cli_cmd_events_watch = {
	"events watch", 2,
	"events watch [PATTERN] [--task ID] [--after ID|--from-start] [--until EVENT] [--count N] [--timeout S]",
	"print persisted events as JSON lines as they happen",
	"Prints persisted events (TASKER_EVENTS_PERSIST=1 in the processes that publish them) whose name\n"
	"matches PATTERN (\"*\" matches any run of characters; default \"*\"), one JSON line each, as they are\n"
	"committed. Every event is printed at least once, in order within a task.\n"
	"  --task ID        only this task's events\n"
	"  --after ID       resume after event ID;  --from-start: every stored event (default: from now)\n"
	"  --until EVENT    stop after printing an event of this name\n"
	"  --count N        stop after N events;  --timeout S: stop after S seconds\n",
	run_watch};
const cli_command cli_cmd_task_events = {
	"task events", 2, "task events ID [--json]", "a task's persisted event history, in order",
	"Replays a task's persisted events in the order they happened.\n"
	"  --json   one JSON object per event\n",
	run_task_events};
const cli_command cli_cmd_metrics = {
	"metrics", 1, "metrics [--no-database]", "metrics in the Prometheus text format",
	"Prints this process's metrics and the queue gauges read from the database, in the Prometheus text\n"
	"format.\n"
	"  --no-database   leave out the gauges read from the database\n",
	run_metrics};
