'use strict';
// OpenTelemetry, when the application has @opentelemetry/api installed: each step runs in a span whose
// parent is the trace context its task was created with (the task's traceparent), so a request's trace
// continues into every step, on any worker. Without the package this costs one failed require.
let api;
try {
  api = require('@opentelemetry/api');
} catch {
  api = null;
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function parentContext(traceparent) {
  const m = traceparent && TRACEPARENT.exec(traceparent);
  if (!m) return api.context.active();
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true,
  });
}

/**
 * Runs `fn` (resolving to an outcome) inside a span named after the step's handler when OpenTelemetry is
 * installed; otherwise just runs it.
 */
function run(data, fn) {
  if (!api) return fn();
  const tracer = api.trace.getTracer('tasker-core');
  const { step, task } = data;
  const attributes = {
    'tasker.task_id': String(task.taskId), 'tasker.task_name': task.name, 'tasker.namespace': task.namespaceName,
    'tasker.step_id': String(step.workflowStepId), 'tasker.step_name': step.name,
    'tasker.handler_class': step.handlerClass, 'tasker.attempt': step.attempts + 1,
  };
  return tracer.startActiveSpan(`step ${step.name}`, { kind: api.SpanKind.CONSUMER, attributes },
                                parentContext(data.traceparent), async (span) => {
    try {
      const outcome = await fn();
      if (outcome.outcome !== 0) {
        span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome.message });
        span.setAttribute('tasker.error_class', outcome.errorClass || 'Error');
        span.setAttribute('tasker.permanent', outcome.outcome === 2);
      }
      return outcome;
    } finally {
      span.end();
    }
  });
}

module.exports = { run, enabled: api !== null };
