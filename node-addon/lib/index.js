'use strict';
// tasker-core for Node.js: workflow orchestration on PostgreSQL with async JavaScript step handlers.
const {
  TaskerError, ConnectionError, DatabaseError, MigrationError, NotFoundError, HandlerNotFoundError,
  ConflictError, TransitionError, ValidationError, TemplateError, ContextError, JSONError,
  ConfigurationError, StoppedError, TimeoutError, CanceledError, ClosedError, ProceduralError,
  RetryableError, PermanentError,
} = require('./errors');
const { Client } = require('./client');
const { Worker } = require('./worker');
const { StepHandler, Step, Sequence } = require('./handler');
const native = require('./native');

/** JSON text → value, integers exact (a BigInt beyond ±(2^53−1)), as the core hands values over. */
function parseJson(text) { return native.parseJson(text); }

/** Value → JSON text: BigInts with every digit; NaN, functions, Symbols and cycles are refused (JSONError). */
function stringifyJson(value) { return native.toJson(value, 'value'); }

// Listed one by one so that `import { Client } from 'tasker-core'` works from ES modules too.
module.exports = {
  Client,
  Worker,
  StepHandler,
  Step,
  Sequence,
  TaskerError,
  ConnectionError,
  DatabaseError,
  MigrationError,
  NotFoundError,
  HandlerNotFoundError,
  ConflictError,
  TransitionError,
  ValidationError,
  TemplateError,
  ContextError,
  JSONError,
  ConfigurationError,
  StoppedError,
  TimeoutError,
  CanceledError,
  ClosedError,
  ProceduralError,
  RetryableError,
  PermanentError,
  parseJson,
  stringifyJson,
  version: native.version,
};
