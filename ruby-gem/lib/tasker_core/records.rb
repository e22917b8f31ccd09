# frozen_string_literal: true

module TaskerCore
  # A task's rows as the Rails engine's models read them (Tasker::Task, Tasker::WorkflowStep, the
  # named task and named steps), read with {Client#task_record} in one query: every column, the current
  # states, the DAG's edges. Read-only snapshots: {TaskRecord#reload} reads again.
  module Records
    CLIENT_KEY = :tasker_core_records_client
    RUN_KEY = :tasker_core_records_run
    TIME = /\A(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\z/

    module_function

    # Runs the block with `client` as the database behind the handler objects of this thread (the worker
    # does this around the handlers it runs).
    def with_client(client)
      previous = Thread.current[CLIENT_KEY]
      Thread.current[CLIENT_KEY] = client
      yield
    ensure
      Thread.current[CLIENT_KEY] = previous
    end

    # @return [Client] the client of the worker running this thread's handler
    def client
      Thread.current[CLIENT_KEY] or
        raise Error, "this reader needs the task's rows, which are read while a TaskerCore::Worker runs the " \
                     "handler (or inside TaskerCore::Records.with_client(client) { ... })"
    end

    # One handler run: the task, sequence and steps it was given share one read of the rows, and a step
    # knows its task and its sequence.
    def run(task, sequence)
      previous = Thread.current[RUN_KEY]
      Thread.current[RUN_KEY] = { task_id: task.task_id, task: task, sequence: sequence }
      yield
    ensure
      Thread.current[RUN_KEY] = previous
    end

    # @return [Hash, nil] the handler run of `task_id` going on in this thread
    def current(task_id)
      run = Thread.current[RUN_KEY]
      run if run && run[:task_id] == task_id
    end

    # The rows of `task_id`: read once per handler run, else once per asking object (`memo`, a Hash).
    # @return [TaskRecord]
    def task(task_id, memo)
      holder = current(task_id) || memo
      holder[:record] ||= TaskRecord.new(client.send(:_task_record, task_id), client: client)
    end

    # "2024-01-31T12:00:00.123456" (UTC, as the tables store it) → Time (UTC); nil stays nil.
    def time(text)
      return nil if text.nil?

      m = TIME.match(text) or raise Error, "unexpected timestamp #{text.inspect}"
      Time.utc(*m[1..6].map(&:to_i), m[7].to_s.ljust(6, "0").to_i)
    end
  end

  # An empty, ActiveModel-like error list: what a record that was saved answers to #errors.
  class RecordErrors
    include Enumerable

    def initialize
      @messages = Hash.new { |h, k| h[k] = [] }
    end

    # @param attribute [Symbol] @param message [String]
    def add(attribute, message)
      @messages[attribute.to_sym] << message.to_s
    end

    def [](attribute) = @messages.fetch(attribute.to_sym, [])
    def empty? = @messages.values.all?(&:empty?)
    def any? = !empty?
    def each(&block) = full_messages.each(&block)
    def full_messages = @messages.flat_map { |attr, list| list.map { |m| "#{attr} #{m}" } }
    def to_hash = @messages.transform_values(&:dup)
    alias to_h to_hash
    def as_json(*) = to_hash
    def to_json(*args) = to_hash.to_json(*args)
  end

  # The named task (template) of a task: tasker_named_tasks with its namespace's name.
  NamedTaskRecord = Struct.new(:named_task_id, :name, :namespace_name, :task_namespace_id, :version,
                               :description, :configuration, :created_at, :updated_at, keyword_init: true) do
    alias_method :id, :named_task_id
    # @return [String] "namespace.name@version", as the engine names it
    def full_name = "#{namespace_name}.#{name}@#{version}"

    # @return [#name, #task_namespace_id] the namespace (Tasker::TaskNamespace)
    def task_namespace = TaskNamespaceRecord.new(task_namespace_id: task_namespace_id, name: namespace_name)
  end

  # A task namespace: tasker_task_namespaces (its name and id).
  TaskNamespaceRecord = Struct.new(:task_namespace_id, :name, keyword_init: true) do
    alias_method :id, :task_namespace_id
  end

  # A named step: tasker_named_steps.
  NamedStepRecord = Struct.new(:named_step_id, :name, :description, :dependent_system_id, :created_at,
                               :updated_at, keyword_init: true) do
    alias_method :id, :named_step_id
  end

  # Row readers shared by tasks and steps: every column by name, and [] as ActiveRecord has it.
  class Record
    def self.columns(*names, times: [])
      names.each { |n| define_method(n) { @row[n.to_s] } }
      times.each { |n| define_method(n) { Records.time(@row[n.to_s]) } }
    end

    def initialize(row)
      @row = row
    end

    # @return [Object] a column's value (timestamps as stored: text)
    def [](column) = @row[column.to_s]

    # @return [Hash] every column, as stored
    def attributes = @row.dup
    def persisted? = true
    def new_record? = false
    def errors = @errors ||= RecordErrors.new
  end

  # A workflow step's row (Tasker::WorkflowStep). `status` is the current state.
  class StepRecord < Record
    columns :workflow_step_id, :task_id, :named_step_id, :name, :status, :retryable, :retry_limit, :skippable,
            :in_process, :processed, :attempts, :backoff_request_seconds, :inputs, :results, :parent_ids,
            :child_ids, times: %i[processed_at last_attempted_at created_at updated_at]
    alias id workflow_step_id
    alias state status
    alias retryable? retryable
    alias skippable? skippable
    alias processed? processed
    alias in_process? in_process

    def named_step
      @named_step ||= NamedStepRecord.new(**@row["named_step"].slice(*NamedStepRecord.members.map(&:to_s))
                                                               .transform_keys(&:to_sym))
    end

    def complete? = %w[complete resolved_manually].include?(status)
    def in_progress? = status == "in_progress"
    def pending? = status == "pending"
    def in_error? = status == "error"
    def cancelled? = status == "cancelled"

    def inspect = "#<#{self.class.name} #{workflow_step_id} #{name} #{status}>"
  end

  # A task's row (Tasker::Task), with its named task and its steps. `status` is the current state.
  class TaskRecord < Record
    columns :task_id, :named_task_id, :complete, :initiator, :source_system, :reason, :bypass_steps, :tags,
            :context, :identity_hash, :status, times: %i[requested_at created_at updated_at]
    alias id task_id
    alias complete? complete

    # Reads a task's rows.
    # @param task_id [Integer]
    # @param client [Client]
    # @return [TaskRecord]
    # @raise [NotFoundError]
    def self.find(task_id, client: TaskerCore.client)
      new(client.send(:_task_record, Integer(task_id)), client: client)
    end

    # @param record [Hash] what {Client#task_record} read: "task" and "workflow_steps"
    def initialize(record, client: nil)
      super(record.fetch("task"))
      @steps = record.fetch("workflow_steps")
      @client = client
    end

    def named_task
      @named_task ||= begin
        nt = @row.fetch("named_task")
        NamedTaskRecord.new(**nt.slice(*NamedTaskRecord.members.map(&:to_s)).transform_keys(&:to_sym)).tap do |r|
          r.created_at = Records.time(r.created_at)
          r.updated_at = Records.time(r.updated_at)
        end
      end
    end

    def name = named_task.name
    def namespace_name = named_task.namespace_name
    def version = named_task.version

    # @return [Object, nil] the template's task-level handler_config
    def handler_config
      config = named_task.configuration
      config.is_a?(Hash) ? config["handler_config"] : nil
    end

    # @return [Array<StepRecord>] in workflow_step_id order
    def workflow_steps = @workflow_steps ||= @steps.map { |s| StepRecord.new(s) }

    # @return [StepRecord, nil]
    def get_step_by_name(name) = workflow_steps.find { |s| s.name == name.to_s }

    # @return [StepRecord, nil]
    def step(workflow_step_id) = workflow_steps.find { |s| s.workflow_step_id == workflow_step_id }

    def all_steps_complete? = workflow_steps.all?(&:complete?)

    # Reads the rows again (needs the client it was read with).
    # @return [TaskRecord]
    def reload
      raise Error, "this TaskRecord was not read through a client: use TaskRecord.find" unless @client

      initialize(@client.send(:_task_record, task_id), client: @client)
      @named_task = @workflow_steps = nil
      self
    end

    def inspect = "#<#{self.class.name} #{task_id} #{named_task.full_name} #{status}>"
  end

  class Client
    # Reads a task's rows as the Rails engine's models read them.
    # @param task_id [Integer]
    # @return [TaskRecord]
    # @raise [NotFoundError]
    def task_record(task_id)
      TaskRecord.new(_task_record(Integer(task_id)), client: self)
    end
  end
end
