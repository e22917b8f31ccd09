# frozen_string_literal: true

require_relative "test_helper"

module EventsTestHandlers
  class Echo < TaskerCore::StepHandler::Base
    def process(_task, _sequence, step) = { "echo" => step.name }
  end
end

# Client#subscribe and Client#on_steps_ready: lifecycle events delivered to Ruby blocks.
class EventsTest < TaskerTest
  H = EventsTestHandlers

  # a → b, a → c: one root, two children
  def small_template
    template([{ name: "a", handler_class: H::Echo.name },
              { name: "b", handler_class: H::Echo.name, depends_on_step: "a" },
              { name: "c", handler_class: H::Echo.name, depends_on_step: "a" }])
  end

  def collect(pattern)
    events = Queue.new
    sub = client.subscribe(pattern) { |name, payload| events << [name, payload] }
    [sub, events]
  end

  def drain(queue)
    out = []
    out << queue.pop until queue.empty?
    out
  end

  def test_step_events_during_a_worker_run
    sub, events = collect("step.*")
    task = run_task(small_template, handlers: [H::Echo])
    assert_equal "complete", task.state
    assert client.flush_events(timeout: 10)
    got = drain(events)
    names = got.map(&:first)
    assert names.all? { |n| n.start_with?("step.") }, names.uniq.inspect
    %w[step.execution_requested step.before_handle step.handle step.completed].each do |n|
      assert_includes names, n
    end
    completed = got.select { |n, _| n == "step.completed" }.map(&:last)
    assert_equal %w[a b c], completed.map { |p| p["step_name"] }.sort
    assert completed.all? { |p| p["task_id"] == task.task_id && p.is_a?(Hash) }
    ids = task.steps.map(&:workflow_step_id)
    assert completed.all? { |p| ids.include?(p["step_id"]) }
    assert_equal 0, sub.stats[:errors]
  ensure
    sub&.unsubscribe
  end

  def test_star_gets_task_and_workflow_events_too
    sub, events = collect("*")
    task = run_task(small_template, handlers: [H::Echo])
    assert client.flush_events
    mine = drain(events).select { |_, p| p["task_id"] == task.task_id }.map(&:first)
    %w[task.start_requested task.completed step.completed workflow.viable_steps_discovered].each do |n|
      assert_includes mine, n
    end
  ensure
    sub&.unsubscribe
  end

  def test_a_raising_subscriber_changes_nothing
    calls = 0
    bad = client.subscribe("*") do |_name, _payload|
      calls += 1
      raise "subscriber boom"
    end
    task = nil
    _out, err = capture_io do
      task = run_task(small_template, handlers: [H::Echo])
      assert client.flush_events
    end
    assert_equal "complete", task.state
    assert task.steps.all? { |s| s.state == "complete" && s.attempts == 1 }
    assert_operator calls, :>, 10
    assert_equal calls, bad.stats[:errors]
    assert_match(/subscriber raised RuntimeError: subscriber boom/, err)
    assert bad.active?, "an exception does not end the subscription"
  ensure
    bad&.unsubscribe
  end

  def test_unsubscribe_stops_delivery
    sub, events = collect("*")
    run_task(small_template, handlers: [H::Echo])
    assert client.flush_events
    refute_empty drain(events)
    sub.unsubscribe
    refute sub.active?
    refute sub.thread.alive?
    refute_includes client.subscriptions, sub
    run_task(small_template, handlers: [H::Echo])
    assert client.flush_events
    assert_empty drain(events)
    assert sub.unsubscribe, "idempotent"
  end

  def test_unsubscribe_from_inside_the_block
    names = []
    sub = nil
    sub = client.subscribe("*") do |name, _payload|
      names << name
      sub.unsubscribe
    end
    run_task(small_template, handlers: [H::Echo])
    client.flush_events
    sub.thread.join(5) or flunk("the subscription thread did not stop")
    assert_equal 1, names.size
    refute sub.active?
  end

  def test_on_steps_ready_yields_root_then_children
    ready = Queue.new
    sub = client.on_steps_ready { |step_ids, task_id| ready << [task_id, step_ids] }
    info = client.register_template(small_template)
    id = client.create_task(name: info.name, namespace: info.namespace, version: info.version)
    assert client.flush_events
    first = drain(ready).select { |t, _| t == id }
    steps = client.task(id).steps.to_h { |s| [s.name, s.workflow_step_id] }
    assert_equal [[id, [steps["a"]]]], first, "the root step is ready at creation"
    TaskerCore::Worker.new(client: client, handlers: [H::Echo]).run_until_idle
    assert client.flush_events
    later = drain(ready).select { |t, _| t == id }.flat_map(&:last)
    assert_equal [steps["b"], steps["c"]].sort, later.sort, "the children once a completes"
  ensure
    sub&.unsubscribe
  end

  def test_closing_the_client_ends_its_subscriptions
    other, = TestSupport.fresh_client("events_close")
    seen = []
    sub = other.subscribe("*") { |name, _| seen << name }
    other.close
    sub.thread.join(5) or flunk("the subscription thread did not stop")
    refute sub.active?
    assert sub.unsubscribe
    GC.start
  end

  def test_bad_pattern_and_missing_block
    assert_raises(TaskerCore::Error) { client.subscribe("step.{x}") { nil } }
    assert_raises(ArgumentError) { client.subscribe("step.*") }
  end
end
