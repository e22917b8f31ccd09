# frozen_string_literal: true

module TaskerCore
  # Runs Ruby step handlers. The C core claims ready steps (in batches, woken by LISTEN/NOTIFY),
  # renews leases, recovers steps of dead workers and records results in batches; the handlers run
  # concurrently on +concurrency+ Ruby threads. Every database wait happens without the GVL.
  #
  # @example
  #   worker = TaskerCore::Worker.new(client: client, concurrency: 10)
  #   worker.run # until SIGTERM/SIGINT or worker.stop
  class Worker
    # @return [Client]
    attr_reader :client
    # @return [Integer] handler threads
    attr_reader :concurrency
    # @return [Hash{String => Class}] handler_class name => handler class
    attr_reader :handlers

    # How often run_until_idle asks the core whether anything is left to do (milliseconds).
    IDLE_CHECK_MS = 20

    # @param client [Client]
    # @param concurrency [Integer] steps run at once (handler threads)
    # @param handlers [nil, Array, Hash] which handlers this worker runs. nil (default): every named
    #   subclass of {StepHandler::Base} plus, found by constant lookup, the handler classes of the
    #   templates +client+ registered. Or a list of classes / constant names, or
    #   { "handler_class" => Class }.
    # @param claim_batch [Integer, nil] steps claimed per transaction (default: configuration)
    # @param completion_batch [Integer, nil] results written per transaction (1: no batching)
    # @param completion_flush_ms [Integer, nil] longest a partial batch of results waits
    # @param lease_seconds [Integer, nil] how long a claimed step is owned before recovery
    # @param poll_interval_ms [Integer, nil] idle polling when no NOTIFY arrives
    # @param worker_id [String, nil] shown in claims (default "<host>:<pid>:<random>")
    # @raise [HandlerNotFoundError] when a handler class cannot be found
    def initialize(client:, concurrency: 10, handlers: nil, claim_batch: nil, completion_batch: nil,
                   completion_flush_ms: nil, lease_seconds: nil, poll_interval_ms: nil, worker_id: nil)
      @client = client
      @concurrency = Integer(concurrency)
      raise ArgumentError, "concurrency must be positive" unless @concurrency.positive?

      @handlers = HandlerResolver.resolve(handlers, client).freeze
      raise HandlerNotFoundError, "the worker has no step handlers to run" if @handlers.empty?

      options = { concurrency: @concurrency, claim_batch: claim_batch, completion_batch: completion_batch,
                  completion_flush_ms: completion_flush_ms, lease_seconds: lease_seconds,
                  poll_interval_ms: poll_interval_ms, worker_id: worker_id }
      triples = @handlers.map { |name, klass| [name, klass, StepHandler._accepts_config?(klass)] }
      _setup(client, triples, options)
    end

    # Runs steps until {#stop} is called or the process gets SIGTERM or SIGINT. Stopping is
    # graceful: no new claims, running handlers finish and their results are written, claimed steps
    # not started yet go back to the queue.
    # @param trap_signals [Boolean] stop on SIGTERM/SIGINT (previous handlers are restored after)
    # @return [self]
    def run(trap_signals: true)
      run_loop(until_idle: false, trap_signals: trap_signals)
    end

    # Runs steps until nothing this worker can run is queued (now or after a backoff) and nothing is
    # in flight. For tests and batch jobs.
    # @return [self]
    def run_until_idle
      run_loop(until_idle: true, trap_signals: false)
    end

    # Runs one step on the calling thread (delegation: a Sidekiq/ActiveJob job runs exactly this
    # step), and records its outcome.
    # @param step_id [Integer]
    # @return [true]
    # @raise [NotFoundError] when the step is not ready to run (already claimed, finished...)
    def execute_step(step_id)
      Records.with_client(@client) { _execute_step(step_id) }
    end

    # (defined by the extension)
    # @!method stop
    #   Asks a running worker to stop gracefully. Thread-safe; returns at once.
    # @!method processed
    #   @return [Integer] steps this worker processed (completed or failed and recorded)

    private

    # The core claims, renews leases and writes results on its own threads; +concurrency+ Ruby threads
    # take the steps it hands out and run the handlers. Until idle: stops once nothing is left.
    def run_loop(until_idle:, trap_signals:)
      _start
      threads = []
      previous = {}
      begin
        threads = Array.new(@concurrency) do |i|
          Thread.new do
            Thread.current.name = "tasker-handler-#{i}"
            Thread.current.report_on_exception = false
            Records.with_client(@client) { _serve }
          end
        end
        previous = trap_signals(%w[TERM INT]) if trap_signals
        if until_idle
          until _wait(IDLE_CHECK_MS)
            stop if _idle?
          end
        else
          _wait(-1)
        end
      ensure
        previous.each { |sig, handler| Signal.trap(sig, handler) }
        unless _wait(0) # still running (an exception): stop it; a stop after it stopped would stay for the next run
          stop
          _wait(-1)
        end
        join_all(threads)
      end
      self
    end

    def trap_signals(names)
      names.to_h { |sig| [sig, Signal.trap(sig) { stop }] }
    end

    def join_all(threads)
      failure = nil
      threads.each do |t|
        t.join
      rescue Exception => e # rubocop:disable Lint/RescueException -- re-raised once all threads are joined
        failure ||= e
      end
      raise failure if failure
    end
  end
end
