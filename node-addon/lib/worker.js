'use strict';
// Worker: runs the steps of the declared handler classes in this process. The core's worker claims,
// extends leases, recovers and writes results on its own threads; it hands each claimed step out
// through a descriptor that libuv watches, so the event loop wakes only when a step waits. Handlers run
// here, on the JavaScript thread, as Promises; `concurrency` bounds how many are in flight.
const { EventEmitter } = require('node:events');
const native = require('./native');
const { Step, execute } = require('./handler');
const tracing = require('./tracing');
const { HandlerNotFoundError } = require('./errors');

/**
 * @typedef {object} WorkerOptions
 * @property {import('./client').Client} client
 * @property {Record<string, Function|object>} handlers  handler_class → a StepHandler subclass (a new
 *   instance runs each step) or an instance (runs every step of that class)
 * @property {number} [concurrency]  steps in flight at once (default: the configuration's
 *   execution.concurrency, 10)
 * @property {number} [claimBatch] @property {number} [completionBatch] @property {number} [completionFlushMs]
 * @property {number} [leaseSeconds] @property {number} [pollIntervalMs] @property {string} [workerId]
 * @property {boolean} [handleSignals]  run() stops gracefully on SIGTERM (default true)
 */

// A step as the addon hands it out (src/worker.cc, ClaimedToArgs): the task as a plain object and the
// step as a Step, made here as literals of one shape each.
function claimed(token, traceparent, taskId, taskName, namespaceName, version, context, tags, initiator,
                 sourceSystem, reason, workflowStepId, name, handlerClass, attempts, retryLimit, retryable,
                 handlerConfig, inputs, results) {
  return {
    traceparent,
    task: { taskId, name: taskName, namespaceName, version, context, tags, initiator, sourceSystem, reason },
    step: new Step({ workflowStepId, name, handlerClass, attempts, retryLimit, retryable, handlerConfig, inputs, results }),
  };
}

class Worker extends EventEmitter {
  /** @param {WorkerOptions} options */
  constructor(options) {
    super();
    const { client, handlers, handleSignals = true, ...rest } = options || {};
    if (!client || typeof client._call !== 'function') throw new TypeError('Worker needs {client}');
    if (!handlers || typeof handlers !== 'object' || Object.keys(handlers).length === 0) {
      throw new TypeError('Worker needs {handlers}: handler_class → StepHandler subclass');
    }
    for (const [name, h] of Object.entries(handlers)) {
      if (typeof h !== 'function' && (typeof h !== 'object' || typeof h.process !== 'function')) {
        throw new TypeError(`handler for ${name} must be a StepHandler subclass or an object with process()`);
      }
    }
    this.client = client;
    this._handlers = { ...handlers };
    this._options = rest;
    this._handleSignals = handleSignals;
    this._native = null;
    this._processed = 0;
    this._inflight = 0;
    this._running = null;     // the Promise run() returns
    this._stopping = null;    // the Promise stop() returns
    this._untilIdle = false;
    this._idleCheck = null;
    this._drained = null;   // resolves _finishStop once no handler runs
    this._onSignal = () => { this.stop(); };
  }

  /** Steps this worker processed so far (completed or failed and recorded). */
  get processed() { return this._native ? this._native.processed : this._processed; }

  /** Steps whose handler is running now. */
  get inFlight() { return this._inflight; }

  async _create() {
    if (!this._native) {
      await this.client.connect();
      this._native = new native.NativeWorker(this.client._native, this._options, Object.keys(this._handlers),
                                             this._onStep.bind(this));
      this.client._workers.add(this);
    }
    return this._native;
  }

  /**
   * Runs steps until stop() (or SIGTERM). Resolves once every step taken has finished and its result is
   * written.
   */
  run() {
    if (this._running) return this._running;
    this._running = (async () => {
      const w = await this._create();
      this._done = new Promise((resolve) => { this._resolveDone = resolve; });
      if (this._handleSignals) process.once('SIGTERM', this._onSignal);
      w.start();
      this.emit('started');
      if (this._untilIdle) this._checkIdle();
      await this._done;
      await this._finishStop();
    })();
    return this._running;
  }

  /** Runs until nothing this worker can run is left (queued now or waiting for a backoff), then stops. */
  runUntilIdle() {
    this._untilIdle = true;
    return this.run();
  }

  /** Stops gracefully: no new claims; running handlers finish and their results are written. */
  stop() {
    if (this._stopping) return this._stopping;
    this._stopping = (async () => {
      if (!this._native || !this._running) {
        if (this._native) this._close();
        return;
      }
      this._native.stop();
      await this._running;
    })();
    return this._stopping;
  }

  async _finishStop() {
    if (this._handleSignals) process.removeListener('SIGTERM', this._onSignal);
    clearTimeout(this._idleCheck);
    this._idleCheck = null;
    if (this._inflight > 0) await new Promise((resolve) => { this._drained = resolve; });
    this._drained = null;
    await this._native.wait();
    this._close();
    this.emit('stopped');
  }

  _close() {
    this._processed = this._native.processed;
    this._native.close();
    this._native = null;
    this.client._workers.delete(this);
  }

  /**
   * Delegation (a job system's job, e.g. BullMQ): claims exactly this step, runs its handler here and
   * records the result. Resolves to {state: 'complete'|'error', …outcome} for the step.
   * @param {number|bigint} workflowStepId
   */
  async executeStep(workflowStepId) {
    const w = await this._create();
    const args = await w.claimStep(workflowStepId);
    const token = args[0];
    const outcome = await this._execute(token, claimed(...args));
    await w.finishStep(token, outcome);
    return outcome;
  }

  _handler(handlerClass) {
    const h = this._handlers[handlerClass];
    if (h === undefined) return null;
    return typeof h === 'function' ? new h() : h;
  }

  // → a Promise of the outcome finish() takes.
  _execute(token, data) {
    const handler = this._handler(data.step.handlerClass);
    if (!handler) {
      const err = new HandlerNotFoundError(`no handler for ${data.step.handlerClass} on this worker`);
      return Promise.resolve({ outcome: 1, message: err.message, errorClass: err.name });
    }
    const w = this._native;
    return tracing.run(data, () => execute(handler, data, () => w.sequence(token)));
  }

  // Called by the addon for every step handed out (the arguments of claimed()), and with no arguments
  // once no more will come.
  _onStep(token, ...fields) {
    if (token === undefined) {
      if (this._resolveDone) this._resolveDone();
      return;
    }
    this._runStep(token, claimed(token, ...fields));
  }

  async _runStep(token, data) {
    this._inflight++;
    let outcome;
    try {
      outcome = await this._execute(token, data);
      this._native.finish(token, outcome);
    } catch (err) {
      // Only a fault of this package can land here (handler failures are outcomes).
      this._fault(err);
    }
    this._inflight--;
    this.emit(outcome && outcome.outcome === 0 ? 'completed' : 'failed', data.step, outcome);
    if (this._inflight === 0) {
      if (this._drained) this._drained();
      if (this._untilIdle) this._checkIdle();
    }
  }

  _fault(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(err);
  }

  // runUntilIdle: asks the core whether anything is left whenever no handler is running. The core knows
  // from its own state (no database round trip); while a step waits for its backoff, or a claim or a
  // result is on its way, it asks again shortly after — one timer at a time, not one per step settled.
  _checkIdle() {
    if (this._stopping || !this._native || this._inflight > 0 || this._idleCheck) return;
    if (this._native.idle()) this.stop();
    else this._idleCheck = setTimeout(() => { this._idleCheck = null; this._checkIdle(); }, 5);
  }
}

module.exports = { Worker };
