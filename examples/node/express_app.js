'use strict';
// An Express service that accepts orders as tasks and runs their steps in the same process.
//   POST /tasks      {order_id, items: [{sku, quantity}]} → 201 {taskId}; a context the template's schema
//                    refuses → 422 naming the field
//   GET  /tasks/:id  the task's state and each step's state and results; 404 for an unknown id
// Run: TASKER_DATABASE_URL=postgres://… node express_app.js   (PORT defaults to 3000)
const path = require('node:path');
const express = require('express');
const { Client, Worker, StepHandler, PermanentError, ContextError, NotFoundError, ValidationError, parseJson,
        stringifyJson } = require('tasker-core');

/** @typedef {import('tasker-core').Task} Task */
/** @typedef {import('tasker-core').Sequence} Sequence */
/** @typedef {import('tasker-core').Step} Step */
/** @typedef {{sku: string, quantity: number}} Item */

/** @param {Task} task */
const itemsOf = (task) => /** @type {Item[]} */ (task.context.items);

class Validate extends StepHandler {
  /** @param {Task} task */
  async process(task) {
    const units = itemsOf(task).reduce((n, item) => n + item.quantity, 0);
    if (units > 100) throw new PermanentError(`order ${task.context.order_id} has ${units} units (at most 100)`, { errorCode: 'TOO_LARGE' });
    return { units };
  }
}

class ReserveStock extends StepHandler {
  /** @param {Task} task */
  async process(task) {
    return { reserved: itemsOf(task).map((item) => item.sku) };
  }
}

class Charge extends StepHandler {
  /** @param {Task} task @param {Sequence} sequence @param {Step} step */
  async process(task, sequence, step) {
    const { units } = /** @type {{units: number}} */ (sequence.findStepByName('validate')?.results);
    const config = /** @type {{unit_price_cents: number, currency: string}} */ (step.handlerConfig);
    return { amount_cents: units * config.unit_price_cents, currency: config.currency };
  }
}

class Confirm extends StepHandler {
  /** @param {Task} task @param {Sequence} sequence */
  async process(task, sequence) {
    const charge = /** @type {{amount_cents: number}} */ (sequence.findStepByName('charge')?.results);
    return { confirmed: task.context.order_id, charged: charge.amount_cents };
  }
}

const handlers = { 'Shop::Validate': Validate, 'Shop::ReserveStock': ReserveStock, 'Shop::Charge': Charge,
                   'Shop::Confirm': Confirm };
const TEMPLATE = path.join(__dirname, 'order.yaml');

// Bodies are read with parseJson, so an order id past 2^53 keeps its digits (JSON.parse would round it).
/** @param {import('tasker-core').Client} client */
function createApp(client) {
  const app = express();
  app.use(express.text({ type: 'application/json' }));

  app.post('/tasks', async (req, res, next) => {
    try {
      const context = /** @type {import('tasker-core').JsonObject} */ (parseJson(req.body || '{}'));
      const taskId = await client.createTask({ name: 'process_order', namespace: 'shop', version: '1.0.0', context,
                                               sourceSystem: 'express' });
      res.status(201).json({ taskId });
    } catch (err) {
      if (err instanceof ContextError || err instanceof ValidationError) res.status(422).json({ error: err.message });
      else next(err);
    }
  });

  app.get('/tasks/:id', async (req, res, next) => {
    try {
      const task = await client.task(Number(req.params.id));
      const body = { taskId: task.taskId, state: task.state,
                     steps: task.steps.map((s) => ({ name: s.name, state: s.state, attempts: s.attempts, results: s.results })) };
      res.type('application/json').send(stringifyJson(body));
    } catch (err) {
      if (err instanceof NotFoundError || err instanceof TypeError) res.status(404).json({ error: err.message });
      else next(err);
    }
  });

  return app;
}

async function main() {
  const client = new Client();
  await client.migrate();
  await client.registerTemplate(TEMPLATE);
  const worker = new Worker({ client, handlers, concurrency: 10 });
  const server = createApp(client).listen(Number(process.env.PORT || 3000), () => {
    console.log(`listening on ${JSON.stringify(server.address())}`);
  });
  worker.on('stopped', () => server.close());
  await worker.run(); // until SIGTERM
  await client.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { createApp, handlers, TEMPLATE };
