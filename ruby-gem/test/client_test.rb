# frozen_string_literal: true

require_relative "test_helper"

# TaskerCore::Client against a real PostgreSQL: migrations, templates, tasks, operations, errors.
class ClientTest < TaskerTest
  def test_migrate_is_idempotent_and_reports_status
    assert_equal 0, client.migrate!
    status = client.migration_status
    refute_empty status
    assert status.all? { |m| m[:applied] }
    assert_equal status.map { |m| m[:version] }.sort, status.map { |m| m[:version] }
  end

  def test_register_template_file_returns_its_identity_and_steps
    info = client.register_template(fixture("dummy_task.yaml"))
    assert_equal "default", info.namespace
    assert_equal "dummy_task", info.name
    assert_equal "0.1.0", info.version
    assert_equal 4, info.step_count
    assert_equal %w[step-one step-two step-three step-four], info.steps.map { |s| s[:name] }
    assert_equal ["step-two"], info.steps[2][:depends_on]
    assert_equal ["DummyTask::Handler"], info.handler_classes
    assert_equal "default.dummy_task@0.1.0", info.full_name
    assert_includes client.templates.map(&:full_name), info.full_name
  end

  def test_register_template_from_hash_and_text
    info = client.register_template(template([{ name: "a", handler_class: "A" }, { name: "b", handler_class: "B", depends_on_step: "a" }]))
    assert_equal 2, info.step_count
    text = "name: texty\nnamespace_name: rbtest\nversion: 2.0.0\ntask_handler_class: X\n" \
           "step_templates:\n  - name: only\n    handler_class: Only\n"
    info = client.register_template_text(text)
    assert_equal %w[rbtest texty 2.0.0], [info.namespace, info.name, info.version]
  end

  def test_invalid_templates_raise_template_error_naming_the_problem
    error = assert_raises(TaskerCore::TemplateError) do
      client.register_template(fixture("invalid/dependency_cycle.yaml"))
    end
    assert_match(/cycle/i, error.message)
    assert_equal :TASKER_ETEMPLATE, error.code
    assert_kind_of TaskerCore::ValidationError, error
    assert_raises(TaskerCore::TemplateError) { client.register_template(fixture("invalid/duplicate_step.yaml")) }
    assert_raises(TaskerCore::NotFoundError) { client.register_template("/nonexistent/template.yaml") }
  end

  def test_validate_template_needs_no_database
    info = TaskerCore.validate_template(fixture("linear_workflow_task.yaml"))
    assert_equal 6, info.step_count
    assert_raises(TaskerCore::TemplateError) { TaskerCore.validate_template(fixture("invalid/dependency_cycle.yaml")) }
  end

  def test_create_task_and_read_it_back
    info = client.register_template(fixture("dummy_task.yaml"))
    at = Time.utc(2026, 1, 2, 3, 4, 5)
    id = client.create_task(name: info.name, context: { "dummy" => true, "n" => 2**40, "f" => 1.5, "s" => "é\n\"" },
                            initiator: "tests", source_system: "minitest", reason: "coverage",
                            tags: %w[a b], requested_at: at)
    assert_kind_of Integer, id
    task = client.task(id)
    assert_equal id, task.task_id
    assert_equal "pending", task.state
    refute task.complete?
    assert_equal({ "dummy" => true, "n" => 2**40, "f" => 1.5, "s" => "é\n\"" }, task.context)
    assert_equal %w[a b], task.tags
    assert_equal %w[tests minitest coverage], [task.initiator, task.source_system, task.reason]
    assert_match(/\A2026-01-02 03:04:05/, task.requested_at)
    assert_equal %w[step-one step-two step-three step-four].sort, task.steps.map(&:name).sort
    step = task.step("step-three")
    assert_equal "pending", step.state
    assert_equal 0, step.attempts
    assert_equal [task.step("step-two").id], step.parent_ids
    assert_equal({}, step.results)
    ctx = task.execution_context
    assert_equal 4, ctx.total_steps
    assert_equal 2, ctx.ready_steps
    assert_equal "has_ready_steps", ctx.execution_status
    assert_equal ctx, client.execution_context(id)
    readiness = client.readiness(id)
    assert_equal 4, readiness.size
    assert_equal 2, readiness.count { |r| r[:ready_for_execution] }
    assert_equal "pending", client.task_state(id)
    assert_equal "pending", client.step_state(step.id)
    assert_match(/flowchart|graph/, client.mermaid(id))
  end

  def test_hash_identity_returns_the_existing_task
    info = client.register_template(fixture("dummy_task.yaml"))
    request = { name: info.name, context: { "dummy" => true, "k" => SecureRandom.hex }, identity: :hash }
    id, created = client.find_or_create_task(**request)
    assert created
    again, created_again = client.find_or_create_task(**request)
    assert_equal id, again
    refute created_again
    assert_equal id, client.create_task(**request)
    refute_equal id, client.create_task(**request, identity: :unique)
    assert_raises(ArgumentError) { client.create_task(**request, identity: :bogus) }
  end

  def test_context_schema_violations_raise_context_error
    info = client.register_template(fixture("dummy_task.yaml"))
    error = assert_raises(TaskerCore::ContextError) { client.create_task(name: info.name, context: { "dummy" => "yes" }) }
    assert_match(/dummy/, error.message)
    assert_raises(TaskerCore::ContextError) { client.create_task(name: info.name, context: {}) }
  end

  def test_unknown_template_and_task_raise_not_found
    assert_raises(TaskerCore::NotFoundError) { client.create_task(name: "no_such_template", context: {}) }
    error = assert_raises(TaskerCore::NotFoundError) { client.task(987_654_321) }
    assert_equal :TASKER_ENOTFOUND, error.code
  end

  def test_values_that_are_not_json_raise_json_error
    info = client.register_template(fixture("dummy_task.yaml"))
    assert_raises(TaskerCore::JSONError) { client.create_task(name: info.name, context: { "dummy" => true, "x" => Float::NAN }) }
    assert_raises(TaskerCore::JSONError) { client.create_task(name: info.name, context: { "dummy" => true, "x" => "a\0b" }) }
    assert_raises(TaskerCore::JSONError) { client.create_task(name: info.name, context: { "dummy" => true, "x" => "\xff".b }) }
  end

  def test_cancel_retry_and_resolve
    info = client.register_template(template([{ name: "a", handler_class: "A" }, { name: "b", handler_class: "B", depends_on_step: "a" }]))
    id = client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: {})
    assert client.cancel_task(id)
    assert_equal "cancelled", client.task(id).state
    error = assert_raises(TaskerCore::TransitionError) { client.cancel_task(id) }
    assert_equal :TASKER_ETRANSITION, error.code

    id = client.create_task(name: info.name, namespace: info.namespace, version: info.version, context: {})
    task = client.task(id)
    client.resolve_step(task.step("a").id, { "by" => "hand" })
    assert_equal "resolved_manually", client.step_state(task.step("a").id)
    assert_equal({ "by" => "hand" }, client.task(id).step("a").results)
    assert_raises(TaskerCore::Error) { client.retry_task(id) } # not in error
  end

  def test_health_is_a_hash_of_counts
    health = client.health
    assert_kind_of Hash, health
    assert_kind_of Integer, health.fetch("total_tasks")
    assert_equal 0, client.recover_expired_claims
  end

  def test_connection_and_configuration_errors
    error = assert_raises(TaskerCore::ConnectionError) do
      TaskerCore::Client.new(database_url: "postgresql://nobody@/nodb?host=/nonexistent-dir&connect_timeout=2")
    end
    assert_kind_of TaskerCore::Error, error
    assert_raises(TaskerCore::ConfigurationError) do
      TaskerCore::Client.new(database_url: db_url, config: { "execution" => { "concurrency" => -1 } })
    end
    assert_raises(TaskerCore::ConfigurationError) do
      TaskerCore::Client.new(database_url: db_url, config: { "nonsense" => { "x" => 1 } })
    end
  end

  def test_database_errors_carry_sqlstate
    other = TaskerCore::Client.new(database_url: TestSupport.create_database("unmigrated"))
    error = assert_raises(TaskerCore::Error) { other.task(1) }
    assert_kind_of TaskerCore::DatabaseError, error
    assert_equal "42P01", error.sqlstate # undefined_table
  ensure
    other&.close
  end

  def test_closed_client_refuses_calls
    c = TaskerCore::Client.new(database_url: db_url)
    c.close
    assert c.closed?
    assert_raises(TaskerCore::Error) { c.health }
    c.close # twice is fine
  end

  def test_database_waits_release_the_gvl
    info = client.register_template(fixture("dummy_task.yaml"))
    locker = PG.connect(db_url)
    locker.exec("BEGIN; LOCK TABLE tasker_tasks IN ACCESS EXCLUSIVE MODE")
    creator = Thread.new { client.create_task(name: info.name, context: { "dummy" => true }) }
    ticks = 0
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 0.5
    ticks += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    assert creator.alive?, "create_task should be waiting for the lock"
    assert_operator ticks, :>, 1000, "the main thread should run while create_task waits"
    locker.exec("COMMIT")
    assert_kind_of Integer, creator.value
  ensure
    locker&.close
  end
end

# The value converters (JSON text ⇄ Ruby), directly.
class NativeJSONTest < Minitest::Test
  J = TaskerCore::NativeJSON

  def test_round_trips_every_json_type
    value = { "a" => [1, -2, 3.25, 1e300, true, false, nil, "x\u00e9\u{1F600}\t\"\\"], "big" => 2**70, "nested" => { "k" => {} } }
    assert_equal value, J.parse(J.generate(value))
    assert_equal 2**70, J.parse("1180591620717411303424")
    assert_equal({ "s" => "\u{1F600}" }, J.parse('{"s":"\ud83d\ude00"}'))
  end

  def test_symbols_and_other_objects_become_strings
    assert_equal '{"a":"b","1":2}', J.generate({ a: :b, 1 => 2 })
    assert_equal '["2026-01-02 00:00:00 UTC"]', J.generate([Time.utc(2026, 1, 2)])
  end

  def test_rejects_what_jsonb_cannot_store
    assert_raises(TaskerCore::JSONError) { J.generate(Float::INFINITY) }
    assert_raises(TaskerCore::JSONError) { J.generate("nul\0") }
    deep = []
    300.times { deep = [deep] }
    assert_raises(TaskerCore::JSONError) { J.generate(deep) }
    assert_raises(TaskerCore::JSONError) { J.parse('{"a":') }
    assert_raises(TaskerCore::JSONError) { J.parse("[1] x") }
  end
end
