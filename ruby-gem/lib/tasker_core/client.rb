# frozen_string_literal: true

module TaskerCore
  # A connection pool to the engine's database, and every operation on tasks and templates.
  # Thread-safe: any thread may use one client at the same time; calls that wait on PostgreSQL
  # release the GVL, so other Ruby threads keep running.
  #
  # @example
  #   client = TaskerCore::Client.new(database_url: ENV["DATABASE_URL"])
  #   client.migrate!
  #   client.register_template("config/tasker/tasks/process_order.yaml")
  #   id = client.create_task(name: "process_order", namespace: "ecommerce", version: "1.0.0",
  #                           context: { "cart_id" => 42 })
  #   client.task(id).state # => "pending"
  class Client
    IDENTITY = { nil => 0, default: 0, unique: 1, hash: 2 }.freeze
    private_constant :IDENTITY

    # @return [Array<TemplateInfo>] the templates this client registered
    attr_reader :templates

    # Opens the pool and checks that one connection can be made.
    #
    # @param database_url [String, nil] libpq URL or key=value string; nil → $TASKER_DATABASE_URL,
    #   then $DATABASE_URL, then libpq's PG* variables
    # @param pool_size [Integer, nil] most connections this client opens (default 8)
    # @param application_name [String, nil] shown in pg_stat_activity (default "tasker-core")
    # @param config [String, Hash, Array, nil] the engine's configuration: a YAML file path, a Hash of
    #   sections (backoff:, execution:, engine:, database:) — docs/configuration.md lists them — or
    #   [path, Hash]: the file, then the Hash over it. TASKER_<SECTION>_<KEY> environment variables
    #   apply over all of it.
    # @raise [ConnectionError] when the database cannot be reached
    # @raise [ConfigurationError] for an unknown or invalid configuration key
    def initialize(database_url: nil, pool_size: nil, application_name: nil, config: nil)
      database_url ||= ENV["TASKER_DATABASE_URL"] || ENV["DATABASE_URL"]
      path = text = nil
      (config.is_a?(Array) ? config : [config]).compact.each do |source|
        if source.is_a?(Hash)
          text = NativeJSON.generate(source)
        else
          path = source.to_s
        end
      end
      @templates = []
      @templates_lock = Mutex.new
      @subscriptions = []
      @subscriptions_lock = Mutex.new
      Client.watch_signals
      _open(database_url, pool_size, application_name, path, text)
    end

    @signal_lock = Mutex.new

    # Ruby handles a signal (Ctrl-C) on a thread that runs or sleeps in Ruby. When every thread is
    # inside a database call (GVL released), nothing would notice SIGINT until a call returned, so one
    # thread per process sleeps to receive signals; Ruby then interrupts the waiting call.
    # @api private
    def self.watch_signals
      @signal_lock.synchronize do
        return if @signal_watcher&.alive? # (a fork leaves no threads behind: one is started again)

        @signal_watcher = Thread.new do
          Thread.current.name = "tasker-signals"
          Thread.current.report_on_exception = false
          sleep
        end
      end
    end

    # Applies the embedded migrations not yet applied (idempotent; safe from several processes).
    # @return [Integer] how many migrations this call applied
    # @raise [MigrationError]
    # (defined by the extension)
    # def migrate!; end

    # @return [Array<Hash>] every embedded migration: :version, :name, :applied
    def migration_status
      _migration_status
    end

    # Validates and registers a task template (the Rails engine's YAML format, or the same keys in
    # JSON or a Hash). Registering is idempotent and visible to every process sharing the database.
    #
    # @param source [String, Pathname, Hash] a .yaml/.yml/.json file, or the template as a Hash
    # @param environment [String, nil] selects the template's `environments:` override
    #   (nil → $TASKER_ENV, then $RAILS_ENV)
    # @param strict [Boolean, nil] true: a key tasker-core does not use (the Rails engine allows any), a
    #   key written twice or a schema keyword it does not apply is an error; false: each is ignored
    #   with a warning in the log ({TaskerCore.logger}); nil (default): the client's
    #   engine.strict_templates configuration (false unless set)
    # @return [TemplateInfo]
    # @raise [TemplateError] naming the file, step and problem
    def register_template(source, environment: nil, strict: nil)
      info = if source.is_a?(Hash)
               _register_template_text(NativeJSON.generate(source), true, "template Hash", environment, strict)
             else
               _register_template_file(source.to_s, environment, strict)
             end
      remember(TemplateInfo.new(**info))
    end

    # Registers a template given as text.
    # @param text [String] YAML or JSON
    # @param format [Symbol] :yaml or :json
    # @param source_name [String] names the text in error messages
    # @param strict [Boolean, nil] as for {#register_template}
    # @return [TemplateInfo]
    def register_template_text(text, format: :yaml, source_name: "<string>", environment: nil, strict: nil)
      info = _register_template_text(text.to_s, format.to_sym == :json, source_name, environment, strict)
      remember(TemplateInfo.new(**info))
    end

    # Creates a task, its steps and their dependencies in one transaction; its root steps can run
    # at once.
    #
    # @param name [String] template name
    # @param namespace [String, nil] template namespace (default "default")
    # @param version [String, nil] template version (default "0.1.0")
    # @param context [Hash] the task's input, validated against the template's schema
    # @param initiator [String, nil]
    # @param source_system [String, nil]
    # @param reason [String, nil]
    # @param tags [Array<String>, nil]
    # @param bypass_steps [Array<String>, nil] names of skippable steps that must not run
    # @param requested_at [Time, String, nil] default now
    # @param identity [Symbol, nil] :unique (every request creates a task) or :hash (an identical
    #   request returns the task it created before); nil → the client's configuration
    # @param traceparent [String, nil] W3C trace context of the request, kept with the task: every
    #   step's span (in every language) is its child. nil: the current span's, when the app loaded
    #   OpenTelemetry ({Tracing}); else none
    # @return [Integer] the task id (an existing one for a duplicate :hash request; see
    #   {#find_or_create_task} to tell them apart)
    # @raise [NotFoundError] unknown template
    # @raise [ContextError] the context fails the template's schema
    def create_task(**request)
      find_or_create_task(**request).first
    end

    # Like {#create_task}, but also says whether the task was created now.
    # @return [Array(Integer, Boolean)] the task id, and true when this call created it
    def find_or_create_task(name:, namespace: nil, version: nil, context: {}, initiator: nil,
                            source_system: nil, reason: nil, tags: nil, bypass_steps: nil,
                            requested_at: nil, identity: nil, traceparent: nil)
      strategy = IDENTITY.fetch(identity&.to_sym) do
        raise ArgumentError, "identity must be :unique or :hash, not #{identity.inspect}"
      end
      requested_at = requested_at.getutc.strftime("%Y-%m-%d %H:%M:%S") if requested_at.respond_to?(:getutc)
      _create_task(name.to_s, namespace&.to_s, version&.to_s, context, initiator, source_system, reason,
                   tags, bypass_steps, requested_at, strategy, traceparent || Tracing.current_traceparent)
    end

    # Reads a task with all its steps and its execution context.
    # @param task_id [Integer]
    # @return [TaskView]
    # @raise [NotFoundError]
    def task(task_id)
      h = _task(task_id)
      h[:steps] = h[:steps].map { |s| StepView.new(**s) }
      h[:execution_context] = ExecutionContext.new(**h[:execution_context])
      TaskView.new(**h)
    end

    # @param task_id [Integer]
    # @return [ExecutionContext] what the task needs now
    def execution_context(task_id)
      ExecutionContext.new(**_execution_context(task_id))
    end

    # @param task_id [Integer]
    # @return [Array<Hash>] readiness of every step, column for column the engine's
    #   get_step_readiness_status
    def readiness(task_id)
      _readiness(task_id)
    end

    # Resolves a pending or failed step by hand; its dependents proceed.
    # @param step_id [Integer] workflow_step_id
    # @param results [Object] JSON-compatible results to record (optional)
    # @return [true]
    def resolve_step(step_id, results = nil)
      _resolve_step(step_id, results)
    end

    # (defined by the extension)
    # @!method cancel_task(task_id)
    #   Cancels a task: its unfinished steps and the task become cancelled.
    #   @return [true]
    #   @raise [TransitionError] when the task is in error or already cancelled (a finished task may be
    #     cancelled, as in the Rails engine: its steps keep their results)
    # @!method retry_task(task_id)
    #   Retries a task in error: its failed steps get a fresh set of attempts.
    #   @return [true]
    # @!method task_state(task_id)
    #   @return [String] "pending", "in_progress", "complete", "error", "cancelled" or "resolved_manually"
    # @!method step_state(step_id)
    #   @return [String]
    # @!method health
    #   @return [Hash] the system's health counts (get_system_health_counts)
    # @!method mermaid(task_id)
    #   @return [String] a Mermaid flowchart of the task's steps, coloured by state
    # @!method recover_expired_claims
    #   Recovers steps whose worker died (lease expired); workers do this on their own.
    #   @return [Integer] how many were recovered
    # @!method close
    #   Closes every connection (after the calls in progress finish).
    # @!method closed?
    #   @return [Boolean]

    # @return [String]
    def inspect
      "#<#{self.class.name}#{closed? ? ' closed' : ''} templates=#{templates.map(&:full_name)}>"
    end

    private

    def remember(info)
      @templates_lock.synchronize do
        @templates.reject! { |t| t.full_name == info.full_name }
        @templates << info
      end
      info
    end
  end
end
