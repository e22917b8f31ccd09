# frozen_string_literal: true

module TaskerCore
  # A live event subscription (from {Client#subscribe}). Its events are delivered, in order, to the
  # block on one Ruby thread owned by the subscription. The C side copies each event into a bounded
  # queue (oldest dropped when full, counted in {#stats}); the engine never waits for the block.
  class Subscription
    # @return [String] the pattern given to {Client#subscribe}
    attr_reader :pattern
    # @return [Thread] the thread that runs the block
    attr_reader :thread

    # Stops delivery: after it returns no new event reaches the block; events still queued are
    # dropped (call {Client#flush_events} first to deliver them). Waits for the thread to finish
    # the event it is delivering, unless called from the block itself. Idempotent.
    # @return [true]
    def unsubscribe
      _unsubscribe
      @client&.send(:forget_subscription, self)
      @thread.join if @thread && @thread != Thread.current
      true
    end

    # Waits until every event received so far has been handed to the block and the block returned.
    # @param timeout [Numeric] seconds
    # @return [Boolean] false when the time ran out
    def flush(timeout: 10)
      return true if Thread.current == @thread

      _flush(timeout.to_f)
    end

    # @!method active?
    #   @return [Boolean] false once unsubscribed or the client is closed
    # @!method stats
    #   @return [Hash] :received, :delivered, :errors (exceptions raised by the block), :dropped
    #     (queue full), :queued

    # @return [String]
    def inspect
      "#<#{self.class.name} #{pattern.inspect}#{active? ? '' : ' inactive'} #{stats}>"
    end

    private

    def start(client, pattern)
      @client = client
      @pattern = pattern
      @thread = Thread.new { _run }
      @thread.name = "tasker-events"
      @thread.report_on_exception = false
      self
    end
  end

  class Client
    # Subscribes a block to this client's lifecycle events (docs/events.md has the catalog): the
    # events of every engine call made through this client, including a {Worker}'s running on it.
    # The block runs on the subscription's own Ruby thread, never on the engine's threads; an
    # exception it raises is counted and printed with +warn+, and changes nothing in the workflow.
    #
    # @example
    #   sub = client.subscribe("step.*") { |name, payload| puts "#{name} #{payload['step_name']}" }
    #   ...
    #   sub.unsubscribe
    #
    # @param pattern [String] an event name, or a pattern where +*+ matches any characters, dots
    #   included: "step.*", "*.failed", "*"
    # @param queue_capacity [Integer] events held for the block; when full, the oldest is dropped
    # @yieldparam name [String] "step.completed"
    # @yieldparam payload [Hash] the event's payload (string keys: "task_id", "step_name", ...)
    # @return [Subscription]
    # @raise [ValidationError] for a malformed pattern
    def subscribe(pattern, queue_capacity: 10_000, &block)
      raise ArgumentError, "subscribe needs a block" unless block

      sub = _subscribe(pattern.to_s, queue_capacity, block)
      sub.send(:start, self, pattern.to_s)
      subscriptions_lock.synchronize { @subscriptions << sub }
      sub
    end

    # The delegation enqueuer hook: yields the workflow_step_ids of steps that became claimable
    # (a task's root steps at creation, children once their parents are done, steps of a retried
    # task), built on the +workflow.viable_steps_discovered+ event. Enqueue a job per id that calls
    # {TaskerCore.execute_step}.
    #
    # It fires in the process whose engine call made the steps ready (the one that created the task
    # or completed the parent step). Other processes learn about them through the cross-process
    # event watcher (+tasker events watch+, persisted events) — not wrapped by the gem yet.
    #
    # @yieldparam step_ids [Array<Integer>]
    # @yieldparam task_id [Integer]
    # @return [Subscription]
    def on_steps_ready(&block)
      raise ArgumentError, "on_steps_ready needs a block" unless block

      subscribe("workflow.viable_steps_discovered") do |_name, payload|
        block.call(Array(payload["step_ids"]), payload["task_id"])
      end
    end

    # Waits until every subscription of this client has delivered the events published so far.
    # @param timeout [Numeric] seconds
    # @return [Boolean] false when the time ran out
    def flush_events(timeout: 10)
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      ok = closed? || _flush_core_events((timeout * 1000).to_i)
      subscriptions.each do |sub|
        left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
        ok = sub.flush(timeout: [left, 0].max) && ok
      end
      ok
    end

    # @return [Array<Subscription>] the active subscriptions
    def subscriptions
      subscriptions_lock.synchronize { @subscriptions.select(&:active?) }
    end

    private

    attr_reader :subscriptions_lock

    def forget_subscription(sub)
      subscriptions_lock.synchronize { @subscriptions.delete(sub) }
    end
  end
end
