# frozen_string_literal: true

require "securerandom"

# The OpenTelemetry gems cannot be installed where the gem is tested, so its tests (test/tracing_test.rb)
# and the polyglot run (tests/polyglot/ruby_worker.rb) drive the bridge (lib/tasker_core/tracing.rb)
# against this stand-in of exactly the API surface the bridge calls, with
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
