'use strict';
// Client against a real PostgreSQL: migrate, templates, tasks, operations, and errors by code.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const tasker = require('tasker-core');
const { CONFORMANCE, createDatabase } = require('./helpers');

const TEMPLATE = path.join(CONFORMANCE, 'templates', 'handler_numbers.yaml');

test('Client', async (t) => {
  const client = new tasker.Client({ databaseUrl: createDatabase('client'), poolSize: 4 });
  t.after(() => client.close());

  await t.test('migrate applies the embedded migrations once', async () => {
    assert.ok((await client.migrate()) > 0);
    assert.equal(await client.migrate(), 0);
  });

  let info;
  await t.test('registerTemplate returns the identity and steps of the template', async () => {
    info = await client.registerTemplate(TEMPLATE);
    assert.equal(info.name, 'handler_numbers');
    assert.equal(info.namespace, 'conformance');
    assert.equal(info.version, '1.0.0');
    assert.deepEqual(info.steps.map((s) => s.name), ['echo', 'copy', 'compute']);
    assert.deepEqual(info.steps[2].dependsOn, ['echo', 'copy']);
    assert.deepEqual(info.handlerClasses, ['Conformance::Numbers']);
  });

  await t.test('a template given as an object registers too', async () => {
    const obj = await client.registerTemplate({
      name: 'inline', namespace_name: 'tests', version: '1.0.0', task_handler_class: 'Inline',
      step_templates: [{ name: 'only', handler_class: 'Inline::Only' }],
    });
    assert.equal(obj.name, 'inline');
  });

  await t.test('createTask keeps big integers exact and task() reads them back', async () => {
    const context = { id: 9007199254740993n, nested: { list: [1, 2.5, 'x', null, true] } };
    const id = await client.createTask({ name: info.name, namespace: info.namespace, version: info.version,
                                         context, tags: ['a', 9007199254740993n], initiator: 'tests' });
    assert.equal(typeof id, 'number');
    const task = await client.task(id);
    assert.equal(task.taskId, id);
    assert.equal(task.state, 'pending');
    assert.deepEqual(task.context, context);
    assert.deepEqual(task.tags, ['a', 9007199254740993n]);
    assert.equal(task.initiator, 'tests');
    assert.deepEqual(task.steps.map((s) => [s.name, s.state, s.attempts]),
                     [['echo', 'pending', 0], ['copy', 'pending', 0], ['compute', 'pending', 0]]);
    assert.equal(await client.taskState(id), 'pending');
    const readiness = await client.readiness(id);
    assert.deepEqual(readiness.map((r) => r.readyForExecution), [true, false, false]);
    assert.match(await client.mermaid(id), /flowchart/);
    assert.equal((await client.health()).total_tasks >= 1, true);
  });

  await t.test('findOrCreateTask with identity hash finds the task it created', async () => {
    const req = { name: info.name, namespace: info.namespace, version: info.version, context: { k: 1 }, identity: 'hash' };
    const first = await client.findOrCreateTask(req);
    const second = await client.findOrCreateTask(req);
    assert.equal(first.created, true);
    assert.equal(second.created, false);
    assert.equal(second.taskId, first.taskId);
  });

  await t.test('cancelTask, resolveStep and their refusals', async () => {
    const id = await client.createTask({ name: info.name, namespace: info.namespace, version: info.version, context: {} });
    const task = await client.task(id);
    await client.resolveStep(task.steps[0].workflowStepId, { by: 'hand' });
    assert.equal((await client.task(id)).steps[0].state, 'resolved_manually');
    assert.deepEqual((await client.task(id)).steps[0].results, { by: 'hand' });
    await client.cancelTask(id);
    assert.equal(await client.taskState(id), 'cancelled');
    await assert.rejects(client.cancelTask(id), (e) => e instanceof tasker.TransitionError && e.code === 'TASKER_ETRANSITION');
    await assert.rejects(client.retryTask(id), tasker.TaskerError);
  });

  await t.test('errors are TaskerError subclasses with code and sqlstate', async () => {
    await assert.rejects(client.task(424242), (e) => e instanceof tasker.NotFoundError && e.code === 'TASKER_ENOTFOUND' &&
                         e.sqlstate === null && /424242/.test(e.message));
    await assert.rejects(client.createTask({ name: 'no_such_template', context: {} }), tasker.NotFoundError);
    await assert.rejects(client.registerTemplateText('name: [', { sourceName: 'broken.yaml' }),
                         (e) => e instanceof tasker.TemplateError && e instanceof tasker.ValidationError && /broken\.yaml/.test(e.message));
    await assert.rejects(client.createTask({ name: info.name, namespace: info.namespace, version: info.version,
                                             context: { bad: NaN } }),
                         (e) => e instanceof tasker.JSONError && /context\.bad is NaN/.test(e.message));
    await assert.rejects(client.createTask({ name: info.name }), /context is required/);
    await assert.rejects(client.task('abc'), TypeError);
  });

  await t.test('a database that cannot be reached is a ConnectionError', async () => {
    const bad = new tasker.Client({ databaseUrl: 'postgresql://postgres@/nowhere?host=/nonexistent&port=1' });
    await assert.rejects(bad.connect(), (e) => e instanceof tasker.ConnectionError && e.code === 'TASKER_ECONN');
    await bad.close();
  });

  await t.test('a bad configuration key is a ConfigurationError naming it', async () => {
    const bad = new tasker.Client({ config: { execution: { concurrency: -1 } } });
    await assert.rejects(bad.connect(), (e) => e instanceof tasker.ConfigurationError && /concurrency/.test(e.message));
    await bad.close();
  });
});

test('close waits for calls in flight, then refuses new ones with ClosedError', async () => {
  const client = new tasker.Client({ databaseUrl: createDatabase('close') });
  const migrating = client.migrate();
  const closing = client.close();
  assert.ok((await migrating) > 0);
  await closing;
  await assert.rejects(client.health(), (e) => e instanceof tasker.ClosedError && e.code === 'TASKER_ECLOSED');
  await client.close();
});
