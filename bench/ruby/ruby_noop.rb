# frozen_string_literal: true

# The Ruby side of the Ruby-vs-C benchmark: the same workload as c_noop.c, with a Ruby handler
# (TaskerCore::StepHandler::Base subclass) on TaskerCore::Worker. Prints steps/s.
# Usage: ruby ruby_noop.rb TEMPLATE TASKS CONCURRENCY   (database: $TASKER_DATABASE_URL, migrated)
require "tasker_core"

module Bench
  class Noop < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = { "ok" => true }
  end
end

template, tasks, concurrency = ARGV
client = TaskerCore::Client.new
info = client.register_template(template)
Integer(tasks).times do
  client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: { "n" => 1 })
end
worker = TaskerCore::Worker.new(client: client, handlers: [Bench::Noop], concurrency: Integer(concurrency))
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
worker.run_until_idle
dt = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
puts format("ruby: %d steps in %.2f s = %.0f steps/s", worker.processed, dt, worker.processed / dt)
