# frozen_string_literal: true

require_relative "test_helper"

# RSS stays flat across 100,000 no-op steps run by Ruby handlers (prints both numbers).
#   TASKER_MEMORY_STEPS=N   changes the number of steps (default 100000)
class MemoryTest < TaskerTest
  class Noop < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = { "ok" => true }
  end

  STEPS = Integer(ENV.fetch("TASKER_MEMORY_STEPS", "100000"))
  WIDTH = 100 # independent steps per task

  def rss_kb
    File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
  end

  def run_round(info, worker, tasks)
    tasks.times { client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: { "n" => 1 }) }
    worker.run_until_idle
    GC.start
    rss_kb
  end

  def test_rss_is_flat_across_many_steps
    info = client.register_template(template((1..WIDTH).map { |i| { name: "n#{i}", handler_class: Noop.name } }))
    worker = TaskerCore::Worker.new(client: client, handlers: [Noop], concurrency: 10)
    rounds = 10
    per_round = STEPS / WIDTH / rounds
    warm = run_round(info, worker, per_round) # first 10 %: caches, prepared statements, pools
    samples = Array.new(rounds - 1) { run_round(info, worker, per_round) }
    total = worker.processed
    puts "\nmemory: #{total} no-op steps; RSS after #{total / rounds} steps: #{warm / 1024} MB, " \
         "after #{total}: #{samples.last / 1024} MB (growth #{(samples.last - warm) / 1024} MB; " \
         "samples MB: #{samples.map { |s| s / 1024 }.join(' ')})"
    assert_equal STEPS / WIDTH / rounds * rounds * WIDTH, total
    assert_operator samples.last - warm, :<, 20 * 1024, "RSS grew by #{(samples.last - warm) / 1024} MB"
  end
end
