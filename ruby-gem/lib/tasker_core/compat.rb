# frozen_string_literal: true

require "tasker_core"

# Rails engine compatibility: +require "tasker_core/compat"+ defines the engine's API on top of this gem,
# so that code written for the Rails engine Tasker loads and runs unchanged:
#
# - handlers: Tasker::StepHandler::Base (+process(task, sequence, step)+, +process_results+, +config+),
#   Tasker::RetryableError / Tasker::PermanentError (the gem's classes, so the worker classifies them
#   exactly like TaskerCore's), and the engine's model readers on task and step (task.id,
#   task.context[:key] with indifferent access, step.processed_at, ...; lib/tasker_core/model_readers.rb);
# - controllers: Tasker::Types::TaskRequest and Tasker::HandlerFactory.instance.get(...).initialize_task!
#   create the task in the core (compat/task_request.rb);
# - configuration: Tasker.configure / Tasker::Configuration.configuration blocks (compat/configuration.rb);
# - Tasker::Task.find(id): the task's rows, read-only (TaskerCore::TaskRecord).
#
# Not for a process that also loads the Rails engine itself.
if defined?(Tasker::StepHandler::Base) && !(Tasker::StepHandler::Base <= TaskerCore::StepHandler::Base)
  raise LoadError, "tasker_core/compat: the Rails engine Tasker is loaded; its Tasker::StepHandler::Base " \
                   "cannot be replaced (run tasker-core workers in a process without the engine)"
end

module Tasker
  Error = TaskerCore::Error unless const_defined?(:Error, false)
  ConfigurationError = TaskerCore::ConfigurationError unless const_defined?(:ConfigurationError, false)
  ProceduralError = TaskerCore::ProceduralError unless const_defined?(:ProceduralError, false)
  RetryableError = TaskerCore::RetryableError unless const_defined?(:RetryableError, false)
  PermanentError = TaskerCore::PermanentError unless const_defined?(:PermanentError, false)
  Task = TaskerCore::TaskRecord unless const_defined?(:Task, false)

  module StepHandler
    # The Rails engine's handler base class: +new(config: nil)+, +process(task, sequence, step)+,
    # optional +process_results(step, process_output, initial_results)+, +config+.
    class Base < TaskerCore::StepHandler::Base
    end
  end
end

module TaskerCore
  # What the compatibility layer changes in the gem's own objects.
  module Compat
    # The engine hands handlers the task's context with indifferent access (string or symbol keys):
    # ActiveSupport's HashWithIndifferentAccess, as the engine's start_task does, when ActiveSupport is
    # loaded (it always is in a Rails application).
    module IndifferentContext
      def context
        return super unless defined?(ActiveSupport::HashWithIndifferentAccess)

        @indifferent_context ||= ActiveSupport::HashWithIndifferentAccess.new(super)
      end
    end
  end

  Task.prepend(Compat::IndifferentContext)
end

require "tasker_core/compat/task_request"
require "tasker_core/compat/configuration"
