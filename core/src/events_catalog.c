/*
 * events_catalog.c — the lifecycle event catalog: every production event name of the Rails engine
 * (reference/rails-tasker.md §9: 65 names in six groups), with its group, the level its log line uses,
 * its payload keys and whether tasker-core fires it. Pure data and lookups; publishes nothing.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "events.h"

#define TASK_KEYS "task_id, task_name, namespace, version, correlation_id, traceparent (when given)"
#define STEP_KEYS "task_id, step_id, step_name, task_name, namespace, version, correlation_id"
#define TRANS " from_state, to_state, and the transition's metadata (attempt, reason, error_class, error_message, " \
              "will_retry, backoff_seconds...)"

#define D TASKER_LOG_DEBUG
#define I TASKER_LOG_INFO
#define W TASKER_LOG_WARN
#define E TASKER_LOG_ERROR

static const tasker_event_info catalog[] = {
	/* task: one per transition of the task state machine (§4), plus the creation of a task. */
	{"task.initialize_requested", "task", "a task moved in_progress → pending", TASK_KEYS "," TRANS, 1, I},
	{"task.start_requested", "task",
	 "a task was requested (created; with step_count, initiator, source_system, reason), and again when it "
	 "moves pending → in_progress (its first step claimed)",
	 TASK_KEYS ", step_count, initiator, source_system, reason | " TRANS, 1, I},
	{"task.completed", "task", "a task moved to complete (every step complete or resolved)", TASK_KEYS "," TRANS, 1, I},
	{"task.failed", "task", "a task moved to error (a step failed for good)", TASK_KEYS "," TRANS, 1, E},
	{"task.retry_requested", "task", "a task in error was retried (error → pending)", TASK_KEYS "," TRANS, 1, I},
	{"task.cancelled", "task", "a task was cancelled", TASK_KEYS "," TRANS, 1, I},
	{"task.resolved_manually", "task", "a task in error was resolved by hand", TASK_KEYS "," TRANS, 1, I},
	{"task.before_transition", "task", "a task transition is about to be recorded (just before its event)",
	 TASK_KEYS ", from_state, to_state", 1, D},
	/* step */
	{"step.initialize_requested", "step",
	 "kept for Rails subscribers: steps are created pending without a transition, so it is not fired", STEP_KEYS, 0,
	 D},
	{"step.execution_requested", "step", "a step was claimed by a worker (pending → in_progress)",
	 STEP_KEYS "," TRANS, 1, D},
	{"step.before_handle", "step", "a worker is about to run the step's handler",
	 STEP_KEYS ", handler_class, attempt, worker_id", 1, D},
	{"step.handle", "step", "the step's handler returned (before its result is recorded)",
	 STEP_KEYS ", handler_class, attempt, worker_id, outcome (success, retryable, permanent), duration_ms, "
	           "error_class, error_message, error_code (on failure)",
	 1, D},
	{"step.completed", "step", "a step's result was recorded (in_progress → complete)", STEP_KEYS "," TRANS, 1, D},
	{"step.failed", "step", "a step's failure was recorded (→ error)", STEP_KEYS "," TRANS, 1, W},
	{"step.retry_requested", "step", "a failed step is retried (error → pending)", STEP_KEYS "," TRANS, 1, I},
	{"step.cancelled", "step", "a step was cancelled with its task", STEP_KEYS "," TRANS, 1, I},
	{"step.resolved_manually", "step", "a step was resolved by hand, or bypassed (bypassed: true)",
	 STEP_KEYS "," TRANS, 1, I},
	{"step.before_transition", "step", "a step transition is about to be recorded (just before its event)",
	 STEP_KEYS ", from_state, to_state", 1, D},
	/* workflow */
	{"workflow.task_started", "workflow", "a task's execution started (its first step claimed)", TASK_KEYS, 1, D},
	{"workflow.task_completed", "workflow", "finalization completed the task", TASK_KEYS ", final_state", 1, I},
	{"workflow.task_failed", "workflow", "finalization failed the task (a step failed for good)",
	 TASK_KEYS ", final_state, reason, step_name", 1, E},
	{"workflow.step_completed", "workflow", "kept for Rails subscribers: step.completed carries it", STEP_KEYS, 0, D},
	{"workflow.step_failed", "workflow", "kept for Rails subscribers: step.failed carries it", STEP_KEYS, 0, D},
	{"workflow.viable_steps_discovered", "workflow", "steps of a task became claimable",
	 TASK_KEYS ", step_ids, step_count", 1, D},
	{"workflow.no_viable_steps", "workflow", "kept for Rails subscribers (the Rails coordinator's idle pass)",
	 TASK_KEYS, 0, D},
	{"workflow.orchestration_requested", "workflow", "kept for Rails subscribers (the Rails task job)", TASK_KEYS, 0,
	 D},
	{"workflow.task_finalization_started", "workflow", "a task is being finalized (complete or error)", TASK_KEYS,
	 1, D},
	{"workflow.task_finalization_completed", "workflow", "a task's finalization was recorded",
	 TASK_KEYS ", final_state", 1, D},
	{"workflow.task_reenqueue_started", "workflow", "kept for Rails subscribers (the Rails re-enqueuer)", TASK_KEYS, 0,
	 D},
	{"workflow.task_reenqueue_requested", "workflow", "kept for Rails subscribers (the Rails re-enqueuer)", TASK_KEYS,
	 0, D},
	{"workflow.task_reenqueue_failed", "workflow", "kept for Rails subscribers (the Rails re-enqueuer)", TASK_KEYS, 0,
	 D},
	{"workflow.task_reenqueue_delayed", "workflow", "kept for Rails subscribers (the Rails re-enqueuer)", TASK_KEYS, 0,
	 D},
	{"workflow.task_state_unclear", "workflow", "kept for Rails subscribers (the Rails finalizer)", TASK_KEYS, 0, D},
	{"workflow.step_execution_failed", "workflow", "kept for Rails subscribers (the Rails step executor)", STEP_KEYS,
	 0, D},
	{"workflow.viable_steps_batch_ready", "workflow", "kept for Rails subscribers (the Rails step executor)",
	 TASK_KEYS, 0, D},
	{"workflow.steps_execution_started", "workflow", "kept for Rails subscribers (the Rails step executor)",
	 TASK_KEYS, 0, D},
	{"workflow.steps_execution_completed", "workflow", "kept for Rails subscribers (the Rails step executor)",
	 TASK_KEYS, 0, D},
	/* observability */
	{"observability.task.handle", "observability", "kept for Rails subscribers (a Rails task job span)", TASK_KEYS,
	 0, D},
	{"observability.task.enqueue", "observability", "kept for Rails subscribers (a Rails task job span)", TASK_KEYS,
	 0, D},
	{"observability.task.finalize", "observability", "kept for Rails subscribers (a Rails finalizer span)",
	 TASK_KEYS, 0, D},
	{"observability.step.handle", "observability", "kept for Rails subscribers: step.handle carries the timing",
	 STEP_KEYS, 0, D},
	{"observability.step.find_viable", "observability",
	 "kept for Rails subscribers: readiness is decided incrementally, see workflow.viable_steps_discovered",
	 TASK_KEYS, 0, D},
	{"observability.step.backoff", "observability", "a failed step waits before its next attempt",
	 STEP_KEYS ", attempt, backoff_seconds, retry_at", 1, W},
	{"observability.step.skip", "observability", "a step was bypassed (bypass_steps of the request)", STEP_KEYS, 1,
	 I},
	{"observability.step.max_retries_reached", "observability", "a step failed its last allowed attempt",
	 STEP_KEYS ", attempt, retry_limit", 1, E},
	/* registry */
	{"handler.registered", "registry", "kept for Rails subscribers", "handler_class", 0, D},
	{"handler.unregistered", "registry", "kept for Rails subscribers", "handler_class", 0, D},
	{"handler.validation_failed", "registry", "kept for Rails subscribers", "handler_class, error", 0, D},
	{"plugin.registered", "registry", "kept for Rails subscribers", "plugin", 0, D},
	{"plugin.unregistered", "registry", "kept for Rails subscribers", "plugin", 0, D},
	{"plugin.validation_failed", "registry", "kept for Rails subscribers", "plugin, error", 0, D},
	{"subscriber.registered", "registry", "an event subscription was added on a client",
	 "subscription_id, pattern, delivery", 1, D},
	{"subscriber.unregistered", "registry", "an event subscription was removed", "subscription_id, pattern", 1, D},
	{"subscriber.validation_failed", "registry", "a subscription was refused (bad pattern or options)",
	 "pattern, error", 1, W},
	{"registry.sync_requested", "registry", "kept for Rails subscribers", "", 0, D},
	{"registry.health_check", "registry", "kept for Rails subscribers", "", 0, D},
	{"registry.stats_collected", "registry", "kept for Rails subscribers", "", 0, D},
	{"registry.cross_discovery", "registry", "kept for Rails subscribers", "", 0, D},
	{"registry.coordination_complete", "registry", "kept for Rails subscribers", "", 0, D},
	/* telemetry export */
	{"tasker.telemetry.cache_synced", "telemetry", "kept for Rails subscribers", "", 0, D},
	{"tasker.telemetry.export_requested", "telemetry", "kept for Rails subscribers", "", 0, D},
	{"tasker.telemetry.export_completed", "telemetry", "kept for Rails subscribers", "", 0, D},
	{"tasker.telemetry.export_failed", "telemetry", "kept for Rails subscribers", "", 0, D},
	{"tasker.telemetry.plugin_registered", "telemetry", "kept for Rails subscribers", "", 0, D},
	{"tasker.telemetry.plugin_unregistered", "telemetry", "kept for Rails subscribers", "", 0, D},
};

#define NCATALOG (sizeof catalog / sizeof catalog[0])

size_t tasker_event_catalog(const tasker_event_info **out)
{
	if (out)
		*out = catalog;
	return NCATALOG;
}

/* An open-addressing hash of the names, built once: a lookup runs on every publish. */
#define NSLOTS 256
static const tasker_event_info *slots[NSLOTS];
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

static size_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % NSLOTS;
}

static void build_slots(void)
{
	for (size_t i = 0; i < NCATALOG; i++) {
		size_t k = hash(catalog[i].name);
		while (slots[k])
			k = (k + 1) % NSLOTS;
		slots[k] = &catalog[i];
	}
}

const tasker_event_info *tasker_event_lookup(const char *name)
{
	if (!name)
		return NULL;
	pthread_once(&slots_once, build_slots);
	for (size_t k = hash(name);; k = (k + 1) % NSLOTS) {
		const tasker_event_info *e = slots[k];
		if (!e || strcmp(e->name, name) == 0)
			return e;
	}
}
