'use strict';
// Client: a pool of PostgreSQL connections and every operation on templates and tasks. Each method
// returns a Promise; the database work runs on libuv's thread pool, never on the JavaScript thread.
const { EventEmitter } = require('node:events');
const native = require('./native');
const { ClosedError } = require('./errors');
const events = require('./events');

/** @typedef {{databaseUrl?: string, poolSize?: number, applicationName?: string, config?: string|object}} ClientOptions */

class Client extends EventEmitter {
  /**
   * Opens nothing yet: the first call (or connect()) opens the pool.
   * @param {ClientOptions} [options]
   *   databaseUrl: libpq URL or key=value string (default $TASKER_DATABASE_URL, then $DATABASE_URL, then
   *   libpq's PG* variables); poolSize: most connections (default 8); config: a YAML file path or an
   *   object of sections (backoff, execution, engine, database — docs/configuration.md).
   */
  constructor(options = {}) {
    super();
    const { databaseUrl, poolSize, applicationName, config } = options;
    const url = databaseUrl ?? process.env.TASKER_DATABASE_URL ?? process.env.DATABASE_URL;
    const nativeOptions = { databaseUrl: url, poolSize, applicationName };
    this._url = url;
    if (typeof config === 'string') nativeOptions.configPath = config;
    else if (config && typeof config === 'object') nativeOptions.configText = native.toJson(config, 'config');
    else if (config != null) throw new TypeError('config must be a YAML file path or an object');
    this._native = new native.NativeClient(nativeOptions);
    this._opening = null;
    this._workers = new Set();
    events.attach(this);
    this._pending = new Set();
    this._closing = false;
  }

  /**
   * Lifecycle events (docs/events.md): `client.on('step.completed', (event) => …)` for one name or a
   * pattern, or `await client.subscribe('step.*', listener)` for a Subscription you can close(). An event
   * is {name, payload, taskId, workflowStepId, id, timestamp}.
   * @name subscribe
   */

  /** Opens the pool and checks that one connection can be made. Resolves to the client. */
  async connect() {
    if (!this._opening) {
      this._opening = this._native.open().catch((err) => {
        this._opening = null;
        throw err;
      });
    }
    await this._opening;
    return this;
  }

  // Every call waits for the pool to open; close() waits for the calls made before it.
  _call(method, ...args) {
    const p = (async () => {
      if (this._closing) throw new ClosedError('the client is closed', { code: 'TASKER_ECLOSED' });
      await this.connect();
      return this._native[method](...args);
    })();
    this._pending.add(p);
    const forget = () => this._pending.delete(p);
    p.then(forget, forget);
    return p;
  }

  /** Applies the embedded migrations not yet applied (idempotent). Resolves to how many it applied. */
  migrate() { return this._call('migrate'); }

  /**
   * Validates and registers a task template (the Rails engine's YAML format, or the same keys as JSON or
   * an object). Idempotent and visible to every process sharing the database.
   * @param {string|object} source  a .yaml/.yml/.json file path, or the template as an object
   * @param {{environment?: string, strict?: boolean}} [options]
   */
  async registerTemplate(source, options = {}) {
    if (source && typeof source === 'object') {
      return this._register(null, native.toJson(source, 'template'), true, 'template object', options);
    }
    if (typeof source !== 'string') throw new TypeError('registerTemplate needs a file path or an object');
    return this._register(source, null, false, null, options);
  }

  /**
   * Registers a template given as text.
   * @param {string} text
   * @param {{format?: 'yaml'|'json', sourceName?: string, environment?: string, strict?: boolean}} [options]
   */
  registerTemplateText(text, options = {}) {
    return this._register(null, String(text), options.format === 'json', options.sourceName ?? '<string>', options);
  }

  async _register(path, text, isJson, sourceName, { environment, strict } = {}) {
    const info = await this._call('registerTemplate', path, text, isJson, sourceName, environment ?? null,
                                  strict == null ? -1 : strict ? 1 : 0);
    info.handlerClasses = [...new Set(info.steps.map((s) => s.handlerClass))];
    return info;
  }

  /**
   * Creates a task, its steps and their dependencies in one transaction. Resolves to the task id (an
   * existing task's for a duplicate request with identity 'hash').
   * @param {object} request  {name, namespace, version, context, initiator, sourceSystem, reason, tags,
   *   bypassSteps, requestedAt, identity: 'unique'|'hash', traceparent}
   */
  async createTask(request) {
    return (await this.findOrCreateTask(request)).taskId;
  }

  /** Like createTask, and says whether this call created the task: {taskId, created}. */
  async findOrCreateTask(request) {
    if (!request || typeof request !== 'object') throw new TypeError('createTask needs a request object');
    let req = request;
    if (req.requestedAt instanceof Date) {
      req = { ...req, requestedAt: req.requestedAt.toISOString().replace('T', ' ').replace('Z', '') };
    }
    if (req.traceparent === undefined) {
      const tp = currentTraceparent();
      if (tp) req = { ...req, traceparent: tp };
    }
    return this._call('createTask', req);
  }

  /** A task with all its steps: {taskId, namespace, name, version, state, context, …, steps: [...]} */
  task(taskId) { return this._call('task', taskId); }

  /** The task's current state: 'pending', 'in_progress', 'complete', 'error', 'cancelled', … */
  taskState(taskId) { return this._call('taskState', taskId); }

  /** Readiness of every step of a task, as get_step_readiness_status reports it. */
  readiness(taskId) { return this._call('readiness', taskId); }

  /** Cancels a task: its steps that have not finished are cancelled; a late result is discarded. */
  cancelTask(taskId) { return this._call('cancelTask', taskId); }

  /** Retries a task in error: its failed steps get a fresh set of attempts. */
  retryTask(taskId) { return this._call('retryTask', taskId); }

  /** Resolves a pending or failed step by hand (optional results); its dependents proceed. */
  resolveStep(workflowStepId, results) { return this._call('resolveStep', workflowStepId, results); }

  /** Health counts of the whole system (get_system_health_counts_v01). */
  health() { return this._call('health'); }

  /** A Mermaid flowchart of the task's DAG, nodes coloured by state. */
  mermaid(taskId) { return this._call('mermaid', taskId); }

  /**
   * Stops this client's workers, ends its event subscriptions, waits for the calls in flight and closes
   * every connection. Later calls reject with ClosedError. Idempotent.
   */
  async close() {
    this._closing = true;
    await Promise.allSettled([...this._pending]);
    await Promise.all([...this._workers].map((w) => w.stop()));
    events.closeAll(this);
    await this._native.close();
  }
}

// The caller's W3C trace context when @opentelemetry/api is installed and a span is active.
let otel;
function currentTraceparent() {
  if (otel === undefined) {
    try {
      otel = require('@opentelemetry/api');
    } catch {
      otel = null;
    }
  }
  if (!otel) return null;
  const span = otel.trace.getSpan(otel.context.active());
  const sc = span && span.spanContext();
  if (!sc || !otel.isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) ? '01' : '00'}`;
}

module.exports = { Client };
