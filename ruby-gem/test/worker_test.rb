# frozen_string_literal: true

require_relative "test_helper"
require "rbconfig"
require "open3"

module WorkerTestHandlers
  class Sleepy < TaskerCore::StepHandler::Base
    def process(_task, _sequence, step)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      sleep((step.handler_config || {}).fetch("seconds", 0.3))
      { "started" => started, "finished" => Process.clock_gettime(Process::CLOCK_MONOTONIC),
        "thread" => Thread.current.name }
    end
  end

  class Quick < TaskerCore::StepHandler::Base
    def process(_task, _sequence, step) = { "quick" => step.name }
  end

  class NotAHandler; end
end

# TaskerCore::Worker: concurrency, the GVL, graceful shutdown, handler lookup, delegation.
class WorkerTest < TaskerTest
  H = WorkerTestHandlers

  def parallel(n, seconds)
    template((1..n).map { |i| { name: "s#{i}", handler_class: H::Sleepy.name, handler_config: { "seconds" => seconds } } })
  end

  def create(template_hash, context = {})
    info = client.register_template(template_hash)
    client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: context)
  end

  def test_handlers_run_concurrently_on_ruby_threads
    task = run_task(parallel(4, 0.4), handlers: [H::Sleepy], concurrency: 4)
    assert_equal "complete", task.state
    results = task.steps.map(&:results)
    last_start = results.map { |r| r["started"] }.max
    first_end = results.map { |r| r["finished"] }.min
    assert_operator last_start, :<, first_end, "4 steps of 0.4 s on 4 threads should all run at the same time"
    threads = results.map { |r| r["thread"] }
    assert threads.all? { |t| t.start_with?("tasker-handler-") }
    assert_operator threads.uniq.size, :>, 1
  end

  def test_other_ruby_threads_run_while_the_worker_waits
    worker = TaskerCore::Worker.new(client: client, handlers: [H::Quick], poll_interval_ms: 50)
    runner = Thread.new { worker.run(trap_signals: false) }
    ticks = 0
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.5
    ticks += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    assert_operator ticks, :>, 10_000, "an idle worker must not hold the GVL"
    id = create(template([{ name: "q", handler_class: H::Quick.name }]))
    sleep 0.02 until client.task_state(id) == "complete"
    worker.stop
    runner.join(10) or flunk("the worker did not stop")
    assert_operator worker.processed, :>=, 1
  end

  def test_stop_is_graceful
    id = create(parallel(6, 0.6))
    worker = TaskerCore::Worker.new(client: client, handlers: [H::Sleepy], concurrency: 2, claim_batch: 6)
    runner = Thread.new { worker.run(trap_signals: false) }
    sleep 0.02 until client.task(id).steps.count { |s| s.state == "in_progress" } >= 2
    sleep 0.1
    stopped_at = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    worker.stop
    runner.join(10) or flunk("the worker did not stop")
    waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - stopped_at
    task = client.task(id)
    done = task.steps.select { |s| s.state == "complete" }
    assert_equal 2, done.size, "the two running handlers finish and their results are written"
    assert done.all? { |s| s.results["finished"] <= stopped_at + waited }
    rest = task.steps - done
    # (The core marks a released step "error" with its attempts unchanged; it is claimable at once.)
    assert rest.all? { |s| s.attempts.zero? && s.state != "complete" },
           "steps not started go back without an attempt: #{rest.map { |s| [s.name, s.state, s.attempts] }}"
    # A later worker finishes the task.
    TaskerCore::Worker.new(client: client, handlers: [H::Sleepy], concurrency: 4).run_until_idle
    assert_equal "complete", client.task_state(id)
  end

  def test_sigterm_stops_a_worker_process_gracefully
    id = create(parallel(1, 1.0))
    script = <<~RUBY
      require "tasker_core"
      class Slow < TaskerCore::StepHandler::Base
        def process(_t, _s, _step)
          $stdout.puts "running"; $stdout.flush
          sleep 1.0
          { "slow" => true }
        end
      end
      client = TaskerCore::Client.new(database_url: ARGV[0])
      TaskerCore::Worker.new(client: client, handlers: { #{H::Sleepy.name.inspect} => Slow }).run
      puts "stopped cleanly"
    RUBY
    Open3.popen2e(RbConfig.ruby, *load_path_args, "-e", script, db_url) do |_in, out, wait|
      assert_equal "running", out.gets&.strip
      Process.kill("TERM", wait.pid)
      rest = out.read
      assert wait.value.success?, "worker exited with #{wait.value.inspect}: #{rest}"
      assert_includes rest, "stopped cleanly"
    end
    step = client.task(id).steps.first
    assert_equal "complete", step.state
    assert_equal({ "slow" => true }, step.results)
  end

  def test_missing_handler_classes_are_clear_errors
    error = assert_raises(TaskerCore::HandlerNotFoundError) do
      TaskerCore::Worker.new(client: client, handlers: ["Nope::Missing"])
    end
    assert_match(/Nope::Missing is not defined/, error.message)
    error = assert_raises(TaskerCore::HandlerNotFoundError) do
      TaskerCore::Worker.new(client: client, handlers: [H::NotAHandler.name])
    end
    assert_match(/not a step handler/, error.message)
    assert_raises(TaskerCore::HandlerNotFoundError) { TaskerCore::Worker.new(client: client, handlers: []) }

    other, = TestSupport.fresh_client("lookup")
    other.register_template(template([{ name: "lost", handler_class: "Lost::Handler" }], name: "lookup_t"))
    error = assert_raises(TaskerCore::HandlerNotFoundError) { TaskerCore::Worker.new(client: other) }
    assert_match(/Lost::Handler \(step lost of rbtest\.lookup_t@1\.0\.0\) is not defined/, error.message)
  ensure
    other&.close
  end

  def test_handlers_found_by_constant_lookup_of_registered_templates
    other, = TestSupport.fresh_client("autolookup")
    info = other.register_template(template([{ name: "q", handler_class: "::#{H::Quick.name}" }]))
    worker = TaskerCore::Worker.new(client: other)
    assert_equal H::Quick, worker.handlers["::#{H::Quick.name}"]
    id = other.create_task(name: info.name, namespace: info.namespace, version: info.version, context: {})
    worker.run_until_idle
    assert_equal({ "quick" => "q" }, other.task(id).steps.first.results)
  ensure
    other&.close
  end

  def test_execute_step_runs_one_step_in_the_calling_thread
    id = create(template([{ name: "a", handler_class: H::Quick.name },
                          { name: "b", handler_class: H::Quick.name, depends_on_step: "a" }]))
    a, b = client.task(id).steps
    assert_raises(TaskerCore::NotFoundError) { TaskerCore.execute_step(b.id, client: client) }
    assert TaskerCore.execute_step(a.id, client: client)
    assert_equal "complete", client.step_state(a.id)
    assert_raises(TaskerCore::NotFoundError) { TaskerCore.execute_step(a.id, client: client) }
    assert TaskerCore.execute_step(b.id, client: client)
    assert_equal "complete", client.task_state(id)
  end

  def test_execute_step_with_an_unknown_handler_leaves_the_step_alone
    id = create(template([{ name: "x", handler_class: "Nobody::Home" }]))
    step = client.task(id).steps.first
    error = assert_raises(TaskerCore::HandlerNotFoundError) { TaskerCore.execute_step(step.id, client: client) }
    assert_match(/Nobody::Home/, error.message)
    step = client.task(id).steps.first
    assert_equal ["pending", 0], [step.state, step.attempts]
  end

  def test_a_worker_cannot_run_twice_at_once
    worker = TaskerCore::Worker.new(client: client, handlers: [H::Quick], poll_interval_ms: 50)
    runner = Thread.new { worker.run(trap_signals: false) }
    sleep 0.1
    assert_raises(TaskerCore::Error) { worker.run_until_idle }
    worker.stop
    runner.join(10) or flunk("the worker did not stop")
  end

  private

  def load_path_args
    $LOAD_PATH.grep(%r{ruby-gem/lib\z}).flat_map { |p| ["-I", p] }
  end
end
