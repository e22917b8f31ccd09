'use strict';
// The Node side of the Node-vs-C benchmark: runs TASKS tasks of bench/ruby/noop_template.yaml (100
// independent steps each) with a JavaScript no-op handler on tasker-core's Worker, and prints steps/s in
// the C side's format. Usage: node node_noop.js TEMPLATE TASKS CONCURRENCY  ($TASKER_DATABASE_URL, migrated)
const path = require('node:path');
const { Client, Worker, StepHandler } = require(process.env.TASKER_NODE_PACKAGE || path.join(__dirname, '../../node-addon'));

class Noop extends StepHandler {
  async process() { return { ok: true }; }
}

async function main() {
  const [template, tasksArg, concurrencyArg] = process.argv.slice(2);
  const client = new Client();
  const info = await client.registerTemplate(template);
  for (let i = 0; i < Number(tasksArg); i++) {
    await client.createTask({ name: info.name, namespace: info.namespace, version: info.version, context: { n: 1 } });
  }
  const worker = new Worker({ client, handlers: { 'Bench::Noop': Noop }, concurrency: Number(concurrencyArg), handleSignals: false });
  const t0 = process.hrtime.bigint();
  await worker.runUntilIdle();
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`node: ${worker.processed} steps in ${dt.toFixed(2)} s = ${Math.round(worker.processed / dt)} steps/s`);
  await client.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
