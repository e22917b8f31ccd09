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
      run = kase.count_run(step.name)
      sleep(b["sleep_ms"] / 1000.0) if b["sleep_ms"]
      kase.client.cancel_task(task.task_id) if b["cancel_task"]
      if b["permanent"]
        raise TaskerCore::PermanentError.new("#{step.name} failed (run #{run})", error_code: b["error_code"])
      end
      if b["fail_times"] && run <= b["fail_times"]
        raise TaskerCore::RetryableError.new("#{step.name} failed (run #{run})", retry_after: b["retry_after"])
      end
      return { "value" => b["add"] + sum_from(sequence, b["from"] || []) } if b["add"]
      return b["result"] if b.key?("result")

      { "step" => step.name }
    end

    private

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
               initiator: request["initiator"], identity: request["identity_strategy"] == "hash" ? :hash : :unique }
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

  def run_case(path)
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
    assert_equal e["results"], step.results, "#{where}: results" if e.key?("results")
    e.fetch("results_include", {}).each do |k, v|
      assert step.results.is_a?(Hash) && step.results.key?(k) && step.results[k] == v,
             "#{where}: results lack #{k}=#{v.inspect}: #{step.results.inspect}"
    end
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
