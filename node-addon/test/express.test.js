'use strict';
// The Express example (examples/node/express_app.js) with supertest against the real database: orders
// become tasks, a worker in the same process runs them, schema errors are 422s naming the field.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const request = require('supertest');
const { Client, Worker, parseJson } = require('tasker-core');
const { REPO, createDatabase } = require('./helpers');

// ci/test-node.sh copies the examples next to the installed package (TASKER_EXAMPLES).
const EXAMPLES = process.env.TASKER_EXAMPLES || path.join(REPO, 'examples', 'node');
const { createApp, handlers, TEMPLATE } = require(path.join(EXAMPLES, 'express_app.js'));

test('Express: POST /tasks, the worker in the same process, GET /tasks/:id', async (t) => {
  const client = new Client({ databaseUrl: createDatabase('express') });
  await client.migrate();
  await client.registerTemplate(TEMPLATE);
  const app = createApp(client);
  const worker = new Worker({ client, handlers, concurrency: 4, handleSignals: false });
  const running = worker.run();
  t.after(async () => {
    await worker.stop();
    await running;
    await client.close();
  });

  await t.test('a valid order becomes a task whose steps run to completion', async () => {
    const created = await request(app).post('/tasks').set('Content-Type', 'application/json')
      .send('{"order_id": 9007199254740993, "items": [{"sku": "A-1", "quantity": 2}, {"sku": "B-2", "quantity": 1}]}')
      .expect(201);
    const { taskId } = created.body;
    assert.equal(typeof taskId, 'number');
    let body;
    for (let i = 0; i < 200; i++) {
      const res = await request(app).get(`/tasks/${taskId}`).expect(200);
      body = parseJson(res.text);
      if (body.state === 'complete') break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(body.state, 'complete');
    const confirm = body.steps.find((s) => s.name === 'confirm');
    assert.deepEqual(confirm.results, { confirmed: 9007199254740993n, charged: 3750 });
  });

  await t.test('a context the schema refuses is a 422 naming the field', async () => {
    const res = await request(app).post('/tasks').set('Content-Type', 'application/json')
      .send('{"order_id": 7, "items": [{"sku": "A-1", "quantity": 0}]}').expect(422);
    assert.match(res.body.error, /quantity/);
    const missing = await request(app).post('/tasks').set('Content-Type', 'application/json').send('{"items": []}').expect(422);
    assert.match(missing.body.error, /order_id/);
  });

  await t.test('an unknown task is a 404', async () => {
    await request(app).get('/tasks/987654').expect(404);
  });
});
