'use strict';
// The Node worker process of the polyglot test (ci/test-polyglot.sh): runs the diamond's Node step until
// SIGTERM, with OpenTelemetry on (the SDK's in-memory exporter).
//   Polyglot::Node::Branch  fails its first attempt (retryable), then {value: start's value × 7}
// Every handler run appends "start TASK STEP ATTEMPT PID" and "done TASK STEP ATTEMPT PID OUTCOME" to
// RUNS_DIR/node.PID.log (one write each, O_APPEND), as every language's worker does, and every span the
// exporter holds "span TASK STEP ATTEMPT PID TRACE_ID".
//   node node_worker.js RUNS_DIR [SLEEP_MS]   (tasker-core and the OpenTelemetry packages from NODE_PATH)
const fs = require('node:fs');
const path = require('node:path');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { Client, Worker, StepHandler, RetryableError } = require('tasker-core');

const runs = fs.openSync(path.join(process.argv[2], `node.${process.pid}.log`), 'a');
const sleepMs = Number(process.argv[3] || 0);
const exporter = new InMemorySpanExporter();
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

function record(...words) {
  fs.writeSync(runs, `${words.join(' ')}\n`);
}

function exportSpans() {
  for (const span of exporter.getFinishedSpans()) {
    const a = span.attributes;
    record('span', a['tasker.task_id'], a['tasker.step_name'], a['tasker.attempt'] - 1, process.pid,
           span.spanContext().traceId);
  }
  exporter.reset();
}

class Branch extends StepHandler {
  async process(task, sequence, step) {
    const run = [task.taskId, step.name, step.attempts, process.pid];
    record('start', ...run);
    try {
      await new Promise((resolve) => setTimeout(resolve, sleepMs));
      if (step.attempts === 0) throw new RetryableError(`planned failure of ${step.name}`);
      const value = sequence.findStepByName('start').results.value * 7;
      record('done', ...run, 'ok');
      return { value };
    } catch (error) {
      record('done', ...run, 'failed');
      throw error;
    }
  }
}

const client = new Client();
const worker = new Worker({ client, handlers: { 'Polyglot::Node::Branch': Branch }, concurrency: 2 });
const exporting = setInterval(exportSpans, 50);
worker.run().then(async () => {
  clearInterval(exporting);
  exportSpans();
  await client.close();
}, (error) => {
  console.error(error);
  process.exit(1);
});
