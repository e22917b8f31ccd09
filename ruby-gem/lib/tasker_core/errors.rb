# frozen_string_literal: true

module TaskerCore
  # The exception classes are defined by the extension, in one table (ext/tasker_core/tc_errors.c)
  # that maps every error code of the C core to one of them:
  #
  #   Error                    anything below; also a generic core failure (TASKER_ERROR)
  #   ├─ ConnectionError       cannot connect, or the connection was lost
  #   ├─ DatabaseError         PostgreSQL reported an error ({#sqlstate} is set)
  #   │  └─ MigrationError     a migration failed; the message names it
  #   ├─ NotFoundError         no such task, step, template
  #   │  └─ HandlerNotFoundError  no Ruby class for a template's handler_class
  #   ├─ ConflictError         the state changed underneath you (a lost compare-and-swap)
  #   ├─ TransitionError       the state machine forbids this transition
  #   ├─ ValidationError       an argument or value is invalid; the message names it
  #   │  ├─ TemplateError      a task template is invalid (file, step, problem)
  #   │  ├─ ContextError       a task context fails the template's JSON Schema (path)
  #   │  └─ JSONError          a value cannot be represented as JSON
  #   ├─ ConfigurationError    a configuration key or value is invalid
  #   ├─ StoppedError          the worker was stopped
  #   ├─ TimeoutError          no pooled connection became free in time (the message names the pool size)
  #   ├─ CanceledError         the call was cancelled from another thread
  #   ├─ ClosedError           the core's client was closed
  #   └─ ProceduralError       raised by step handlers, as in the Rails engine:
  #      ├─ RetryableError     try again after a backoff, while attempts remain
  #      └─ PermanentError     never retry this step; the task goes to error
  class Error
    # @return [Symbol, nil] the core's error code, e.g. :TASKER_ECONFLICT (nil when raised by Ruby code)
    attr_reader :code
    # @return [String, nil] the five-character SQLSTATE for database and connection errors
    attr_reader :sqlstate
  end

  # Raised by a step handler for a failure that may succeed later (a timeout, a 503). The step is
  # retried after its backoff while attempts remain.
  class RetryableError
    # @return [Numeric, nil] seconds the handler asks to wait before the next attempt
    attr_reader :retry_after
    # @return [Hash] details recorded with the failure (error_details.error_context)
    attr_reader :context

    # @param message [String]
    # @param retry_after [Numeric, nil] seconds to wait before retrying (nil: the engine's backoff)
    # @param context [Hash] details to record with the failure
    def initialize(message = nil, retry_after: nil, context: {})
      super(message)
      @retry_after = retry_after
      @context = context || {}
    end
  end

  # Raised by a step handler for a failure that retrying cannot fix (bad input, a 404). The step is
  # never retried and its task goes to error.
  class PermanentError
    # @return [String, nil] a machine-readable code recorded with the failure
    attr_reader :error_code
    # @return [Hash] details recorded with the failure (error_details.error_context)
    attr_reader :context

    # @param message [String]
    # @param error_code [String, nil] a code recorded with the failure, e.g. "HTTP_404"
    # @param context [Hash] details to record with the failure
    def initialize(message = nil, error_code: nil, context: {})
      super(message)
      @error_code = error_code
      @context = context || {}
    end
  end
end
