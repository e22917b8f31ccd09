/*
 * cli_task.c — `tasker template validate|register`, `task create|show|cancel|retry`, `step resolve`,
 * `health`: thin wrappers over the public API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int run_validate(const cli_args *a)
{
	if (a->argc < 1) {
		fprintf(stderr, "usage: tasker template validate FILE\n");
		return 2;
	}
	tasker_template_info info;
	if (tasker_template_validate_file(&info, a->argv[0], cli_option(a, "--environment")))
		return cli_fail("invalid template");
	printf("%s: valid (%s.%s@%s, %zu steps)\n", a->argv[0], info.namespace_name, info.name, info.version,
	       info.step_count);
	return 0;
}

static int run_register(const cli_args *a)
{
	if (a->argc < 1) {
		fprintf(stderr, "usage: tasker template register FILE\n");
		return 2;
	}
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	tasker_template_info info;
	int rc = tasker_template_register_file(&info, c, a->argv[0], cli_option(a, "--environment"));
	tasker_client_free(c);
	if (rc)
		return cli_fail("register");
	printf("%s: registered %s.%s@%s\n", a->argv[0], info.namespace_name, info.name, info.version);
	return 0;
}

/* TEMPLATE is a template file (registered first) or namespace.name@version. */
static int run_create(const cli_args *a)
{
	if (a->argc < 1) {
		fprintf(stderr, "usage: tasker task create TEMPLATE --context JSON [--initiator X] [--reason X]\n");
		return 2;
	}
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	const char *tpl = a->argv[0];
	char ns[65] = "default", name[65] = "", version[17] = "0.1.0";
	int rc = 0;
	if (strchr(tpl, '/') || strstr(tpl, ".yaml") || strstr(tpl, ".yml") || strstr(tpl, ".json")) {
		tasker_template_info info;
		rc = tasker_template_register_file(&info, c, tpl, cli_option(a, "--environment"));
		if (!rc) {
			snprintf(ns, sizeof ns, "%s", info.namespace_name);
			snprintf(name, sizeof name, "%s", info.name);
			snprintf(version, sizeof version, "%s", info.version);
		}
	} else if (sscanf(tpl, "%64[^.].%64[^@]@%16s", ns, name, version) < 2) {
		fprintf(stderr, "tasker: TEMPLATE must be a template file or namespace.name@version, got \"%s\"\n", tpl);
		tasker_client_free(c);
		return 2;
	}
	tasker_task_request r = TASKER_TASK_REQUEST_INIT;
	r.name = name;
	r.namespace_name = ns;
	r.template_version = version;
	r.context_json = cli_option(a, "--context");
	if (!r.context_json)
		r.context_json = "{}";
	r.initiator = cli_option(a, "--initiator");
	r.reason = cli_option(a, "--reason");
	r.source_system = "tasker-cli";
	r.tags_json = cli_option(a, "--tags");
	r.bypass_steps_json = cli_option(a, "--bypass");
	r.traceparent = cli_option(a, "--traceparent"); /* W3C trace context, kept with the task */
	if (cli_flag(a, "--idempotent"))
		r.identity_strategy = TASKER_IDENTITY_HASH;
	int64_t id = 0;
	if (!rc)
		rc = tasker_task_create(&id, c, &r);
	tasker_client_free(c);
	if (rc == TASKER_EXISTS) {
		printf("%lld (an identical request already created this task)\n", (long long)id);
		return 0;
	}
	if (rc)
		return cli_fail("task create");
	printf("%lld\n", (long long)id);
	return 0;
}

static int run_show(const cli_args *a)
{
	int64_t id;
	if (cli_parse_id(&id, a, "task"))
		return 2;
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	tasker_task_view *v;
	tasker_task_context ctx;
	tasker_handler_wait *waits = NULL;
	size_t nwaits = 0;
	int rc = tasker_task_get(&v, c, id);
	if (!rc)
		rc = tasker_task_execution_context(&ctx, c, id);
	if (!rc)
		rc = tasker_task_handler_waits(&waits, &nwaits, c, id);
	tasker_client_free(c);
	if (rc)
		return cli_fail("task show");
	if (cli_flag(a, "--mermaid")) {
		char *m = tasker_task_view_mermaid(v);
		printf("%s", m ? m : "");
		tasker_free(m);
		tasker_task_view_free(v);
		tasker_handler_waits_free(waits, nwaits);
		return 0;
	}
	printf("task %lld  %s.%s@%s  %s%s\n", (long long)v->task_id, v->namespace_name, v->name, v->version,
	       tasker_state_name(v->state), v->complete ? " (complete)" : "");
	printf("  requested %s by %s  context %s\n", v->requested_at, v->initiator, v->context_json);
	printf("  %s: %s, %.2f%% done, health %s\n", ctx.execution_status, ctx.recommended_action,
	       ctx.completion_percentage, ctx.health_status);
	for (size_t i = 0; i < nwaits; i++) /* ready, but no running worker has the handler: not failed */
		printf("  step %lld is waiting for a handler: no running worker has %s\n",
		       (long long)waits[i].workflow_step_id, waits[i].handler_class);
	printf("  %-8s %-28s %-21s %-9s %s\n", "step", "name", "state", "attempts", "results");
	for (size_t i = 0; i < v->step_count; i++) {
		const tasker_step_view *s = &v->steps[i];
		int waiting = 0;
		for (size_t k = 0; k < nwaits; k++)
			waiting |= waits[k].workflow_step_id == s->workflow_step_id;
		printf("  %-8lld %-28s %-21s %d/%-7d %s\n", (long long)s->workflow_step_id, s->name,
		       waiting ? "waiting for a handler" : tasker_state_name(s->state), s->attempts, s->retry_limit,
		       s->results_json);
	}
	tasker_task_view_free(v);
	tasker_handler_waits_free(waits, nwaits);
	return 0;
}

static int simple_op(const cli_args *a, const char *what, int (*op)(tasker_client *, int64_t), const char *done)
{
	int64_t id;
	if (cli_parse_id(&id, a, what))
		return 2;
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	int rc = op(c, id);
	tasker_client_free(c);
	if (rc)
		return cli_fail(done);
	printf("%s %lld: %s\n", what, (long long)id, done);
	return 0;
}

static int run_cancel(const cli_args *a) { return simple_op(a, "task", tasker_task_cancel, "cancelled"); }
static int run_retry(const cli_args *a) { return simple_op(a, "task", tasker_task_retry, "retry requested"); }

static int run_resolve(const cli_args *a)
{
	int64_t id;
	if (cli_parse_id(&id, a, "step"))
		return 2;
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	int rc = tasker_step_resolve(c, id, cli_option(a, "--results"));
	tasker_client_free(c);
	if (rc)
		return cli_fail("step resolve");
	printf("step %lld: resolved manually\n", (long long)id);
	return 0;
}

static int run_health(const cli_args *a)
{
	tasker_client *c;
	if (cli_open(&c, a))
		return 1;
	char *json = NULL;
	int rc = tasker_health_counts(&json, c);
	tasker_client_free(c);
	if (rc)
		return cli_fail("health");
	printf("%s\n", json);
	tasker_free(json);
	return 0;
}

const cli_command cli_cmd_template_validate = {
	"template validate", 2, "template validate FILE [--environment ENV]", "check a task template without a database",
	"Reads a template (.yaml, .yml or .json, the Rails engine's format) and checks all of it as registering\n"
	"would, without a database; prints its identity and step count, or the first problem with its line.\n"
	"  --environment ENV   apply the template's `environments: ENV:` override (default $TASKER_ENV, $RAILS_ENV)\n",
	run_validate};
const cli_command cli_cmd_template_register = {
	"template register", 2, "template register FILE [--environment ENV]", "register a task template in the database",
	"Validates a template as `template validate` does and registers it (namespace, named task, named steps)\n"
	"in one transaction, so every process sharing the database can create its tasks.\n"
	"  --environment ENV   as for `template validate`\n",
	run_register};
const cli_command cli_cmd_task_create = {
	"task create", 2, "task create TEMPLATE --context JSON", "create a task (TEMPLATE: file or ns.name@version)",
	"Creates a task and its steps; prints the task id. TEMPLATE is a template file (registered first) or\n"
	"namespace.name@version of a registered one.\n"
	"  --context JSON       the task's context, a JSON object (default {}); checked against the template's schema\n"
	"  --initiator X, --reason X   stored with the task\n"
	"  --tags JSON          a JSON array of tags\n"
	"  --bypass JSON        a JSON array of skippable step names that must not run\n"
	"  --idempotent         an identical request returns the task it created before\n"
	"  --traceparent TP     the caller's W3C trace context (its trace-id becomes the correlation id)\n"
	"  --environment ENV    as for `template validate`, when TEMPLATE is a file\n",
	run_create};
const cli_command cli_cmd_task_show = {
	"task show", 2, "task show ID [--mermaid]", "show a task's steps, states, attempts and results",
	"Prints a task's state and each step's state, attempts and results.\n"
	"  --mermaid   print the step graph as a Mermaid flowchart instead\n",
	run_show};
const cli_command cli_cmd_task_cancel = {
	"task cancel", 2, "task cancel ID", "cancel a task",
	"Cancels a task: its unfinished steps are cancelled (a running step's late result is discarded).\n", run_cancel};
const cli_command cli_cmd_task_retry = {
	"task retry", 2, "task retry ID", "retry a task in error",
	"Retries a task in error: its failed steps get a fresh set of attempts and become claimable.\n", run_retry};
const cli_command cli_cmd_step_resolve = {
	"step resolve", 2, "step resolve ID [--results JSON]", "resolve a step by hand; its dependents proceed",
	"Marks a step resolved_manually, so the steps that depend on it may run.\n"
	"  --results JSON   the results to record for it (default: none)\n",
	run_resolve};
const cli_command cli_cmd_health = {
	"health", 1, "health", "system health counts (JSON), with steps_waiting_for_handler",
	"Prints the counts of tasks and steps by state across the whole database as one JSON object\n"
	"(get_system_health_counts_v01), and steps_waiting_for_handler: ready steps that no running worker\n"
	"has a handler for.\n",
	run_health};
