// Types of the tasker-core package. Values that come from the database are plain objects; integers
// beyond ±(2^53−1) are BigInts (JsonValue), and a BigInt given to the package is written with all its digits.
import { EventEmitter } from 'node:events';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
export type Id = number | bigint;
export type State = 'pending' | 'in_progress' | 'complete' | 'error' | 'cancelled' | 'resolved_manually';

export interface ClientOptions {
  /** libpq URL or key=value string; default $TASKER_DATABASE_URL, then $DATABASE_URL, then libpq's PG* variables. */
  databaseUrl?: string;
  /** Most connections this client opens (default 8). */
  poolSize?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** The engine's configuration: a YAML file path, or an object of sections (backoff, execution, engine, database). */
  config?: string | Record<string, unknown>;
}

export interface TemplateStep {
  name: string;
  handlerClass: string;
  dependsOn: string[];
  retryLimit: number;
  retryable: boolean;
  skippable: boolean;
}

export interface TemplateInfo {
  namespace: string;
  name: string;
  version: string;
  steps: TemplateStep[];
  /** The distinct handler classes of the steps: what a Worker needs handlers for. */
  handlerClasses: string[];
}

export interface TemplateOptions {
  /** Selects the template's `environments:` override (default $TASKER_ENV, then $RAILS_ENV). */
  environment?: string;
  /** true: keys tasker-core does not use are errors; false: warnings; default: the configuration's engine.strict_templates. */
  strict?: boolean;
}

export interface TaskRequest {
  name: string;
  namespace?: string;
  version?: string;
  context: JsonObject;
  initiator?: string;
  sourceSystem?: string;
  reason?: string;
  tags?: JsonValue[];
  bypassSteps?: string[];
  requestedAt?: Date | string;
  /** 'unique': every request creates a task; 'hash': an identical request returns the task it created. */
  identity?: 'unique' | 'hash';
  /** W3C trace context; by default the active OpenTelemetry span's, when @opentelemetry/api is installed. */
  traceparent?: string;
}

export interface StepView {
  workflowStepId: Id;
  name: string;
  handlerClass: string;
  state: State;
  attempts: number;
  retryLimit: number;
  retryable: boolean;
  skippable: boolean;
  processed: boolean;
  results: JsonValue;
  parentIds: Id[];
}

export interface TaskView {
  taskId: Id;
  namespace: string;
  name: string;
  version: string;
  state: State;
  complete: boolean;
  context: JsonObject;
  tags: JsonValue;
  initiator: string | null;
  sourceSystem: string | null;
  reason: string | null;
  identityHash: string | null;
  requestedAt: string | null;
  /** In dependency order. */
  steps: StepView[];
}

export interface StepReadiness {
  workflowStepId: Id;
  taskId: Id;
  namedStepId: number;
  name: string;
  currentState: State;
  dependenciesSatisfied: boolean;
  retryEligible: boolean;
  readyForExecution: boolean;
  lastFailureAt: Date | null;
  nextRetryAt: Date | null;
  totalParents: number;
  completedParents: number;
  attempts: number;
  retryLimit: number;
  backoffRequestSeconds: number | null;
  lastAttemptedAt: Date | null;
}

export interface TaskerEvent {
  /** e.g. 'step.completed' */
  name: string;
  payload: JsonObject;
  taskId: Id | null;
  workflowStepId: Id | null;
  id: Id | null;
  timestamp: Date;
}

export declare class Subscription {
  readonly pattern: string;
  /** Events lost because the queue was full. */
  readonly dropped: number;
  close(): void;
}

export declare class Client extends EventEmitter {
  constructor(options?: ClientOptions);
  connect(): Promise<this>;
  /** Resolves to how many migrations this call applied. */
  migrate(): Promise<number>;
  registerTemplate(source: string | Record<string, unknown>, options?: TemplateOptions): Promise<TemplateInfo>;
  registerTemplateText(text: string, options?: TemplateOptions & { format?: 'yaml' | 'json'; sourceName?: string }): Promise<TemplateInfo>;
  createTask(request: TaskRequest): Promise<Id>;
  findOrCreateTask(request: TaskRequest): Promise<{ taskId: Id; created: boolean }>;
  task(taskId: Id): Promise<TaskView>;
  taskState(taskId: Id): Promise<State>;
  readiness(taskId: Id): Promise<StepReadiness[]>;
  cancelTask(taskId: Id): Promise<void>;
  retryTask(taskId: Id): Promise<void>;
  resolveStep(workflowStepId: Id, results?: JsonValue): Promise<void>;
  health(): Promise<Record<string, number>>;
  mermaid(taskId: Id): Promise<string>;
  /** Lifecycle events matching a name or a pattern ('step.*', '*.failed', '*'). */
  subscribe(pattern: string, listener: (event: TaskerEvent) => unknown, options?: { capacity?: number }): Promise<Subscription>;
  on(eventName: string, listener: (event: TaskerEvent) => unknown): this;
  on(eventName: 'listenerError', listener: (error: unknown, event: TaskerEvent) => unknown): this;
  close(): Promise<void>;
}

/** What a handler receives as `task`. */
export interface Task {
  taskId: Id;
  name: string;
  namespaceName: string;
  version: string;
  context: JsonObject;
  tags: JsonValue;
  initiator: string | null;
  sourceSystem: string | null;
  reason: string | null;
}

/** One step of the task as the sequence shows it. */
export interface SequenceStep {
  workflowStepId: Id;
  name: string;
  state: State;
  attempts: number;
  results: JsonValue;
}

export declare class Sequence {
  readonly steps: SequenceStep[];
  findStepByName(name: string): SequenceStep | null;
}

/** The step being run; assigning `results` decides what is stored. */
export declare class Step {
  readonly workflowStepId: Id;
  readonly name: string;
  readonly handlerClass: string;
  /** Attempts finished before this run (0 on the first). */
  readonly attempts: number;
  readonly retryLimit: number;
  readonly retryable: boolean;
  readonly handlerConfig: JsonValue;
  /** The task's context when the task was created. */
  readonly inputs: JsonObject;
  results: unknown;
  readonly resultsAssigned: boolean;
}

export declare class StepHandler {
  process(task: Task, sequence: Sequence, step: Step): unknown;
  /** Default: stores `output` unless process assigned step.results. */
  processResults(step: Step, output: unknown, initialResults: JsonValue): unknown;
}

export type HandlerClass = new () => StepHandler;

export interface WorkerOptions {
  client: Client;
  /** handler_class → a StepHandler subclass (an instance runs each step) or an instance. */
  handlers: Record<string, HandlerClass | StepHandler>;
  /** Steps in flight at once (default: execution.concurrency). */
  concurrency?: number;
  claimBatch?: number;
  completionBatch?: number;
  completionFlushMs?: number;
  leaseSeconds?: number;
  pollIntervalMs?: number;
  workerId?: string;
  /** run() stops gracefully on SIGTERM (default true). */
  handleSignals?: boolean;
}

export interface Outcome {
  /** 0 success, 1 retryable failure, 2 permanent failure. */
  outcome: 0 | 1 | 2;
  results?: unknown;
  message?: string;
  errorClass?: string;
  errorCode?: string | null;
  retryAfter?: number | null;
}

export declare class Worker extends EventEmitter {
  constructor(options: WorkerOptions);
  readonly client: Client;
  /** Steps processed so far (completed or failed and recorded). */
  readonly processed: number;
  readonly inFlight: number;
  run(): Promise<void>;
  runUntilIdle(): Promise<void>;
  stop(): Promise<void>;
  executeStep(workflowStepId: Id): Promise<Outcome>;
}

export declare class TaskerError extends Error {
  constructor(message: string, details?: { code?: string | null; sqlstate?: string | null });
  /** The core's error code, e.g. 'TASKER_ECONFLICT'; null when raised by JavaScript code. */
  readonly code: string | null;
  /** SQLSTATE of database and connection errors. */
  readonly sqlstate: string | null;
}
export declare class ConnectionError extends TaskerError {}
export declare class DatabaseError extends TaskerError {}
export declare class MigrationError extends DatabaseError {}
export declare class NotFoundError extends TaskerError {}
export declare class HandlerNotFoundError extends NotFoundError {}
export declare class ConflictError extends TaskerError {}
export declare class TransitionError extends TaskerError {}
export declare class ValidationError extends TaskerError {}
export declare class TemplateError extends ValidationError {}
export declare class ContextError extends ValidationError {}
export declare class JSONError extends ValidationError {}
export declare class ConfigurationError extends TaskerError {}
export declare class StoppedError extends TaskerError {}
export declare class TimeoutError extends TaskerError {}
export declare class CanceledError extends TaskerError {}
export declare class ClosedError extends TaskerError {}
export declare class ProceduralError extends TaskerError {}
export declare class RetryableError extends ProceduralError {
  constructor(message: string, options?: { retryAfter?: number | null; context?: JsonObject | null });
  readonly retryAfter: number | null;
  readonly context: JsonObject | null;
}
export declare class PermanentError extends ProceduralError {
  constructor(message: string, options?: { errorCode?: string | null; context?: JsonObject | null });
  readonly errorCode: string | null;
  readonly context: JsonObject | null;
}

/** JSON text → value with exact integers (a BigInt beyond ±(2^53−1)). */
export declare function parseJson(text: string): JsonValue;
/** Value → JSON text; BigInts keep their digits; NaN, functions, Symbols and cycles throw JSONError. */
export declare function stringifyJson(value: unknown): string;
export declare const version: string;
