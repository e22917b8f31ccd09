# frozen_string_literal: true

require_relative "test_helper"
require "active_support"
require "active_support/core_ext"
require "logger"
require "stringio"
require "tasker_core/compat"

module RailsEngineTestHandlers
  class Compute < Tasker::StepHandler::Base
    def process(_task, _sequence, step)
      step.results = { "total" => 42 }
    end
  end

  # Reads every model reader a handler written for the Rails engine may call, and returns what it saw.
  class ReadsEverything < Tasker::StepHandler::Base
    def process(task, sequence, step)
      first = sequence.find_step_by_name("compute")
      {
        "task" => task_readers(task),
        "step" => step_readers(step),
        "first" => { "status" => first.status, "processed" => first.processed, "processed_at" => first.processed_at.class.name,
                     "attempts" => first.attempts, "retry_limit" => first.retry_limit, "retryable" => first.retryable,
                     "results" => first.results, "inputs" => first.inputs, "children" => first.children.map(&:name),
                     "complete" => first.complete?, "record_processed" => task.get_step_by_name("compute").processed },
        "sequence" => sequence.steps.map(&:name)
      }
    end

    def task_readers(task)
      {
        "id_is_task_id" => task.id == task.task_id, "named_task_id" => task.named_task_id.is_a?(Integer),
        "named_task" => [task.named_task.name, task.named_task.namespace_name, task.named_task.version,
                         task.named_task.task_namespace.name],
        "name" => [task.name, task.namespace_name, task.version], "status" => task.status,
        "complete" => [task.complete, task.complete?], "context_symbol" => task.context[:customer_id],
        "context_string" => task.context["customer_id"], "indifferent" => task.context.class.name,
        "tags" => task.tags, "initiator" => task.initiator, "source_system" => task.source_system,
        "reason" => task.reason, "bypass_steps" => task.bypass_steps,
        "times" => [task.requested_at, task.created_at, task.updated_at].map { |t| t.class.name },
        "identity_hash" => task.identity_hash.to_s.size.positive?, "handler_config" => task.handler_config,
        "workflow_steps" => task.workflow_steps.map(&:name), "all_steps_complete" => task.all_steps_complete?
      }
    end

    def step_readers(step)
      {
        "id" => step.id == step.workflow_step_id, "task_id" => step.task_id == step.task.id,
        "named_step" => [step.named_step_id.is_a?(Integer), step.named_step.name], "name" => step.name,
        "status" => [step.status, step.state], "attempts" => step.attempts,
        "retry" => [step.retry_limit, step.retryable, step.retryable?], "skippable" => [step.skippable, step.skippable?],
        "in_process" => [step.in_process, step.in_process?], "processed" => [step.processed, step.processed?],
        "processed_at" => step.processed_at, "last_attempted_at" => step.last_attempted_at,
        "backoff_request_seconds" => step.backoff_request_seconds, "inputs" => step.inputs, "results" => step.results,
        "times" => [step.created_at, step.updated_at].map { |t| t.class.name },
        "predicates" => [step.complete?, step.in_progress?, step.pending?, step.in_error?, step.cancelled?],
        "parents" => step.parents.map(&:name), "children" => step.children.map(&:name)
      }
    end
  end
end

# What a Rails application written for the engine brings — templates with the engine's extra keys, handlers
# that read the engine's models, controllers that create tasks its way, Tasker.configure — works unchanged.
class RailsEngineTest < TaskerTest
  H = RailsEngineTestHandlers
  EXTRAS = File.join(TestSupport::FIXTURES, "rails_engine_extras.yaml")
  APP = File.join(TestSupport::GEM_FIXTURES, "rails_app")
  Dir[File.join(APP, "app/tasks/**/*.rb")].sort.each { |f| require f }

  def with_log
    io = StringIO.new
    TaskerCore.logger = Logger.new(io)
    yield
    assert TaskerCore.flush_logs, "the log lines reached the logger"
    io.string
  ensure
    TaskerCore.logger = nil
  end

  # In a database of its own: its handler classes are not defined here, and a worker started by another
  # test of this class without a handler list would look them up.
  def test_a_template_with_the_engines_extra_keys_registers_with_warnings
    client, = fresh_client("rails_extras")
    log = with_log { client.register_template(EXTRAS) }
    assert_match(/key \\"owner_team\\" is ignored: tasker-core does not use it/, log)
    assert_match(/step \\"compute_totals\\": key \\"timeout\\" is ignored.*and 1 more time/, log)
    assert_match(/schema: unknown keyword \\"x-ui-widget\\" at #\/properties\/notify is ignored/, log)
    assert_equal 3, log.lines.grep(/"level":"warn","event":"log.template"/).size
    # format: date is checked
    good = { "customer_id" => 5, "period_start" => "2024-02-29", "notify" => "billing@example.com" }
    assert_kind_of Integer, client.create_task(name: "monthly_invoice", namespace: "billing", version: "1.2.0", context: good)
    e = assert_raises(TaskerCore::ContextError) do
      client.create_task(name: "monthly_invoice", namespace: "billing", version: "1.2.0",
                         context: good.merge("period_start" => "2023-02-29"))
    end
    assert_equal "$.period_start: not an RFC 3339 full-date (format \"date\")", e.message
    # a pattern with lookahead (a digit somewhere, no "--") is checked as Ruby's regular expressions would
    assert_kind_of Integer, client.create_task(name: "monthly_invoice", namespace: "billing", version: "1.2.0",
                                               context: good.merge("po_number" => "PO-2024-7"))
    %w[PO-ABCDEF PO--20247].each do |po|
      e = assert_raises(TaskerCore::ContextError) do
        client.create_task(name: "monthly_invoice", namespace: "billing", version: "1.2.0",
                           context: good.merge("po_number" => po))
      end
      assert_match(/\A\$\.po_number: string does not match pattern/, e.message)
    end
    # strict refuses what was ignored
    e = assert_raises(TaskerCore::TemplateError) { client.register_template(EXTRAS, strict: true) }
    assert_match(/unknown key "owner_team"/, e.message)
  ensure
    client&.close
  end

  def test_a_handler_reads_the_engines_model_readers
    tpl = template([{ name: "compute", handler_class: H::Compute.name, default_retry_limit: 2 },
                    { name: "report", handler_class: H::ReadsEverything.name, depends_on_step: "compute",
                      skippable: true }]).merge("handler_config" => { "currency" => "EUR" })
    task = run_task(tpl, context: { "customer_id" => 9 }, handlers: [H::Compute, H::ReadsEverything],
                         initiator: "tests", tags: ["monthly"])
    assert_equal "complete", task.state, task.steps.map { |s| [s.name, s.state, s.results] }.inspect
    r = task.step("report").results
    t = r["task"]
    assert t["id_is_task_id"]
    assert t["named_task_id"]
    assert_equal [tpl["name"], "rbtest", "1.0.0", "rbtest"], t["named_task"]
    assert_equal [tpl["name"], "rbtest", "1.0.0"], t["name"]
    assert_equal "in_progress", t["status"]
    assert_equal [false, false], t["complete"]
    assert_equal [9, 9], [t["context_symbol"], t["context_string"]]
    assert_equal "ActiveSupport::HashWithIndifferentAccess", t["indifferent"]
    assert_equal [["monthly"], "tests", "unknown", "unknown", []],
                 [t["tags"], t["initiator"], t["source_system"], t["reason"], t["bypass_steps"]]
    assert_equal %w[Time Time Time], t["times"]
    assert t["identity_hash"]
    assert_equal({ "currency" => "EUR" }, t["handler_config"])
    assert_equal %w[compute report], t["workflow_steps"]
    assert_equal false, t["all_steps_complete"]

    s = r["step"]
    assert s["id"] && s["task_id"]
    assert_equal [true, "report"], s["named_step"]
    assert_equal "report", s["name"]
    assert_equal %w[in_progress in_progress], s["status"]
    assert_equal 0, s["attempts"]
    assert_equal [3, true, true], s["retry"]
    assert_equal [true, true], s["skippable"]
    assert_equal [true, true], s["in_process"]
    assert_equal [false, false], s["processed"]
    assert_nil s["processed_at"]
    assert_nil s["last_attempted_at"]
    assert_nil s["backoff_request_seconds"]
    assert_equal({ "customer_id" => 9 }, s["inputs"])
    assert_equal({}, s["results"])
    assert_equal %w[Time Time], s["times"]
    assert_equal [false, true, false, false, false], s["predicates"]
    assert_equal [%w[compute], []], [s["parents"], s["children"]]

    f = r["first"]
    assert_equal ["complete", true, "Time", 1, 2, true], f.values_at("status", "processed", "processed_at", "attempts",
                                                                  "retry_limit", "retryable")
    assert_equal [{ "total" => 42 }, { "customer_id" => 9 }, %w[report], true, true],
                 f.values_at("results", "inputs", "children", "complete", "record_processed")
    assert_equal %w[compute report], r["sequence"]
  end

  def test_a_rails_controller_creates_a_task_that_completes
    TaskerCore.client = client
    client.register_template(File.join(APP, "config/tasker/tasks/process_order.yaml"))
    # What the engine's TasksController#create does, word for word:
    params = { "name" => "process_order", "namespace" => "ecommerce", "version" => "1.0.0", "context" => order_context }
    task_request = Tasker::Types::TaskRequest.new(params.deep_symbolize_keys)
    handler = Tasker::HandlerFactory.instance.get(task_request.name, namespace_name: task_request.namespace,
                                                                      version: task_request.version)
    task = handler.initialize_task!(task_request)
    assert task.errors.empty?, task.errors.full_messages.inspect
    assert task.persisted?
    assert_equal "pending", task.status
    TaskerCore::Worker.new(client: client).run_until_idle
    done = Tasker::Task.find(task.task_id)
    assert_equal "complete", done.status
    assert done.complete?
    assert done.all_steps_complete?
    assert_equal "ORD-#{task.task_id}", done.get_step_by_name("create_order").results["order_number"]
    assert_kind_of Time, done.get_step_by_name("send_confirmation").processed_at

    # a context the schema refuses: an unsaved task with errors, as the engine gives
    bad = Tasker::Types::TaskRequest.new(name: "process_order", namespace: "ecommerce", version: "1.0.0", context: {})
    unsaved = handler.initialize_task!(bad)
    refute unsaved.persisted?
    assert_nil unsaved.task_id
    assert_match(/required property "cart_items" is missing/, unsaved.errors[:context].first)
    # no such template: the engine's ProceduralError
    missing = Tasker::Types::TaskRequest.new(name: "nope", context: {})
    e = assert_raises(Tasker::ProceduralError) { Tasker::HandlerFactory.instance.get("nope").initialize_task!(missing) }
    assert_match(/No task handler for default.nope@0.1.0/, e.message)
    assert_raises(ArgumentError) { Tasker::Types::TaskRequest.new(context: {}) }
  ensure
    TaskerCore.client = nil
  end

  def test_tasker_configure_blocks_load_and_engine_only_keys_are_ignored
    Tasker.reset_configuration!
    Tasker.configure do |config|
      config.engine do |engine|
        engine.identity_strategy = :hash
        engine.task_handler_directory = "app/tasks"
      end
      config.execution.max_concurrent_steps_limit = 7
      config.auth { |auth| auth.authentication_enabled = true }
    end
    Tasker::Configuration.configuration { |config| config.default_module_namespace = "Shop" }
    assert_equal({ "engine" => { "identity_strategy" => "hash", "task_handler_directory" => "app/tasks",
                                 "default_module_namespace" => "Shop" },
                   "execution" => { "max_concurrent_steps_limit" => 7 }, "auth" => { "authentication_enabled" => true } },
                 TaskerCore.compat_settings)
    hashed = nil
    log = with_log { hashed = TaskerCore::Client.new(database_url: db_url, config: TaskerCore.compat_settings) }
    %w[auth.authentication_enabled engine.task_handler_directory engine.default_module_namespace].each do |key|
      assert_match(/#{Regexp.escape(key)}: ignored: only the Rails engine uses it/, log)
    end
    info = hashed.register_template(template([{ name: "only", handler_class: "RailsEngineTestHandlers::Compute" }]))
    first = hashed.find_or_create_task(name: info.name, namespace: info.namespace, version: info.version, context: { "a" => 1 })
    again = hashed.find_or_create_task(name: info.name, namespace: info.namespace, version: info.version, context: { "a" => 1 })
    assert_equal [first[0], false], again, "identity_strategy :hash from the block: the same request is one task"
    Tasker.configure { |config| config.engine.identity_stratgy = :hash }
    e = assert_raises(TaskerCore::ConfigurationError) { TaskerCore::Client.new(database_url: db_url, config: TaskerCore.compat_settings) }
    assert_match(/engine.identity_stratgy: unknown key/, e.message)
  ensure
    hashed&.close
    Tasker.reset_configuration!
  end

  def order_context
    {
      "cart_items" => [{ "product_id" => 1, "quantity" => 3, "price" => 19.99 }],
      "payment_info" => { "method" => "credit_card", "amount" => 59.97, "currency" => "USD" },
      "customer_info" => { "email" => "ada@example.com", "name" => "Ada" }
    }
  end
end
