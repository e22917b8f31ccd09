# frozen_string_literal: true

module Tasker
  module Types
    # The Rails engine's task request, as a controller builds it:
    #   Tasker::Types::TaskRequest.new(name: "process_order", namespace: "ecommerce", version: "1.0.0",
    #                                  context: { cart_id: 42 })
    # (a Hash argument works too, string or symbol keys; keys it does not know are ignored, as the
    # engine's dry-struct ignores them). name and context are required.
    class TaskRequest
      DEFAULTS = { namespace: "default", version: "0.1.0", status: "pending", initiator: "unknown",
                   source_system: "unknown", reason: "unknown", complete: false, tags: [].freeze,
                   bypass_steps: [].freeze }.freeze
      ATTRIBUTES = (%i[name context requested_at] + DEFAULTS.keys).freeze

      attr_reader(*ATTRIBUTES)

      # @raise [ArgumentError] without a name (String) or a context (Hash)
      def initialize(attributes = {}, **keywords)
        values = DEFAULTS.merge(attributes.to_h.merge(keywords).transform_keys(&:to_sym).slice(*ATTRIBUTES).compact)
        raise ArgumentError, "Tasker::Types::TaskRequest: name must be a String" unless values[:name].is_a?(String)
        raise ArgumentError, "Tasker::Types::TaskRequest: context must be a Hash" unless values[:context].respond_to?(:to_hash)

        values[:requested_at] ||= Time.now.utc
        ATTRIBUTES.each { |a| instance_variable_set(:"@#{a}", values[a]) }
      end

      def [](attribute) = public_send(attribute)
      def to_h = ATTRIBUTES.to_h { |a| [a, public_send(a)] }
    end
  end

  # The Rails engine's registry of task handlers. Here a task's template is registered with the core
  # (config/tasker/tasks/ by the Railtie, or TaskerCore.client.register_template); +get+ returns the
  # handler that creates tasks of that template.
  class HandlerFactory
    def self.instance = @instance ||= new

    # @return [TaskerCore::Compat::TaskHandler] the handler of a template; whether it exists is known
    #   when a task is created (TaskerCore::ProceduralError then names it)
    def get(name, namespace_name: "default", version: "0.1.0")
      TaskerCore::Compat::TaskHandler.new(name.to_s, namespace_name.to_s, version.to_s)
    end
  end
end

module TaskerCore
  module Compat
    # What Tasker::HandlerFactory#get returns: creates tasks of one template in the core.
    class TaskHandler
      attr_reader :name, :namespace_name, :version

      def initialize(name, namespace_name, version)
        @name = name
        @namespace_name = namespace_name
        @version = version
      end

      # Creates the task (its steps, their dependencies) in one transaction in the core, as the engine's
      # initialize_task! does; workers then run it. A context that fails the template's schema gives an
      # unsaved task whose errors say why, as in the engine.
      # @param task_request [Tasker::Types::TaskRequest]
      # @return [TaskerCore::TaskRecord, UnsavedTask]
      # @raise [TaskerCore::ProceduralError] when no template is registered under that name
      def initialize_task!(task_request, client: TaskerCore.client)
        id = client.create_task(name: task_request.name, namespace: task_request.namespace,
                                version: task_request.version, context: task_request.context.to_hash,
                                initiator: task_request.initiator, source_system: task_request.source_system,
                                reason: task_request.reason, tags: task_request.tags,
                                bypass_steps: task_request.bypass_steps, requested_at: task_request.requested_at)
        client.task_record(id)
      rescue ContextError => e
        UnsavedTask.new(task_request, :context, e.message)
      rescue NotFoundError => e
        raise ProceduralError, "No task handler for #{task_request.namespace}.#{task_request.name}@" \
                               "#{task_request.version}: #{e.message}"
      end
    end

    # A task that was not created, with the errors that stopped it (the engine's unsaved Tasker::Task).
    class UnsavedTask
      attr_reader :errors, :context, :name, :namespace_name, :version

      def initialize(task_request, attribute, message)
        @errors = RecordErrors.new
        @errors.add(attribute, message)
        @context = task_request.context
        @name = task_request.name
        @namespace_name = task_request.namespace
        @version = task_request.version
      end

      def task_id = nil
      alias id task_id
      def persisted? = false
      def new_record? = true
      def valid? = false
    end
  end
end
