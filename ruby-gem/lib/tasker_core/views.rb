# frozen_string_literal: true

module TaskerCore
  # A registered task template: its identity and its steps.
  #
  # @!attribute [r] namespace
  #   @return [String]
  # @!attribute [r] name
  #   @return [String]
  # @!attribute [r] version
  #   @return [String]
  # @!attribute [r] step_count
  #   @return [Integer]
  # @!attribute [r] steps
  #   @return [Array<Hash>] one Hash per step: :name, :handler_class, :depends_on, :retry_limit,
  #     :retryable, :skippable
  TemplateInfo = Struct.new(:namespace, :name, :version, :step_count, :steps, keyword_init: true) do
    # @return [String] "namespace.name@version", as the Rails engine names it
    def full_name
      "#{namespace}.#{name}@#{version}"
    end

    # @return [Array<String>] the distinct handler classes the template's steps name
    def handler_classes
      steps.map { |s| s[:handler_class] }.uniq
    end
  end

  # What a task needs now (the engine's get_task_execution_context, with its corrections).
  ExecutionContext = Struct.new(:task_id, :named_task_id, :status, :total_steps, :pending_steps,
                                :in_progress_steps, :completed_steps, :failed_steps, :ready_steps,
                                :execution_status, :recommended_action, :completion_percentage,
                                :health_status, :next_ready_at, keyword_init: true)

  # One step of a task as {Client#task} reads it.
  StepView = Struct.new(:workflow_step_id, :name, :handler_class, :state, :attempts, :retry_limit,
                        :retryable, :skippable, :processed, :results, :parent_ids, keyword_init: true) do
    alias_method :id, :workflow_step_id
    alias_method :processed?, :processed
    alias_method :retryable?, :retryable
    alias_method :skippable?, :skippable

    # @return [Boolean] whether the step is complete
    def complete?
      state == "complete"
    end
  end

  # A task with its steps (in dependency order) and its execution context, as {Client#task} reads it.
  TaskView = Struct.new(:task_id, :namespace, :name, :version, :state, :complete, :context, :tags,
                        :initiator, :source_system, :reason, :identity_hash, :requested_at, :steps,
                        :execution_context, keyword_init: true) do
    alias_method :id, :task_id

    # @return [Boolean] whether the task is complete
    def complete?
      state == "complete"
    end

    # @param name [String, Symbol]
    # @return [StepView, nil] the step with that name
    def step(name)
      steps.find { |s| s.name == name.to_s }
    end
  end
end
