# frozen_string_literal: true

require_relative "test_helper"

require_relative "support/opentelemetry_stand_in"

module TracingTestHandlers
  class First < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = { "first" => true }
  end

  class Flaky < TaskerCore::StepHandler::Base
    def process(_task, _sequence, step)
      raise TaskerCore::RetryableError.new("not yet", retry_after: 0) if step.attempts.zero?

      { "flaky" => "done" }
    end
  end
end

class TracingTest < TaskerTest
  H = TracingTestHandlers
  TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
  PARENT = "00f067aa0ba902b7"

  def setup
    OpenTelemetry::FINISHED.clear
  end

  def chain
    template([{ name: "first", handler_class: H::First.name },
              { name: "flaky", handler_class: H::Flaky.name, depends_on_step: "first" }])
  end

  def spans
    list = []
    list << OpenTelemetry::FINISHED.pop until OpenTelemetry::FINISHED.empty?
    list
  end

  def test_every_step_run_is_a_span_of_the_task_trace
    assert TaskerCore::Tracing.active?
    task = run_task(chain, handlers: [H::First, H::Flaky], traceparent: "00-#{TRACE}-#{PARENT}-01")
    assert_equal "complete", task.state
    got = spans.sort_by { |s| [s.attributes["tasker.step_id"], s.attributes["tasker.attempt"]] }
    assert_equal ["tasker.step first", "tasker.step flaky", "tasker.step flaky"], got.map(&:name)
    assert_equal [TRACE], got.map(&:trace_id).uniq, "one trace id per task"
    assert_equal [PARENT], got.map(&:parent_span_id).uniq, "each step span is a child of the request's span"
    assert_equal [:consumer], got.map(&:kind).uniq
    assert_equal task.task_id, got[0].attributes["tasker.task_id"]
    assert_equal [1, 1, 2], got.map { |s| s.attributes["tasker.attempt"] }
    assert_equal H::Flaky.name, got[1].attributes["tasker.handler_class"]
    failed = got[1]
    assert_equal :error, failed.status&.code
    assert_equal ["not yet"], failed.exceptions.map(&:message)
    assert_nil got[2].status
  end

  def test_a_task_created_inside_a_span_is_traced_under_it
    request_span = nil
    info = client.register_template(chain)
    id = OpenTelemetry.tracer_provider.tracer.in_span("POST /orders") do |span|
      request_span = span.data
      client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: {})
    end
    TaskerCore::Worker.new(client: client, handlers: [H::First, H::Flaky]).run_until_idle
    assert_equal "complete", client.task_state(id)
    steps = spans.reject { |s| s.name == "POST /orders" }
    assert_equal 3, steps.size
    assert_equal [request_span.trace_id], steps.map(&:trace_id).uniq
    assert_equal [request_span.span_id], steps.map(&:parent_span_id).uniq
  end

  # Without a traceparent there is no trace to join: each step run is a root span of its own (the
  # application decides where traces start); a malformed traceparent is refused, naming it.
  def test_without_a_traceparent_each_step_span_is_a_root
    run_task(chain, handlers: [H::First, H::Flaky])
    own = spans
    assert_equal 3, own.size
    assert_equal [nil], own.map(&:parent_span_id).uniq
    error = assert_raises(TaskerCore::ValidationError) do
      run_task(chain, handlers: [H::First], traceparent: "not-a-traceparent")
    end
    assert_match(/traceparent/, error.message)
  end
end
