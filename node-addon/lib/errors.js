'use strict';
// The error classes. Every failure of the core arrives as one of these, chosen by its code
// (native/errors.cc asks makeError); step handlers throw RetryableError or PermanentError.
//
//   TaskerError               anything below; also a generic core failure (TASKER_ERROR)
//   ├─ ConnectionError        cannot connect, or the connection was lost
//   ├─ DatabaseError          PostgreSQL reported an error (sqlstate is set)
//   │  └─ MigrationError      a migration failed; the message names it
//   ├─ NotFoundError          no such task, step, template
//   │  └─ HandlerNotFoundError  no handler class for a template's handler_class
//   ├─ ConflictError          the state changed underneath you (a lost compare-and-swap)
//   ├─ TransitionError        the state machine forbids this transition
//   ├─ ValidationError        an argument or value is invalid; the message names it
//   │  ├─ TemplateError       a task template is invalid (file, step, problem)
//   │  ├─ ContextError        a task context fails the template's JSON Schema (path)
//   │  └─ JSONError           a value has no JSON form
//   ├─ ConfigurationError     a configuration key or value is invalid
//   ├─ StoppedError           the worker was stopped
//   ├─ TimeoutError           a bounded wait ran out
//   ├─ CanceledError          the call was cancelled
//   ├─ ClosedError            the client was closed
//   └─ ProceduralError        thrown by step handlers:
//      ├─ RetryableError      try again after a backoff, while attempts remain
//      └─ PermanentError      never retry this step; the task goes to error

class TaskerError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string|null, sqlstate?: string|null}} [details]
   */
  constructor(message, details = {}) {
    super(message);
    this.name = new.target.name;
    /** The core's error code, e.g. 'TASKER_ECONFLICT' (null when raised by JavaScript code). */
    this.code = details.code ?? null;
    /** The five-character SQLSTATE of database and connection errors, else null. */
    this.sqlstate = details.sqlstate ?? null;
  }
}

const define = (name, parent) => ({ [name]: class extends parent {} })[name];

const ConnectionError = define('ConnectionError', TaskerError);
const DatabaseError = define('DatabaseError', TaskerError);
const MigrationError = define('MigrationError', DatabaseError);
const NotFoundError = define('NotFoundError', TaskerError);
const HandlerNotFoundError = define('HandlerNotFoundError', NotFoundError);
const ConflictError = define('ConflictError', TaskerError);
const TransitionError = define('TransitionError', TaskerError);
const ValidationError = define('ValidationError', TaskerError);
const TemplateError = define('TemplateError', ValidationError);
const ContextError = define('ContextError', ValidationError);
const JSONError = define('JSONError', ValidationError);
const ConfigurationError = define('ConfigurationError', TaskerError);
const StoppedError = define('StoppedError', TaskerError);
const TimeoutError = define('TimeoutError', TaskerError);
const CanceledError = define('CanceledError', TaskerError);
const ClosedError = define('ClosedError', TaskerError);
const ProceduralError = define('ProceduralError', TaskerError);

/** Thrown by a step handler for a failure that may succeed later (a timeout, a 503). */
class RetryableError extends ProceduralError {
  /**
   * @param {string} message
   * @param {{retryAfter?: number|null, context?: object|null}} [options]
   *   retryAfter: seconds to wait before the next attempt (a fraction waits the next whole second);
   *   context: details recorded with the failure (error_details.error_context)
   */
  constructor(message, options = {}) {
    super(message);
    this.retryAfter = options.retryAfter ?? null;
    this.context = options.context ?? null;
  }
}

/** Thrown by a step handler for a failure retrying cannot fix (bad input, a 404). */
class PermanentError extends ProceduralError {
  /**
   * @param {string} message
   * @param {{errorCode?: string|null, context?: object|null}} [options]
   */
  constructor(message, options = {}) {
    super(message);
    this.errorCode = options.errorCode ?? null;
    this.context = options.context ?? null;
  }
}

const BY_CODE = {
  TASKER_ECONN: ConnectionError,
  TASKER_EDB: DatabaseError,
  TASKER_EMIGRATION: MigrationError,
  TASKER_ENOTFOUND: NotFoundError,
  TASKER_ECONFLICT: ConflictError,
  TASKER_ETRANSITION: TransitionError,
  TASKER_EINVAL: ValidationError,
  TASKER_ETEMPLATE: TemplateError,
  TASKER_ECONTEXT: ContextError,
  TASKER_EJSON: JSONError,
  TASKER_ECONFIG: ConfigurationError,
  TASKER_ESTOPPED: StoppedError,
  TASKER_ETIMEOUT: TimeoutError,
  TASKER_ECANCELED: CanceledError,
  TASKER_ECLOSED: ClosedError,
};

/** The error for a core failure (called by the native side). */
function makeError(code, message, sqlstate) {
  const Class = BY_CODE[code] || TaskerError;
  return new Class(message, { code, sqlstate });
}

module.exports = {
  TaskerError, ConnectionError, DatabaseError, MigrationError, NotFoundError, HandlerNotFoundError,
  ConflictError, TransitionError, ValidationError, TemplateError, ContextError, JSONError,
  ConfigurationError, StoppedError, TimeoutError, CanceledError, ClosedError, ProceduralError,
  RetryableError, PermanentError, makeError,
};
