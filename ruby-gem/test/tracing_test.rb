# frozen_string_literal: true

require_relative "test_helper"

# The OpenTelemetry gems cannot be installed here, so this test drives the bridge
# (lib/tasker_core/tracing.rb) against a stand-in of exactly the API surface the bridge calls, with
# the behaviour the real API documents: contexts are per thread, extract parses a W3C traceparent,
# inject writes the current span's, in_span starts a child of the current context's span (or a new
# trace), records an exception the block raises on the span, marks it an error and re-raises.
# Finished spans go to an in-memory list, as the SDK's InMemorySpanExporter keeps them.
module OpenTelemetry
  SpanData = Struct.new(:name, :trace_id, :span_id, :parent_span_id, :attributes, :kind, :status, :exceptions)
  FINISHED = Queue.new

  module Trace
    Status = Struct.new(:code, :description) do
      def self.error(description = "") = new(:error, description)
    end
  end

  # A context holds at most a span's ids (trace_id, span_id).
  class Context
    attr_reader :trace_id, :span_id

    def initialize(trace_id = nil, span_id = nil)
      @trace_id = trace_id
      @span_id = span_id
    end

    def self.current = Thread.current[:stand_in_otel_context] || new

    def self.with_current(context)
      previous = Thread.current[:stand_in_otel_context]
      Thread.current[:stand_in_otel_context] = context
      yield context
    ensure
      Thread.current[:stand_in_otel_context] = previous
    end
  end

  class Propagation
    def extract(carrier)
      m = /\A00-(\h{32})-(\h{16})-\h{2}\z/.match(carrier["traceparent"].to_s)
      m ? Context.new(m[1], m[2]) : Context.new
    end

    def inject(carrier)
      current = Context.current
      carrier["traceparent"] = "00-#{current.trace_id}-#{current.span_id}-01" if current.span_id
    end
  end

  class Span
    attr_reader :data

    def initialize(data) = @data = data
    def record_exception(error) = data.exceptions << error
    def status=(status)
      data.status = status
    end
  end

  class Tracer
    def in_span(name, attributes: nil, kind: nil)
      parent = Context.current
      data = SpanData.new(name, parent.trace_id || SecureRandom.hex(16), SecureRandom.hex(8), parent.span_id,
                          attributes || {}, kind, nil, [])
      span = Span.new(data)
      Context.with_current(Context.new(data.trace_id, data.span_id)) { |c| yield span, c }
    rescue Exception => e # rubocop:disable Lint/RescueException -- what the real in_span does
      span&.record_exception(e)
      span&.status = Trace::Status.error("Unhandled exception of type: #{e.class}")
      raise
    ensure
      FINISHED << data if data
    end
  end

  class TracerProvider
    def tracer(_name = nil, _version = nil) = Tracer.new
  end

  def self.tracer_provider = (@tracer_provider ||= TracerProvider.new)
  def self.propagation = (@propagation ||= Propagation.new)
end

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
