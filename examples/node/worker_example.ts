// A typed worker: the greeting workflow of order.yaml's sibling, written in TypeScript.
// Type-check: npx tsc --strict --noEmit -p .   Run it compiled, or with a TypeScript loader.
import { Client, Worker, StepHandler, RetryableError, PermanentError, type Task, type Sequence, type Step } from 'tasker-core';

class Validate extends StepHandler {
  async process(task: Task): Promise<{ units: number }> {
    const items = task.context.items as Array<{ sku: string; quantity: number }>;
    if (!Array.isArray(items) || items.length === 0) throw new PermanentError('an order needs items', { errorCode: 'EMPTY' });
    return { units: items.reduce((n, item) => n + item.quantity, 0) };
  }
}

class Charge extends StepHandler {
  async process(task: Task, sequence: Sequence, step: Step): Promise<{ amountCents: number }> {
    const validated = sequence.findStepByName('validate');
    const units = (validated?.results as { units?: number } | null)?.units;
    if (units === undefined) throw new RetryableError('validation results not visible yet', { retryAfter: 1 });
    const config = step.handlerConfig as { unit_price_cents: number };
    return { amountCents: units * config.unit_price_cents };
  }
}

async function main(): Promise<void> {
  const client = new Client({ databaseUrl: process.env.TASKER_DATABASE_URL });
  await client.migrate();
  const template = await client.registerTemplate(`${__dirname}/order.yaml`);
  const taskId = await client.createTask({ name: template.name, namespace: template.namespace, version: template.version,
                                           context: { order_id: 1, items: [{ sku: 'A-1', quantity: 2 }] } });
  client.on('step.completed', (event) => console.log(event.name, event.workflowStepId));
  const worker = new Worker({
    client,
    handlers: { 'Shop::Validate': Validate, 'Shop::Charge': Charge, 'Shop::ReserveStock': Validate, 'Shop::Confirm': Validate },
    concurrency: 10,
  });
  await worker.runUntilIdle();
  const task = await client.task(taskId);
  console.log(task.state, task.steps.map((s) => `${s.name}: ${s.state}`).join(', '));
  await client.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
