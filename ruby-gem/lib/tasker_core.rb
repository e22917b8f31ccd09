# frozen_string_literal: true

require "tasker_core/version"
require "tasker_core/tasker_core_ext"
require "tasker_core/errors"
require "tasker_core/views"
require "tasker_core/client"
require "tasker_core/events"
require "tasker_core/step_handler"
require "tasker_core/logging"
require "tasker_core/records"
require "tasker_core/model_readers"
require "tasker_core/handler_resolver"
require "tasker_core/worker"
require "tasker_core/tracing"

# tasker-core: workflow orchestration on PostgreSQL, with step handlers written in Ruby.
#
# @example
#   client = TaskerCore::Client.new
#   client.migrate!
#   client.register_template("process_order.yaml")
#   client.create_task(name: "process_order", namespace: "ecommerce", version: "1.0.0", context: {})
#   TaskerCore::Worker.new(client: client).run
module TaskerCore
  @lock = Mutex.new
  @delegates = {}

  class << self
    # The process-wide client used by {execute_step} (opened on first use from
    # $TASKER_DATABASE_URL / $DATABASE_URL unless set).
    # @return [Client]
    def client
      @lock.synchronize { @client ||= @client_builder ? @client_builder.call : Client.new }
    end

    # How {client} opens the process-wide client (the Railtie and tasker_core/compat set it); nil →
    # Client.new.
    # @return [#call, nil]
    def client_builder
      @lock.synchronize { @client_builder }
    end

    # @param builder [#call, nil]
    def client_builder=(builder)
      @lock.synchronize { @client_builder = builder }
    end

    # @param client [Client]
    def client=(client)
      @lock.synchronize do
        @client = client
        @delegates.clear
      end
    end

    # Delegation for job systems (Sidekiq, ActiveJob): claims one ready step, runs its handler in
    # the calling thread, and records the outcome — exactly what a worker does for that step.
    #
    # @param step_id [Integer] workflow_step_id of a step that is ready to run
    # @param client [Client]
    # @return [true]
    # @raise [NotFoundError] when the step is not waiting to run
    # @raise [HandlerNotFoundError] when its handler_class names no handler class
    def execute_step(step_id, client: self.client)
      name = client.send(:_step_handler_class, step_id)
      worker = @lock.synchronize do
        @delegates[[client, name]] ||= Worker.new(client: client, concurrency: 1,
                                                  handlers: { name => HandlerResolver.lookup(name) })
      end
      worker.execute_step(step_id)
    end

    # Validates a template file without a database.
    # @return [TemplateInfo]
    # @raise [TemplateError]
    def validate_template(path, environment: nil)
      TemplateInfo.new(**_validate_template_file(path.to_s, environment))
    end
  end
end

require "tasker_core/railtie" if defined?(Rails::Railtie)
