# frozen_string_literal: true

require "tasker_core"

# Rails engine compatibility: +require "tasker_core/compat"+ defines the engine's handler API on top
# of this gem, so a handler file written for the Rails engine Tasker loads and runs unchanged:
#
#   class ValidateCartHandler < Tasker::StepHandler::Base
#     def process(task, sequence, step) ... end
#     def process_results(step, process_output, initial_results) ... end
#   end
#
# Tasker::RetryableError / Tasker::PermanentError are the gem's classes, so the worker classifies
# them exactly like TaskerCore's. Not for a process that also loads the Rails engine itself.
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

  module StepHandler
    # The Rails engine's handler base class: +new(config: nil)+, +process(task, sequence, step)+,
    # optional +process_results(step, process_output, initial_results)+, +config+.
    class Base < TaskerCore::StepHandler::Base
    end
  end
end
