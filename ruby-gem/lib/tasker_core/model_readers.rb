# frozen_string_literal: true

module TaskerCore
  # The readers of the Rails engine's models (Tasker::Task, Tasker::WorkflowStep) on the task and the
  # steps a handler receives, so that handler code written for the engine runs unchanged. What the
  # claimed step carries is answered from memory; the rest (timestamps, processed, the named task, the
  # DAG's edges...) comes from the task's rows ({TaskRecord}), read once per handler run on first use.
  module ModelReaders
    # Marks one handler run so that its task, sequence and steps share one read of the rows.
    module HandlerRun
      def handle(task, sequence, step)
        Records.run(task, sequence) { super }
      end
    end

    # Readers of the rows that answer nil on a sequence's other steps (the claim carries them only for
    # the step being run).
    module StepFromRows
      def retry_limit = super.nil? ? record.retry_limit : super
      def retryable = super.nil? ? record.retryable : super
      def inputs = current? ? super : record.inputs
    end
  end

  class Task
    alias id task_id

    # @return [TaskRecord] this task's rows
    def record = Records.task(task_id, (@rows ||= {}))

    %i[named_task_id named_task complete complete? requested_at identity_hash bypass_steps created_at updated_at
       status handler_config all_steps_complete? workflow_steps].each do |reader|
      define_method(reader) { record.public_send(reader) }
    end

    # @return [StepRecord, nil] the step of this task with that name
    def get_step_by_name(name) = record.get_step_by_name(name)
  end

  class Step
    prepend ModelReaders::StepFromRows

    alias status state

    def retryable? = retryable

    # @return [StepRecord] this step's row
    def record = Records.task(task_id, (@rows ||= {})).step(workflow_step_id)

    %i[named_step_id named_step skippable processed processed_at last_attempted_at backoff_request_seconds
       created_at updated_at].each do |reader|
      define_method(reader) { record.public_send(reader) }
    end
    alias skippable? skippable
    alias processed? processed

    # Whether a worker runs the step now. Derived from the state: tasker-core keeps the claim in its own
    # table, not in the in_process column.
    def in_process = state == "in_progress"
    alias in_process? in_process
    def in_progress? = state == "in_progress"
    def pending? = state == "pending"
    def in_error? = state == "error"
    def cancelled? = state == "cancelled"

    # Whether this is the step being run (the others are its sequence's).
    def current? = !handler_class.nil?

    # @return [Task, TaskRecord] the task (the handler's own object during a handler run)
    def task = Records.current(task_id)&.fetch(:task) || Records.task(task_id, (@rows ||= {}))

    # @return [Array<Step, StepRecord>] the steps this one depends on
    def parents = related(record.parent_ids)

    # @return [Array<Step, StepRecord>] the steps that depend on this one
    def children = related(record.child_ids)

    private

    def related(ids)
      run = Records.current(task_id)
      steps = run ? run[:sequence].steps : Records.task(task_id, (@rows ||= {})).workflow_steps
      steps.select { |s| ids.include?(s.workflow_step_id) }
    end
  end

  StepHandler::Base.prepend(ModelReaders::HandlerRun)
end
