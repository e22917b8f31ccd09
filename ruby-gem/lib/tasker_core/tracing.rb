# frozen_string_literal: true

module TaskerCore
  # The OpenTelemetry bridge. When the application has loaded the OpenTelemetry API (the
  # `opentelemetry-api` gem, with the SDK most Rails apps configure), every step a Ruby handler runs is
  # a span whose parent is the W3C traceparent its task was created with, so the spans of one task —
  # from the Ruby, Python and Node workers alike — share one trace id. A task created from Ruby without
  # a traceparent takes the current span's. Without OpenTelemetry nothing happens (one `defined?` per
  # step); the gem never requires it.
  #
  # The OpenTelemetry calls it makes, all of them:
  #   OpenTelemetry.tracer_provider.tracer("tasker-core", TaskerCore::VERSION)
  #   OpenTelemetry.propagation.extract({ "traceparent" => task.traceparent })
  #   OpenTelemetry.propagation.inject(carrier)            (a Hash; create_task without a traceparent)
  #   OpenTelemetry::Context.with_current(context) { ... }
  #   tracer.in_span(name, attributes: { ... }, kind: :consumer) { |span| ... }
  # (in_span records an exception the block raises on the span, marks it an error and re-raises).
  module Tracing
    TRACER = "tasker-core"

    module_function

    # @return [Boolean] whether the application loaded the OpenTelemetry API
    def active?
      defined?(::OpenTelemetry.tracer_provider) ? true : false
    end

    # @return [String, nil] the current span's traceparent, when OpenTelemetry is loaded
    def current_traceparent
      return nil unless active?

      carrier = {}
      ::OpenTelemetry.propagation.inject(carrier)
      carrier["traceparent"]
    end

    # Runs the block inside the step's span (a child of the task's traceparent, when it has one).
    def in_step_span(task, step, &block)
      tracer = ::OpenTelemetry.tracer_provider.tracer(TRACER, VERSION)
      parent = task.traceparent
      context = parent ? ::OpenTelemetry.propagation.extract({ "traceparent" => parent }) : nil
      run = proc { tracer.in_span("tasker.step #{step.name}", attributes: attributes(task, step), kind: :consumer, &block) }
      context ? ::OpenTelemetry::Context.with_current(context, &run) : run.call
    end

    def attributes(task, step)
      { "tasker.task_id" => task.task_id, "tasker.namespace" => task.namespace_name.to_s,
        "tasker.task_name" => task.name.to_s, "tasker.step_id" => step.workflow_step_id,
        "tasker.step_name" => step.name, "tasker.handler_class" => step.handler_class.to_s,
        "tasker.attempt" => step.attempts + 1 }
    end

    # Wraps every handler run (StepHandler::Base#handle) in its span.
    module Handle
      def handle(task, sequence, step)
        return super unless Tracing.active?

        Tracing.in_step_span(task, step) { super }
      end
    end
  end

  StepHandler::Base.prepend(Tracing::Handle)
end
