# frozen_string_literal: true

require_relative "test_helper"

module HandlerTestHandlers
  # Returns what it saw of the task, the sequence and the step.
  class Inspect < TaskerCore::StepHandler::Base
    def process(task, sequence, step)
      parent = sequence.find_step_by_name("first")
      {
        "task_id" => task.task_id, "context" => task.context, "template" => [task.namespace_name, task.name, task.version],
        "step" => step.name, "inputs" => step.inputs, "attempts" => step.attempts, "config" => config,
        "handler_config" => step.handler_config, "sequence" => sequence.steps.map(&:name),
        "parent" => parent&.results, "parent_state" => parent&.state, "same" => sequence.current_step.equal?(step)
      }
    end
  end

  class First < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = { "from_first" => 1 }
  end

  # Assigns step.results itself: that wins over the return value.
  class AssignsResults < TaskerCore::StepHandler::Base
    def process(_task, _sequence, step)
      step.results = { "assigned" => true }
      { "returned" => true }
    end
  end

  # Reshapes what process returned.
  class Reshapes < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = [1, 2, 3]

    def process_results(step, output, initial)
      step.results = { "sum" => output.sum, "initial" => initial }
    end
  end

  class Retryable < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step)
      raise TaskerCore::RetryableError.new("gateway busy", retry_after: 120, context: { "gateway" => "x" })
    end
  end

  class Permanent < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step)
      raise TaskerCore::PermanentError.new("card declined", error_code: "DECLINED", context: { "card" => "4242" })
    end
  end

  class Crashes < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = raise(ArgumentError, "bad thing")
  end

  class NotImplemented < TaskerCore::StepHandler::Base; end

  class NotJSON < TaskerCore::StepHandler::Base
    def process(_task, _sequence, _step) = { "x" => Float::NAN }
  end

  # Not a Base subclass: anything with process(task, sequence, step) works.
  class Duck
    def process(_task, _sequence, step) = { "duck" => step.name }
  end

  # Has its own initialize without config:.
  class NoConfig < TaskerCore::StepHandler::Base
    def initialize
      super
      @made = true
    end

    def process(_task, _sequence, _step) = { "made" => @made }
  end
end

# The lifecycle run by StepHandler::Base and the classification of failures, end to end.
class HandlerTest < TaskerTest
  H = HandlerTestHandlers

  def one_step(handler, **step)
    template([{ name: "only", handler_class: handler.name }.merge(step)])
  end

  def test_handler_sees_task_sequence_step_and_config
    t = template([{ name: "first", handler_class: H::First.name },
                  { name: "second", handler_class: H::Inspect.name, depends_on_step: "first",
                    handler_config: { "url" => "http://x", "n" => 2 } }])
    task = run_task(t, context: { "order" => 7 }, handlers: [H::First, H::Inspect])
    assert_equal "complete", task.state
    r = task.step("second").results
    assert_equal task.task_id, r["task_id"]
    assert_equal({ "order" => 7 }, r["context"])
    assert_equal({ "order" => 7 }, r["inputs"])
    assert_equal "rbtest", r["template"][0]
    assert_equal "second", r["step"]
    assert_equal 0, r["attempts"]
    assert_equal({ "url" => "http://x", "n" => 2 }, r["config"])
    assert_equal r["config"], r["handler_config"]
    assert_equal %w[first second], r["sequence"]
    assert_equal({ "from_first" => 1 }, r["parent"])
    assert_equal "complete", r["parent_state"]
    assert r["same"], "the running step is the same object in the sequence"
  end

  def test_assigned_results_win_and_process_results_can_reshape
    task = run_task(one_step(H::AssignsResults), handlers: [H::AssignsResults])
    assert_equal({ "assigned" => true }, task.step("only").results)
    task = run_task(one_step(H::Reshapes), handlers: [H::Reshapes])
    assert_equal({ "sum" => 6, "initial" => {} }, task.step("only").results)
  end

  def test_retryable_error_records_retry_after_and_context
    info = client.register_template(one_step(H::Retryable))
    id = client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: {})
    worker = TaskerCore::Worker.new(client: client, handlers: [H::Retryable])
    runner = Thread.new { worker.run(trap_signals: false) }
    sleep 0.02 until client.task(id).step("only").attempts == 1
    worker.stop
    runner.join
    task = client.task(id)
    step = task.step("only")
    assert_equal "error", step.state
    assert_equal 1, step.attempts
    details = step.results.fetch("error_details")
    assert_equal true, step.results["error"]
    assert_equal "gateway busy", details["error_message"]
    assert_equal "TaskerCore::RetryableError", details["error_class"]
    assert_equal 120, details["retry_after"]
    assert_equal false, details["permanent"]
    assert_equal "x", details.fetch("error_context").fetch("gateway")
    refute_equal "error", task.state, "a step waiting for its retry does not fail the task"
    assert_operator client.readiness(task.task_id).first[:backoff_request_seconds].to_i, :>=, 100
  end

  def test_permanent_error_fails_the_task_at_once
    task = run_task(one_step(H::Permanent), handlers: [H::Permanent])
    step = task.step("only")
    assert_equal "error", task.state
    assert_equal "error", step.state
    assert_equal 1, step.attempts
    refute step.retryable?
    details = step.results["error_details"]
    assert_equal "DECLINED", details["error_code"]
    assert_equal true, details["permanent"]
    assert_equal "4242", details["error_context"]["card"]
  end

  def test_other_exceptions_are_retryable_with_class_message_and_backtrace
    task = run_task(one_step(H::Crashes, default_retry_limit: 2), handlers: [H::Crashes])
    step = task.step("only")
    assert_equal "error", task.state, "retries exhausted"
    assert_equal 2, step.attempts
    details = step.results["error_details"]
    assert_equal "ArgumentError", details["error_class"]
    assert_equal "bad thing", details["error_message"]
    backtrace = details["backtrace"] || details.dig("error_context", "backtrace")
    assert_kind_of Array, backtrace
    assert_match(/handler_test\.rb:\d+/, backtrace.first)
  end

  def test_missing_process_and_unserializable_results_fail_the_step
    task = run_task(one_step(H::NotImplemented, default_retry_limit: 1), handlers: [H::NotImplemented])
    details = task.step("only").results["error_details"]
    assert_equal "NotImplementedError", details["error_class"]
    assert_match(/must implement process/, details["error_message"])
    task = run_task(one_step(H::NotJSON, default_retry_limit: 1), handlers: [H::NotJSON])
    assert_equal "TaskerCore::JSONError", task.step("only").results["error_details"]["error_class"]
  end

  def test_duck_typed_and_config_less_handlers
    task = run_task(one_step(H::Duck), handlers: [H::Duck])
    assert_equal({ "duck" => "only" }, task.step("only").results)
    task = run_task(one_step(H::NoConfig), handlers: [H::NoConfig])
    assert_equal({ "made" => true }, task.step("only").results)
  end

  def test_base_class_is_usable_directly
    h = H::First.new(config: { "a" => 1 })
    assert_equal({ "a" => 1 }, h.config)
    assert_nil H::First.new.config
    assert_raises(ArgumentError) { H::First.new(bogus: 1) }
    assert_includes TaskerCore::StepHandler.descendants, H::First
  end

  def test_error_hierarchy
    assert_operator TaskerCore::Error, :<, StandardError
    %i[ConnectionError DatabaseError NotFoundError ConflictError TransitionError ValidationError
       ConfigurationError StoppedError ProceduralError].each do |name|
      assert_operator TaskerCore.const_get(name), :<, TaskerCore::Error
    end
    assert_operator TaskerCore::TemplateError, :<, TaskerCore::ValidationError
    assert_operator TaskerCore::ContextError, :<, TaskerCore::ValidationError
    assert_operator TaskerCore::MigrationError, :<, TaskerCore::DatabaseError
    assert_operator TaskerCore::HandlerNotFoundError, :<, TaskerCore::NotFoundError
    assert_operator TaskerCore::RetryableError, :<, TaskerCore::ProceduralError
    e = TaskerCore::RetryableError.new("m", retry_after: 5, context: { "a" => 1 })
    assert_equal ["m", 5, { "a" => 1 }], [e.message, e.retry_after, e.context]
    e = TaskerCore::PermanentError.new("m", error_code: "C")
    assert_equal ["C", {}], [e.error_code, e.context]
  end
end
