'use strict';
// What a handler receives and how one run of it becomes an outcome, as the handler specification says
// (tests/conformance/README.md): process, then processResults; an assignment to step.results wins over
// the returned value; RetryableError and PermanentError choose the failure; anything else thrown (or a
// rejected Promise) is retryable, with its class, message and stack recorded.
const native = require('./native');
const { RetryableError, PermanentError } = require('./errors');

const RESULTS = Symbol('results');
const ASSIGNED = Symbol('assigned');

/** The step being run. Assigning `results` decides what is stored (see processResults). */
class Step {
  constructor(fields) {
    this.workflowStepId = fields.workflowStepId;
    this.name = fields.name;
    this.handlerClass = fields.handlerClass;
    this.attempts = fields.attempts;
    this.retryLimit = fields.retryLimit;
    this.retryable = fields.retryable;
    this.handlerConfig = fields.handlerConfig;
    this.inputs = fields.inputs;
    this[RESULTS] = fields.results;
    this[ASSIGNED] = false;
  }

  get results() { return this[RESULTS]; }

  set results(value) {
    this[RESULTS] = value;
    this[ASSIGNED] = true;
  }

  /** True once the handler assigned `results` during this run. */
  get resultsAssigned() { return this[ASSIGNED]; }
}

const LOAD = Symbol('load');
const STEPS = Symbol('steps');

/**
 * Every step of the task, in workflow_step_id order. The worker converts them when a handler first
 * looks (readable while the handler runs).
 */
class Sequence {
  /** @param {object[] | (() => object[])} steps  the steps, or a function that converts them */
  constructor(steps) {
    this[LOAD] = typeof steps === 'function' ? steps : null;
    this[STEPS] = typeof steps === 'function' ? null : steps;
  }

  get steps() {
    if (this[STEPS] === null) this[STEPS] = this[LOAD]();
    return this[STEPS];
  }

  /** The step of that name (with its state, attempts and results), or null. */
  findStepByName(name) {
    return this.steps.find((s) => s.name === name) ?? null;
  }
}

function className(err) {
  if (err instanceof Error || (err && typeof err === 'object' && err.constructor)) return err.constructor.name || 'Error';
  return typeof err;
}

function backtrace(err) {
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : null;
  if (!stack) return null;
  // The first line repeats the message; the frames follow.
  return stack.split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
}

function failure(err) {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof PermanentError) {
    return { outcome: 2, message, errorClass: className(err), errorCode: err.errorCode, context: err.context,
             backtrace: backtrace(err) };
  }
  let retryAfter = null;
  if (err instanceof RetryableError && typeof err.retryAfter === 'number' && err.retryAfter >= 0) {
    retryAfter = Math.ceil(err.retryAfter);
  }
  return { outcome: 1, message, errorClass: className(err), retryAfter,
           context: err instanceof RetryableError ? err.context : null, backtrace: backtrace(err) };
}

/**
 * Runs one step with `handler` (a StepHandler instance) and returns the outcome native.finish takes.
 * @param {object} handler
 * @param {{task: object, step: Step}} data  converted by the addon
 * @param {() => object[]} loadSequence  converts the task's steps
 */
async function execute(handler, data, loadSequence) {
  const { step } = data;
  const sequence = new Sequence(loadSequence);
  const initial = step.results;
  try {
    const output = await handler.process(data.task, sequence, step);
    // The native processResults returns nothing; one defined in JavaScript may be async.
    const after = handler.processResults(step, output, initial);
    if (after !== undefined) await after;
    return { outcome: 0, results: step.results };
  } catch (err) {
    return failure(err);
  }
}

module.exports = { StepHandler: native.StepHandler, Step, Sequence, execute };
