// The README's Node example (run from this folder: node greeting.js).
const { Client, Worker, StepHandler, RetryableError } = require('tasker-core');

class FetchUser extends StepHandler {
  async process(task) {
    const name = task.context.name;
    return { name: name[0].toUpperCase() + name.slice(1) };
  }
}

class Compose extends StepHandler {
  async process(task, sequence, step) {
    if (step.attempts === 0) throw new RetryableError('busy', { retryAfter: 1 });
    return { text: `Hello, ${sequence.findStepByName('fetch_user').results.name}!` };
  }
}

(async () => {
  const client = new Client({ databaseUrl: process.env.DATABASE_URL });
  await client.migrate();
  await client.registerTemplate(`${__dirname}/greeting.yaml`);
  const id = await client.createTask({ name: 'greeting', version: '1.0.0', context: { name: 'ada' } });
  const worker = new Worker({ client, handlers: { FetchUser, Compose }, concurrency: 10 });
  await worker.runUntilIdle();                                        // or worker.run() (until SIGTERM)
  const task = await client.task(id);
  console.log(task.steps.find((s) => s.name === 'compose').results.text); // => Hello, Ada!
  await client.close();
})();
