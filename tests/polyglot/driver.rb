# frozen_string_literal: true

# The polyglot test's driver (ci/test-polyglot.sh runs it; the workers run in other processes).
#   ruby driver.rb setup TASKS LANG...        migrates, registers the diamond for these languages and
#                                             creates TASKS tasks (seeds 1..TASKS)
#   ruby driver.rb check TASKS RUNS_DIR KILLED_LANG KILLED_PID LANG...
#                                             checks the finished run (below) and prints its numbers
#
# The diamond: start (C) → one branch per language (each fails its first attempt, then multiplies
# start's value by its factor) → finish (Ruby), the fan-in: 1 + Σ the branches' values. What `check`
# requires, with the database and the workers' run logs (RUNS_DIR/LANG.PID.log) as evidence:
#   - every task complete, finish's value right for its seed, read from every language's branch;
#   - no attempt of a step ran twice (one "start" line per task, step and attempt);
#   - every attempt ran exactly once and its outcome was recorded (one claim per attempt: as many
#     transitions to in_progress as attempts), except the attempts cut by the kill -9: those were
#     recovered when their lease expired (error_class LeaseExpired), only steps of the killed
#     language's worker were cut, and at least one handler was cut mid-run;
#   - each branch failed its first attempt as planned (unless the kill cut that attempt) and was retried;
#   - one trace per task: every task was created with its own traceparent, and every span a worker's
#     OpenTelemetry exporter wrote ("span" lines), and the trace id the C worker's claimed step carried
#     ("trace" lines), is that task's trace id; every finished Ruby run has its span.
require "json"
require "pg"
require "securerandom"
require "set"
require "tasker_core"

module PolyglotDriver
  FACTORS = { "c" => 2, "ruby" => 3, "python" => 5, "node" => 7 }.freeze
  HANDLERS = { "c" => "Polyglot::C::Branch", "ruby" => "Polyglot::Ruby::Branch",
               "python" => "Polyglot::Python::Branch", "node" => "Polyglot::Node::Branch" }.freeze

  module_function

  def template(langs)
    steps = [{ "name" => "start", "handler_class" => "Polyglot::C::Start" }]
    langs.each { |l| steps << { "name" => l, "handler_class" => HANDLERS.fetch(l), "depends_on_step" => "start" } }
    steps << { "name" => "finish", "handler_class" => "Polyglot::Ruby::Finish", "depends_on_steps" => langs }
    steps.each { |s| s["default_retry_limit"] = 5 }
    { "name" => "diamond", "namespace_name" => "polyglot", "version" => "1.0.0", "step_templates" => steps }
  end

  def setup(tasks, langs)
    client = TaskerCore::Client.new
    client.migrate!
    client.register_template_text(JSON.generate(template(langs)), format: :json, source_name: "diamond.json")
    (1..tasks).each do |seed|
      client.create_task(name: "diamond", namespace: "polyglot", version: "1.0.0", context: { "seed" => seed },
                         traceparent: "00-#{SecureRandom.hex(16)}-#{SecureRandom.hex(8)}-01")
    end
  end

  # Everything check needs from the database, one row per step.
  def steps(pg)
    pg.exec(<<~SQL).to_a
      SELECT s.task_id, ns.name, s.attempts, s.results::text AS results, t.complete, t.context::text AS context,
        (SELECT substr(x.traceparent, 4, 32) FROM tasker_task_traces x WHERE x.task_id = s.task_id) AS trace_id,
        (SELECT count(*) FROM tasker_workflow_step_transitions x
          WHERE x.workflow_step_id = s.workflow_step_id AND x.to_state = 'in_progress') AS claims,
        (SELECT to_state FROM tasker_workflow_step_transitions x
          WHERE x.workflow_step_id = s.workflow_step_id AND x.most_recent) AS state,
        (SELECT json_agg(x.metadata ORDER BY x.sort_key) FROM tasker_workflow_step_transitions x
          WHERE x.workflow_step_id = s.workflow_step_id AND x.to_state = 'error') AS errors
      FROM tasker_workflow_steps s JOIN tasker_named_steps ns USING (named_step_id)
      JOIN tasker_tasks t USING (task_id)
      ORDER BY s.task_id, s.workflow_step_id
    SQL
  end

  def run_lines(dir)
    Dir[File.join(dir, "*.log")].flat_map do |f|
      lang = File.basename(f).split(".").first
      File.readlines(f).map do |l|
        w = l.split
        { what: w[0], task: w[1], key: w[1..3].join(" "), pid: w[4], lang: lang, trace: w[5] }
      end
    end
  end

  def check(tasks, dir, killed, killed_pid, langs)
    problems = []
    rows = steps(PG.connect(ENV.fetch("TASKER_DATABASE_URL")))
    by_task = rows.group_by { |r| r["task_id"] }
    problems << "#{by_task.size} tasks, expected #{tasks}" unless by_task.size == tasks
    by_task.each_value { |task_rows| check_task(task_rows, langs, problems) }

    lines = run_lines(dir)
    starts = lines.select { |l| l[:what] == "start" }
    done = lines.select { |l| l[:what] == "done" }.to_h { |l| [l[:key], l] }
    starts.group_by { |l| l[:key] }.each { |key, list| problems << "attempt ran #{list.size} times: #{key}" if list.size > 1 }
    started = starts.to_h { |l| [l[:key], l] }

    cut = { mid_handler: 0, unrecorded: 0, never_started: 0 }
    rows.each do |r|
      check_attempts(r, started, done, killed, cut, problems)
    end
    total_cut = cut.values.sum
    traced = check_traces(rows, lines, killed_pid, problems)
    problems << "the kill -9 of the #{killed} worker cut no handler mid-run" if killed != "none" && cut[:mid_handler].zero?
    problems.first(20).each { |p| puts "polyglot: FAIL #{p}" }
    puts "polyglot: #{tasks} tasks × #{rows.size / [tasks, 1].max} steps in #{langs.join(', ')}: " \
         "#{problems.empty? ? 'all complete with the right values' : "#{problems.size} problems"}; " \
         "#{starts.size} handler runs, none twice for one attempt; " \
         "the kill -9 of the #{killed} worker cut #{total_cut} attempts (#{cut[:mid_handler]} mid-handler, " \
         "#{cut[:unrecorded]} finished but not recorded, #{cut[:never_started]} claimed but not started), " \
         "each recovered after its lease and run again; one trace id per task: #{traced}"
    problems.empty?
  end

  # The trace ids the workers saw against the task's; returns what was counted, per kind and language.
  def check_traces(rows, lines, killed_pid, problems)
    want = rows.to_h { |r| [r["task_id"], r["trace_id"]] }
    marks = lines.select { |l| %w[span trace].include?(l[:what]) }
    marks.each do |l|
      next if l[:trace] == want[l[:task]]

      problems << "#{l[:lang]} #{l[:what]} of #{l[:key]} has trace id #{l[:trace]}, its task #{want[l[:task]]}"
    end
    spans = marks.select { |l| l[:what] == "span" }.map { |l| l[:key] }.to_set
    lines.each do |l|
      next unless l[:what] == "done" && l[:lang] == "ruby" && !spans.include?(l[:key])

      problems << "ruby run #{l[:key]} (pid #{l[:pid]}) has no span" unless l[:pid] == killed_pid
    end
    marks.group_by { |l| [l[:what], l[:lang]] }.map { |(what, lang), list| "#{list.size} #{lang} #{what}s" }.join(", ")
  end


  def check_task(task_rows, langs, problems)
    task = task_rows.first["task_id"]
    seed = JSON.parse(task_rows.first["context"]).fetch("seed")
    problems << "task #{task} is not complete" unless task_rows.first["complete"] == "t"
    bad = task_rows.reject { |r| r["state"] == "complete" }
    problems << "task #{task}: steps not complete: #{bad.map { |r| r['name'] }.join(', ')}" unless bad.empty?
    finish = task_rows.find { |r| r["name"] == "finish" }
    want = 1 + (seed + 1) * langs.sum { |l| FACTORS.fetch(l) }
    got = finish && JSON.parse(finish["results"] || "null")
    return if got.is_a?(Hash) && got["value"] == want && got["languages"] == langs

    problems << "task #{task} (seed #{seed}): finish is #{got.inspect}, expected value #{want} from #{langs}"
  end

  # One step: its attempts, the runs the logs show and the recoveries the database shows agree.
  def check_attempts(r, started, done, killed, cut, problems)
    where = "task #{r['task_id']} step #{r['name']}"
    errors = JSON.parse(r["errors"] || "[]")
    recovered = errors.select { |m| m["error_class"] == "LeaseExpired" }.map { |m| Integer(m["attempt"]) - 1 }
    attempts = Integer(r["attempts"])
    branch = FACTORS.key?(r["name"])
    # A branch fails its first attempt on purpose, unless the kill cut that attempt: then the next one
    # (its handler sees attempts 1) succeeds at once.
    planned = branch && !recovered.include?(0) ? 2 : 1
    problems << "#{where}: #{attempts} attempts, #{r['claims']} claims" unless Integer(r["claims"]) == attempts
    problems << "#{where}: #{attempts} attempts, expected #{planned} run + #{recovered.size} recovered" \
      unless attempts == planned + recovered.size
    step_lang = r["name"] == "start" ? "c" : r["name"] == "finish" ? "ruby" : r["name"]
    problems << "#{where}: #{recovered.size} attempts recovered, but only the #{killed} worker was killed" \
      if !recovered.empty? && step_lang != killed
    planned_failure = errors.any? { |m| m["error_message"].to_s.start_with?("planned failure") }
    problems << "#{where}: its first attempt did not fail as planned" if planned == 2 && !planned_failure
    attempts.times do |k|
      key = "#{r['task_id']} #{r['name']} #{k}"
      if recovered.include?(k)
        cut[!started[key] ? :never_started : done[key] ? :unrecorded : :mid_handler] += 1
      elsif !started[key] || !done[key]
        problems << "#{where}: attempt #{k} has #{started[key] ? 'no end' : 'no run'} in the workers' logs"
      end
    end
  end
end

case ARGV.shift
when "setup"
  PolyglotDriver.setup(Integer(ARGV.shift), ARGV)
when "check"
  tasks = Integer(ARGV.shift)
  dir = ARGV.shift
  killed = ARGV.shift
  killed_pid = ARGV.shift
  exit(PolyglotDriver.check(tasks, dir, killed, killed_pid, ARGV) ? 0 : 1)
else
  warn "usage: ruby driver.rb setup TASKS LANG... | check TASKS RUNS_DIR KILLED_LANG KILLED_PID LANG..."
  exit 2
end
