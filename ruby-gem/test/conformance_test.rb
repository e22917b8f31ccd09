# frozen_string_literal: true

# The Ruby runner of the conformance suite (tests/conformance/README.md; same semantics as the C
# runner tests/c/test_db_conformance.c): every case file is one workflow run, executed here with Ruby
# handler subclasses on a fresh database, then checked against its expectations. One test per case.
#   TASKER_CONFORMANCE_CASE=substring   runs only the matching cases
#   TASKER_GC_STRESS_CASES=a,b          runs those cases (substrings) with GC.stress on
require_relative "test_helper"

module Conformance
  # Does what a case's behaviours say, decided by the step's name; counts runs per step name.
  class Handler < TaskerCore::StepHandler::Base
    class << self
      attr_accessor :kase
    end

    def process(task, sequence, step)
      kase = self.class.kase
      b = kase.behaviour(step.name)
      @run = kase.count_run(step.name)
      sleep(b["sleep_ms"] / 1000.0) if b["sleep_ms"]
      kase.client.cancel_task(task.task_id) if b["cancel_task"]
      fail_if(b, step)
      step.results = b["assign"] if b.key?("assign")
      raise_if(b, "process", step)
      output(b, task, sequence, step)
    end

    def process_results(step, output, initial)
      b = self.class.kase.behaviour(step.name)
      raise_if(b, "process_results", step)
      case b["process_results"]
      when "wrap" then step.results = { "output" => output, "initial" => initial }
      when "return_only" then { "returned_by_process_results" => true }
      else super
      end
    end

    private

    def output(b, task, sequence, step)
      return invalid(b["return_invalid"]) if b["return_invalid"]
      return report(b, task, sequence, step) if b["report"]
      return task.context if b["echo_context"]
      return sequence.find_step_by_name(b["copy_from"])&.results if b["copy_from"]
      return { "value" => b["add"] + sum_from(sequence, b["from"] || []) } if b["add"]
      return b["result"] if b.key?("result")

      { "step" => step.name }
    end

    # The legacy failure words: fail_times (retryable), permanent, retry_after, error_code.
    def fail_if(b, step)
      message = "#{step.name} failed (run #{@run})"
      raise TaskerCore::PermanentError.new(message, error_code: b["error_code"]) if b["permanent"]
      return unless b["fail_times"] && @run <= b["fail_times"]

      raise TaskerCore::RetryableError.new(message, retry_after: b["retry_after"])
    end

    def raise_if(b, where, step)
      r = b["raise"] or return
      return unless (b["raise_in"] || "process") == where && (r["times"].nil? || @run <= r["times"])

      message = r["message"] || "#{step.name} failed (run #{@run})"
      case r.fetch("error")
      when "retryable" then raise TaskerCore::RetryableError.new(message, retry_after: r["retry_after"], context: r["context"])
      when "permanent" then raise TaskerCore::PermanentError.new(message, error_code: r["error_code"], context: r["context"])
      else raise message
      end
    end

    def invalid(kind) = { "value" => kind == "number" ? Float::NAN : Object.new }

    def report(b, task, sequence, step)
      {
        "task" => { "task_id_matches" => task.task_id == self.class.kase.task_id, "name" => task.name,
                    "namespace" => task.namespace_name, "version" => task.version, "context" => task.context,
                    "tags" => task.tags, "initiator" => task.initiator, "source_system" => task.source_system,
                    "reason" => task.reason },
        "step" => { "id_matches" => sequence.find_step_by_name(step.name).workflow_step_id == step.workflow_step_id,
                    "name" => step.name, "attempts" => step.attempts, "retry_limit" => step.retry_limit,
                    "handler_config" => step.handler_config, "inputs" => step.inputs },
        "sequence" => sequence.steps.map { |s| { "name" => s.name, "state" => s.state, "attempts" => s.attempts } },
        "dependencies" => (b["from"] || []).to_h { |n| [n, sequence.find_step_by_name(n)&.results] },
        "missing" => sequence.find_step_by_name("no_such_step")
      }
    end

    def sum_from(sequence, names)
      names.sum do |name|
        v = sequence.find_step_by_name(name)&.results
        v.is_a?(Hash) && v["value"].is_a?(Numeric) ? v["value"] : 0
      end
    end
  end

  # One case file: its document, its database and client, the handlers' run counts.
  class Case
    attr_reader :path, :doc, :client, :url, :task_id

    def initialize(path)
      @path = path
      @doc = JSON.parse(File.read(path))
      @runs = Hash.new(0)
      @lock = Mutex.new
    end

    def behaviour(name)
      behaviours = doc["behaviours"] || {}
      behaviours[name] || behaviours["*"] || {}
    end

    def count_run(name)
      @lock.synchronize { @runs[name] += 1 }
    end

    def runs_of(name)
      @lock.synchronize { @runs[name] }
    end

    def run
      @url = TestSupport.create_database("conf_#{File.basename(path, '.json')}")
      @client = TaskerCore::Client.new(database_url: url, config: File.join(TestSupport::CONFORMANCE, "config.yml"))
      client.migrate!
      @info = client.register_template(File.expand_path(doc.fetch("template"), File.dirname(path)))
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      @task_id = create_task
      actions.each { |a| act(a) }
      @elapsed_ms = ((Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000).round
    ensure
      client&.close
    end

    def elapsed_ms = @elapsed_ms

    def view
      @view ||= begin
        c = TaskerCore::Client.new(database_url: url)
        c.task(task_id)
      ensure
        c&.close
      end
    end

    private

    def request
      doc["request"] || {}
    end

    def create_task
      args = { name: @info.name, namespace: @info.namespace, version: @info.version,
               context: request.fetch("context"), tags: request["tags"], bypass_steps: request["bypass_steps"],
               initiator: request["initiator"], source_system: request["source_system"], reason: request["reason"],
               requested_at: request["requested_at"], identity: request["identity_strategy"] == "hash" ? :hash : :unique }
      return create_duplicates(args, request["duplicates"]) if request["duplicates"]

      client.create_task(**args)
    end

    # The same request from n clients (connections) at once: one creates, the others find it.
    def create_duplicates(args, count)
      clients = Array.new(count) { TaskerCore::Client.new(database_url: url, pool_size: 1) }
      gate = Queue.new
      threads = clients.map { |c| Thread.new { gate.pop; c.find_or_create_task(**args) } }
      count.times { gate << true }
      results = threads.map(&:value)
      clients.each(&:close)
      @duplicates = results
      ids = results.map(&:first).uniq
      raise "duplicates: #{ids.size} different tasks" unless ids.size == 1
      raise "duplicates: #{results.count(&:last)} created, expected 1" unless results.count(&:last) == 1

      ids.first
    end

    def actions
      doc["actions"] || [{ "run" => true }]
    end

    def act(action)
      if action["run"]
        run_worker
      elsif action["resolve"]
        step = client.task(task_id).step(action["resolve"]) or raise "no step #{action['resolve']}"
        client.resolve_step(step.workflow_step_id, action["results"])
      elsif action["retry_task"]
        client.retry_task(task_id)
      elsif action["cancel_task"]
        client.cancel_task(task_id)
      elsif action["expect_task_state"]
        state = client.task_state(task_id)
        raise "task is #{state}, expected #{action['expect_task_state']}" unless state == action["expect_task_state"]
      else
        raise "unknown action #{action.inspect}"
      end
    end

    # One handler subclass per handler_class of the template, all deciding by step name.
    def run_worker
      kase = self
      handlers = @info.handler_classes.to_h do |name|
        klass = Class.new(Handler)
        klass.kase = kase
        [name, klass]
      end
      TaskerCore::Worker.new(client: client, handlers: handlers, concurrency: 4).run_until_idle
    end
  end
end

class ConformanceTest < Minitest::Test
  CASES = Dir[File.join(TestSupport::CONFORMANCE, "cases", "*.json")].sort
  ONLY = ENV["TASKER_CONFORMANCE_CASE"]
  STRESS = ENV.fetch("TASKER_GC_STRESS_CASES", "").split(",").reject(&:empty?)

  def self.case_selected?(name)
    (ONLY.nil? || name.include?(ONLY)) && (STRESS.empty? || STRESS.any? { |s| name.include?(s) })
  end

  CASES.each do |path|
    name = File.basename(path, ".json")
    next unless case_selected?(name)

    define_method("test_#{name}") { run_case(path) }
  end

  def test_cases_exist
    skip "selected cases only" if ONLY || !STRESS.empty?
    refute_empty CASES, "no conformance cases found in #{TestSupport::CONFORMANCE}/cases"
  end

  private

  # Prints "conformance ruby CASE ok|FAIL", the line every language's runner prints for a case
  # (ci/conformance-table.sh collects them); a GC.stress run reports under its own label.
  def run_case(path)
    passed = false
    run_checked_case(path)
    passed = true
  ensure
    $stdout.puts "conformance #{STRESS.empty? ? 'ruby' : 'ruby-gc-stress'} #{File.basename(path, '.json')} " \
                 "#{passed ? 'ok' : 'FAIL'}"
  end

  def run_checked_case(path)
    kase = Conformance::Case.new(path)
    if STRESS.empty?
      kase.run
    else
      begin
        GC.stress = true
        kase.run
      ensure
        GC.stress = false
      end
    end
    check(kase)
  end

  def check(kase)
    @pg = PG.connect(kase.url)
    check_expectations(kase)
  ensure
    @pg&.close
  end

  def check_expectations(kase)
    expect = kase.doc.fetch("expect", {})
    view = kase.view
    label = File.basename(kase.path)
    assert_equal expect["task_state"], view.state, "#{label}: task state" if expect["task_state"]
    steps = expect.fetch("steps", {})
    steps.each_key { |n| assert view.step(n), "#{label}: no step named #{n}" unless n == "*" }
    view.steps.each do |s|
      e = steps[s.name] || steps["*"] or next
      check_step(label, s, e)
    end
    expect.fetch("order", []).each { |a, b| assert_order(kase, view, a, b) }
    expect.fetch("handler_runs", {}).each do |n, count|
      assert view.step(n), "#{label}: no step named #{n}"
      assert_equal count, kase.runs_of(n), "#{label}: handler runs of #{n}"
    end
    if expect["min_elapsed_ms"]
      assert_operator kase.elapsed_ms, :>=, expect["min_elapsed_ms"], "#{label}: finished too early"
    end
    # Whatever the outcome, nothing may be left claimed; a finished task leaves nothing queued.
    assert_equal 0, count(kase.url, "SELECT count(*) FROM tasker_step_claims"), "#{label}: claims left"
    return unless %w[complete cancelled].include?(view.state)

    assert_equal 0, count(kase.url, "SELECT count(*) FROM tasker_ready_steps"), "#{label}: queued steps left"
  end

  def check_step(label, step, e)
    where = "#{label}: step #{step.name}"
    assert_equal e["state"], step.state, "#{where}: state" if e["state"]
    assert_equal e["attempts"], step.attempts, "#{where}: attempts" if e["attempts"]
    assert_equal e["processed"], step.processed, "#{where}: processed" if e.key?("processed")
    assert_equal e["retryable"], step.retryable, "#{where}: retryable" if e.key?("retryable")
    if e.key?("results")
      e["results"].nil? ? assert_nil(step.results, "#{where}: results") : assert_equal(e["results"], step.results, "#{where}: results")
    end
    if e.key?("results_include")
      assert contains?(step.results, e["results_include"]), "#{where}: results lack #{e['results_include']}: #{step.results}"
    end
    if e["results_keys"]
      assert_kind_of Hash, step.results, "#{where}: results"
      assert_equal e["results_keys"].sort, step.results.keys.sort, "#{where}: results keys"
    end
    expect_members("#{where}: error_details", e["error"], step.results["error_details"] || {}) if e["error"]
    e.fetch("transitions", {}).each do |state, list|
      got = transitions(step, state)
      assert_equal list.size, got.size, "#{where}: transitions to #{state}"
      list.zip(got).each_with_index do |(want, meta), i|
        expect_members("#{where}: transition #{i + 1} to #{state}", want, meta)
      end
    end
  end

  # PostgreSQL's jsonb containment (@>): an object contains the members it is given, an array the
  # elements, recursively; other values are equal.
  def contains?(got, want)
    case want
    when Hash then got.is_a?(Hash) && want.all? { |k, v| got.key?(k) && contains?(got[k], v) }
    when Array then got.is_a?(Array) && want.all? { |w| got.any? { |g| contains?(g, w) } }
    else got == want
    end
  end

  # "*": present and not empty; nil: absent; anything else: equal.
  def expect_members(where, want, got)
    want.each do |k, v|
      if v == "*"
        assert !got[k].nil? && !(got[k].respond_to?(:empty?) && got[k].empty?), "#{where}: #{k} missing in #{got}"
      elsif v.nil?
        refute got.key?(k), "#{where}: #{k} must be absent: #{got}"
      else
        assert_equal v, got[k], "#{where}: #{k}"
      end
    end
  end

  def transitions(step, state)
    @pg.exec_params("SELECT metadata::text FROM tasker_workflow_step_transitions WHERE workflow_step_id = $1 " \
                    "AND to_state = $2 ORDER BY sort_key", [step.workflow_step_id, state])
       .map { |row| JSON.parse(row["metadata"]) }
  end

  # a finished (complete / resolved) before b was started: compared by transition ids.
  def assert_order(kase, view, a, b)
    sa = view.step(a) or flunk("no step #{a}")
    sb = view.step(b) or flunk("no step #{b}")
    ok = count(kase.url, <<~SQL, [sa.workflow_step_id, sb.workflow_step_id])
      SELECT count(*) FROM (SELECT
        (SELECT max(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = $1
           AND to_state IN ('complete', 'resolved_manually')) AS done,
        (SELECT min(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = $2
           AND to_state = 'in_progress') AS started) x WHERE done < started
    SQL
    assert_equal 1, ok, "#{File.basename(kase.path)}: expected #{a} to finish before #{b} started"
  end

  def count(_url, text, params = [])
    @pg.exec_params(text, params).getvalue(0, 0).to_i
  end
end
