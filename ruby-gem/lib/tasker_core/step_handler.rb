# frozen_string_literal: true

module TaskerCore
  # Step handlers: subclass {StepHandler::Base} and override +process+.
  module StepHandler
    @descendants = []
    @lock = Mutex.new

    class << self
      # @return [Array<Class>] every named subclass of {Base} defined so far, in definition order
      def descendants
        @lock.synchronize { @descendants.select(&:name) }
      end

      # @api private
      def track(klass)
        @lock.synchronize { @descendants << klass }
      end
    end

    # The base class of Ruby step handlers, defined by the extension. The worker creates one
    # instance per step run (+new(config: handler_config)+) and calls {#handle}, which runs the
    # lifecycle in C: +process+, then +process_results+, then records +step.results+. An exception
    # fails the step: {TaskerCore::PermanentError} for good, {TaskerCore::RetryableError} (with
    # +retry_after+) or any other exception to be retried after a backoff while attempts remain;
    # the class, message and backtrace are recorded. Results with no JSON form (NaN, an object with
    # neither +as_json+ nor a +to_s+ of its own) fail the step for good, with error_code
    # INVALID_RESULT. Every language follows the same rules: the handler specification in the
    # repository's tests/conformance/README.md.
    #
    # @example
    #   class ValidateCart < TaskerCore::StepHandler::Base
    #     def process(task, sequence, step)
    #       cart = task.context.fetch("cart")
    #       raise TaskerCore::PermanentError.new("empty cart", error_code: "EMPTY") if cart.empty?
    #       { "total" => cart.sum { |i| i["price"] * i["quantity"] } }
    #     end
    #   end
    #
    # @!method initialize(config: nil)
    #   @param config [Hash, nil] the step template's handler_config
    # @!attribute [r] config
    #   @return [Hash, nil] the step template's handler_config
    # @!method process(task, sequence, step)
    #   Does the step's work. Override it. Return the results (any JSON-compatible value), or
    #   assign +step.results+ yourself (which then wins, as in the Rails engine).
    #   @param task [TaskerCore::Task]
    #   @param sequence [TaskerCore::Sequence]
    #   @param step [TaskerCore::Step]
    #   @return [Object] the results
    # @!method process_results(step, process_output, initial_results)
    #   Decides what is stored. The default stores +process_output+ unless +process+ assigned
    #   +step.results+. Override it to reshape results.
    # @!method handle(task, sequence, step)
    #   Runs the lifecycle; called by the worker.
    #   @return [Object] step.results
    class Base
      # @api private
      def self.inherited(subclass)
        super
        StepHandler.track(subclass)
      end

      # @return [String] the handler_class name templates use for this class (its constant name)
      def self.handler_name
        name
      end
    end
  end

  # The task a step belongs to, as a handler sees it (read-only; built by the extension).
  # @!method task_id
  #   @return [Integer]
  # @!method context
  #   @return [Hash] the task's context (string keys)
  # @!method name
  #   @return [String] the template name
  # @!method namespace_name
  #   @return [String]
  # @!method version
  #   @return [String]
  # @!method tags
  #   @return [Array]
  # @!method initiator
  # @!method source_system
  # @!method reason
  class Task
    # @return [String]
    def inspect
      "#<TaskerCore::Task #{task_id} #{namespace_name}.#{name}@#{version}>"
    end
  end

  # All steps of the task, with their states and results (built by the extension).
  # @!method steps
  #   @return [Array<TaskerCore::Step>] in workflow_step_id order; the running step is among them
  # @!method find_step_by_name(name)
  #   @return [TaskerCore::Step, nil]
  # @!method current_step
  #   @return [TaskerCore::Step] the step being run
  class Sequence
    include Enumerable

    # @yieldparam step [TaskerCore::Step]
    def each(&block)
      steps.each(&block)
    end

    # @return [String]
    def inspect
      "#<TaskerCore::Sequence #{steps.map(&:name).join(', ')}>"
    end
  end

  # A workflow step (built by the extension). The step being run has every attribute; the other
  # steps of a {Sequence} have id, name, state, attempts and results.
  # @!method workflow_step_id
  #   @return [Integer]
  # @!method name
  #   @return [String]
  # @!method state
  #   @return [String]
  # @!method attempts
  #   @return [Integer] attempts finished before this one
  # @!method retry_limit
  #   @return [Integer, nil]
  # @!method retryable
  #   @return [Boolean, nil]
  # @!method handler_class
  #   @return [String, nil]
  # @!method handler_config
  #   @return [Hash, nil] the step template's handler_config
  # @!method inputs
  #   @return [Hash] the step's inputs (the task context when it was created)
  # @!method results
  #   @return [Object] results so far (of a dependency: what it produced)
  # @!method results=(value)
  #   Sets what will be recorded for this step; wins over the value +process+ returns.
  class Step
    alias id workflow_step_id

    # @return [Boolean]
    def complete?
      state == "complete"
    end

    # @return [String]
    def inspect
      "#<TaskerCore::Step #{workflow_step_id} #{name} #{state}>"
    end
  end
end
