'use strict';
// The Node runner of the conformance suite (tests/conformance/README.md): every case file is one workflow
// run, executed here with JavaScript handler subclasses on a fresh database, then checked against its
// expectations. One test per case; each prints "conformance node CASE ok|FAIL".
//   TASKER_CONFORMANCE_CASE=substring   runs only the matching cases
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const tasker = require('tasker-core');
const { CONFORMANCE, createDatabase, psql, readJson } = require('./helpers');

const { StepHandler, RetryableError, PermanentError, Client, Worker } = tasker;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Does what the case's behaviours say, decided by the step's name.
class ConformanceHandler extends StepHandler {
  async process(task, sequence, step) {
    const kase = this.constructor.kase;
    const b = kase.behaviour(step.name);
    this.run = kase.countRun(step.name);
    if (b.sleep_ms) await sleep(b.sleep_ms);
    if (b.cancel_task) await kase.client.cancelTask(task.taskId);
    const message = `${step.name} failed (run ${this.run})`;
    if (b.permanent) throw new PermanentError(message, { errorCode: b.error_code });
    if (b.fail_times && this.run <= b.fail_times) throw new RetryableError(message, { retryAfter: b.retry_after });
    if ('assign' in b) step.results = b.assign;
    this.raiseIf(b, 'process', step);
    return this.output(b, task, sequence, step);
  }

  async processResults(step, output, initial) {
    const b = this.constructor.kase.behaviour(step.name);
    this.raiseIf(b, 'process_results', step);
    if (b.process_results === 'wrap') {
      step.results = { output, initial };
      return undefined;
    }
    if (b.process_results === 'return_only') return { returned_by_process_results: true };
    return super.processResults(step, output, initial);
  }

  raiseIf(b, where, step) {
    const r = b.raise;
    if (!r || (b.raise_in || 'process') !== where || (r.times != null && this.run > r.times)) return;
    const message = r.message || `${step.name} failed (run ${this.run})`;
    if (r.error === 'retryable') throw new RetryableError(message, { retryAfter: r.retry_after, context: r.context });
    if (r.error === 'permanent') throw new PermanentError(message, { errorCode: r.error_code, context: r.context });
    throw new Error(message);
  }

  output(b, task, sequence, step) {
    if (b.return_invalid) return { value: b.return_invalid === 'number' ? NaN : function opaque() {} };
    if (b.report) return this.report(b, task, sequence, step);
    if (b.echo_context) return task.context;
    if (b.copy_from) return sequence.findStepByName(b.copy_from)?.results ?? null;
    if (b.add != null) return { value: sum(b.add, (b.from || []).map((n) => sequence.findStepByName(n)?.results?.value)) };
    if ('result' in b) return b.result === null ? undefined : b.result;
    return { step: step.name };
  }

  report(b, task, sequence, step) {
    const kase = this.constructor.kase;
    return {
      task: { task_id_matches: task.taskId === kase.taskId, name: task.name, namespace: task.namespaceName,
              version: task.version, context: task.context, tags: task.tags, initiator: task.initiator,
              source_system: task.sourceSystem, reason: task.reason },
      step: { id_matches: sequence.findStepByName(step.name).workflowStepId === step.workflowStepId,
              name: step.name, attempts: step.attempts, retry_limit: step.retryLimit,
              handler_config: step.handlerConfig, inputs: step.inputs },
      sequence: sequence.steps.map((s) => ({ name: s.name, state: s.state, attempts: s.attempts })),
      dependencies: Object.fromEntries((b.from || []).map((n) => [n, sequence.findStepByName(n)?.results ?? null])),
      missing: sequence.findStepByName('no_such_step'),
    };
  }
}

// add + the values (a missing or non-numeric one counts 0), exact for integers of any size.
function sum(add, values) {
  let total = BigInt(add);
  for (const v of values) if (typeof v === 'bigint' || Number.isInteger(v)) total += BigInt(v);
  return total >= -9007199254740991n && total <= 9007199254740991n ? Number(total) : total;
}

class Case {
  constructor(file) {
    this.file = file;
    this.name = path.basename(file, '.json');
    this.doc = readJson(file);
    this.runs = new Map();
  }

  behaviour(name) {
    const all = this.doc.behaviours || {};
    return all[name] || all['*'] || {};
  }

  countRun(name) {
    const n = (this.runs.get(name) || 0) + 1;
    this.runs.set(name, n);
    return n;
  }

  async run() {
    this.url = createDatabase(`conf_${this.name}`);
    this.client = new Client({ databaseUrl: this.url, config: path.join(CONFORMANCE, 'config.yml') });
    try {
      await this.client.migrate();
      this.info = await this.client.registerTemplate(path.resolve(path.dirname(this.file), this.doc.template));
      const started = performance.now();
      this.taskId = await this.createTask();
      for (const action of this.doc.actions || [{ run: true }]) await this.act(action);
      this.elapsedMs = performance.now() - started;
    } finally {
      await this.client.close();
    }
    const reader = new Client({ databaseUrl: this.url });
    try {
      this.view = await reader.task(this.taskId);
    } finally {
      await reader.close();
    }
  }

  request() {
    const r = this.doc.request || {};
    return { name: this.info.name, namespace: this.info.namespace, version: this.info.version, context: r.context,
             tags: r.tags, bypassSteps: r.bypass_steps, initiator: r.initiator, sourceSystem: r.source_system,
             reason: r.reason, requestedAt: r.requested_at, identity: r.identity_strategy === 'hash' ? 'hash' : 'unique' };
  }

  async createTask() {
    const n = (this.doc.request || {}).duplicates;
    if (!n) return this.client.createTask(this.request());
    // The same request from n connections at once: one creates the task, the others find it.
    const clients = Array.from({ length: n }, () => new Client({ databaseUrl: this.url, poolSize: 1 }));
    await Promise.all(clients.map((c) => c.connect()));
    const results = await Promise.all(clients.map((c) => c.findOrCreateTask(this.request())));
    await Promise.all(clients.map((c) => c.close()));
    this.duplicates = results;
    return results[0].taskId;
  }

  async act(action) {
    if (action.run) return this.runWorker();
    if (action.resolve) {
      const step = (await this.client.task(this.taskId)).steps.find((s) => s.name === action.resolve);
      assert.ok(step, `no step ${action.resolve}`);
      return this.client.resolveStep(step.workflowStepId, action.results);
    }
    if (action.retry_task) return this.client.retryTask(this.taskId);
    if (action.cancel_task) return this.client.cancelTask(this.taskId);
    if (action.expect_task_state) {
      return assert.equal(await this.client.taskState(this.taskId), action.expect_task_state, 'task state during the run');
    }
    throw new Error(`unknown action ${JSON.stringify(action)}`);
  }

  async runWorker() {
    const kase = this;
    const handlers = {};
    for (const name of this.info.handlerClasses) {
      handlers[name] = class extends ConformanceHandler {
        static kase = kase;
      };
    }
    await new Worker({ client: this.client, handlers, concurrency: 4, handleSignals: false }).runUntilIdle();
  }
}

// jsonb containment (@>): an object contains the members given, an array the elements given, recursively.
function contains(got, want) {
  if (Array.isArray(want)) return Array.isArray(got) && want.every((w) => got.some((g) => contains(g, w)));
  if (want && typeof want === 'object') {
    return got && typeof got === 'object' && !Array.isArray(got) && Object.keys(want).every((k) => k in got && contains(got[k], want[k]));
  }
  return sameValue(got, want);
}

function sameValue(a, b) {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

// "*": present and not empty; null: absent; anything else: equal.
function expectMembers(where, want, got) {
  for (const [k, v] of Object.entries(want)) {
    if (v === '*') {
      const g = got[k];
      assert.ok(g != null && !(typeof g === 'string' && g === '') && !(Array.isArray(g) && g.length === 0) &&
                !(typeof g === 'object' && Object.keys(g).length === 0 && !Array.isArray(g)), `${where}: ${k} missing in ${tasker.stringifyJson(got)}`);
    } else if (v === null) {
      assert.ok(!(k in got), `${where}: ${k} must be absent: ${tasker.stringifyJson(got)}`);
    } else {
      assert.deepStrictEqual(got[k], v, `${where}: ${k}`);
    }
  }
}

function transitions(kase, step, state) {
  const out = psql(kase.url, `SELECT metadata::text FROM tasker_workflow_step_transitions WHERE workflow_step_id = ${step.workflowStepId} AND to_state = :'state' ORDER BY sort_key`, { state });
  return out === '' ? [] : out.split('\n').map((l) => tasker.parseJson(l));
}

function count(kase, sql) {
  return Number(psql(kase.url, sql));
}

function checkStep(kase, step, e) {
  const where = `${kase.name}: step ${step.name}`;
  if (e.state) assert.equal(step.state, e.state, `${where}: state`);
  if (e.attempts != null) assert.equal(step.attempts, e.attempts, `${where}: attempts`);
  if ('processed' in e) assert.equal(step.processed, e.processed, `${where}: processed`);
  if ('retryable' in e) assert.equal(step.retryable, e.retryable, `${where}: retryable`);
  if ('results' in e) assert.deepStrictEqual(step.results, e.results, `${where}: results`);
  if ('results_include' in e) {
    assert.ok(contains(step.results, e.results_include), `${where}: results lack ${tasker.stringifyJson(e.results_include)}: ${tasker.stringifyJson(step.results)}`);
  }
  if (e.results_keys) assert.deepStrictEqual(Object.keys(step.results || {}).sort(), [...e.results_keys].sort(), `${where}: results keys`);
  if (e.error) expectMembers(`${where}: error_details`, e.error, (step.results && step.results.error_details) || {});
  for (const [state, list] of Object.entries(e.transitions || {})) {
    const got = transitions(kase, step, state);
    assert.equal(got.length, list.length, `${where}: transitions to ${state}`);
    list.forEach((want, i) => expectMembers(`${where}: transition ${i + 1} to ${state}`, want, got[i]));
  }
}

function check(kase) {
  const expect = kase.doc.expect || {};
  const view = kase.view;
  const byName = (n) => view.steps.find((s) => s.name === n);
  if (expect.task_state) assert.equal(view.state, expect.task_state, `${kase.name}: task state`);
  const steps = expect.steps || {};
  for (const n of Object.keys(steps)) if (n !== '*') assert.ok(byName(n), `${kase.name}: no step named ${n}`);
  for (const s of view.steps) {
    const e = steps[s.name] || steps['*'];
    if (e) checkStep(kase, s, e);
  }
  for (const [a, b] of expect.order || []) {
    const sa = byName(a);
    const sb = byName(b);
    assert.ok(sa && sb, `${kase.name}: order names unknown steps ${a}, ${b}`);
    const ok = count(kase, `SELECT count(*) FROM (SELECT
        (SELECT max(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = ${sa.workflowStepId}
           AND to_state IN ('complete', 'resolved_manually')) AS done,
        (SELECT min(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = ${sb.workflowStepId}
           AND to_state = 'in_progress') AS started) x WHERE done < started`);
    assert.equal(ok, 1, `${kase.name}: expected ${a} to finish before ${b} started`);
  }
  for (const [n, times] of Object.entries(expect.handler_runs || {})) {
    assert.ok(byName(n), `${kase.name}: no step named ${n}`);
    assert.equal(kase.runs.get(n) || 0, times, `${kase.name}: handler runs of ${n}`);
  }
  if (expect.min_elapsed_ms) assert.ok(kase.elapsedMs >= expect.min_elapsed_ms, `${kase.name}: finished too early`);
  if (expect.duplicates) {
    assert.equal(kase.duplicates.filter((r) => r.created).length, 1, `${kase.name}: created once`);
    assert.equal(new Set(kase.duplicates.map((r) => String(r.taskId))).size, 1, `${kase.name}: one task`);
  }
  // Whatever the outcome, nothing may be left claimed; a finished task leaves nothing queued.
  assert.equal(count(kase, 'SELECT count(*) FROM tasker_step_claims'), 0, `${kase.name}: claims left`);
  if (['complete', 'cancelled'].includes(view.state)) {
    assert.equal(count(kase, 'SELECT count(*) FROM tasker_ready_steps'), 0, `${kase.name}: queued steps left`);
  }
}

const only = process.env.TASKER_CONFORMANCE_CASE;
const files = fs.readdirSync(path.join(CONFORMANCE, 'cases')).filter((f) => f.endsWith('.json')).sort()
  .map((f) => path.join(CONFORMANCE, 'cases', f))
  .filter((f) => !only || path.basename(f).includes(only));

test('the conformance cases exist', () => {
  assert.ok(files.length > 0, `no conformance cases in ${CONFORMANCE}/cases`);
});

for (const file of files) {
  const kase = new Case(file);
  test(kase.name, async () => {
    try {
      await kase.run();
      check(kase);
      console.log(`conformance node ${kase.name} ok`);
    } catch (err) {
      console.log(`conformance node ${kase.name} FAIL`);
      throw err;
    }
  });
}
