# frozen_string_literal: true

# The Ruby worker process of the polyglot test (ci/test-polyglot.sh): runs the diamond's Ruby steps
# until SIGTERM/SIGINT.
#   Polyglot::Ruby::Branch  fails its first attempt (retryable), then {"value" => start's value × 3}
#   Polyglot::Ruby::Finish  {"value" => 1 + Σ the branches' values, "languages" => the branches it read}
# Every handler run appends "start TASK STEP ATTEMPT PID" and "done TASK STEP ATTEMPT PID OUTCOME" to
# RUNS_DIR/ruby.PID.log (one write each, O_APPEND), as every language's worker does, and every span
# the gem's OpenTelemetry bridge finished "span TASK STEP ATTEMPT PID TRACE_ID". OpenTelemetry is the
# gem tests' stand-in (it cannot be installed here); its in-memory list of finished spans is the
# exporter read.
#   ruby ruby_worker.rb RUNS_DIR [SLEEP_MS]   (database and engine settings from TASKER_* variables)
require "tasker_core"
require_relative "../../ruby-gem/test/support/opentelemetry_stand_in"

module Polyglot
  RUNS = File.open(File.join(ARGV.fetch(0), "ruby.#{Process.pid}.log"), File::WRONLY | File::APPEND | File::CREAT)
  SLEEP = Integer(ARGV.fetch(1, "0")) / 1000.0
  BRANCHES = %w[c ruby python node].freeze

  def self.record(what, task, step, outcome = nil)
    RUNS.syswrite("#{[what, task.task_id, step.name, step.attempts, Process.pid, outcome].compact.join(' ')}\n")
  end

  # Records the run around the handler's body.
  def self.run(task, step)
    record("start", task, step)
    result = yield
    record("done", task, step, "ok")
    result
  rescue StandardError
    record("done", task, step, "failed")
    raise
  end

  module Ruby
    class Branch < TaskerCore::StepHandler::Base
      def process(task, sequence, step)
        Polyglot.run(task, step) do
          sleep(SLEEP)
          raise TaskerCore::RetryableError, "planned failure of #{step.name}" if step.attempts.zero?

          { "value" => sequence.find_step_by_name("start").results.fetch("value") * 3 }
        end
      end
    end

    class Finish < TaskerCore::StepHandler::Base
      def process(task, sequence, step)
        Polyglot.run(task, step) do
          read = BRANCHES.select { |name| sequence.find_step_by_name(name) }
          { "value" => 1 + read.sum { |name| sequence.find_step_by_name(name).results.fetch("value") },
            "languages" => read }
        end
      end
    end
  end
end

Thread.new do
  loop do
    span = OpenTelemetry::FINISHED.pop
    a = span.attributes
    Polyglot::RUNS.syswrite("span #{a['tasker.task_id']} #{a['tasker.step_name']} #{a['tasker.attempt'] - 1} " \
                            "#{Process.pid} #{span.trace_id}\n")
  end
end

client = TaskerCore::Client.new
TaskerCore::Worker.new(client: client, concurrency: 2,
                       handlers: [Polyglot::Ruby::Branch, Polyglot::Ruby::Finish]).run
