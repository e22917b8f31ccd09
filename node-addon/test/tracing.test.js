'use strict';
// With @opentelemetry/api installed, each step runs in a span whose parent is the task's traceparent
// (checked with the SDK's in-memory exporter); createTask records the active span as the traceparent.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { Client, Worker, StepHandler, PermanentError } = require('tasker-core');
const { CONFORMANCE, createDatabase } = require('./helpers');

const exporter = new InMemorySpanExporter();
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

class Ok extends StepHandler {
  async process(task, sequence, step) {
    if (step.name === 'process_data') throw new PermanentError('refused', { errorCode: 'NO' });
    return { ok: true };
  }
}

test('each step runs in a span whose parent is the task traceparent', async () => {
  const client = new Client({ databaseUrl: createDatabase('tracing'), config: path.join(CONFORMANCE, 'config.yml') });
  try {
    await client.migrate();
    const info = await client.registerTemplate(path.join(CONFORMANCE, '..', 'fixtures', 'templates', 'linear_workflow_task.yaml'));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    const taskId = await client.createTask({ name: info.name, namespace: info.namespace, version: info.version,
                                             context: { dummy: true }, traceparent: `00-${traceId}-${parentId}-01` });
    const handlers = Object.fromEntries(info.handlerClasses.map((c) => [c, Ok]));
    await new Worker({ client, handlers, handleSignals: false }).runUntilIdle();
    const spans = exporter.getFinishedSpans();
    const steps = (await client.task(taskId)).steps.filter((s) => s.attempts > 0);
    assert.ok(steps.length >= 2, 'steps ran');
    assert.equal(spans.length, steps.length);
    for (const span of spans) {
      assert.equal(span.spanContext().traceId, traceId);
      assert.equal(span.parentSpanContext.spanId, parentId);
      assert.equal(span.attributes['tasker.task_id'], String(taskId));
    }
    const failed = spans.find((s) => s.name === 'step process_data');
    assert.equal(failed.status.code, api.SpanStatusCode.ERROR);
    assert.equal(failed.status.message, 'refused');
  } finally {
    await client.close();
  }
});

test('createTask takes the active span as the task traceparent', async () => {
  const client = new Client({ databaseUrl: createDatabase('tracing_create') });
  try {
    await client.migrate();
    const info = await client.registerTemplate(path.join(CONFORMANCE, 'templates', 'handler_numbers.yaml'));
    exporter.reset();
    const tracer = api.trace.getTracer('tests');
    let expected;
    const taskId = await tracer.startActiveSpan('POST /orders', async (span) => {
      expected = span.spanContext();
      try {
        return await client.createTask({ name: info.name, namespace: info.namespace, version: info.version, context: {} });
      } finally {
        span.end();
      }
    });
    const handlers = Object.fromEntries(info.handlerClasses.map((c) => [c, Ok]));
    await new Worker({ client, handlers, handleSignals: false }).runUntilIdle();
    const stepSpans = exporter.getFinishedSpans().filter((s) => s.name.startsWith('step '));
    assert.equal(stepSpans.length, 3);
    for (const s of stepSpans) {
      assert.equal(s.spanContext().traceId, expected.traceId);
      assert.equal(s.parentSpanContext.spanId, expected.spanId);
    }
    assert.ok(taskId);
  } finally {
    await client.close();
  }
});
