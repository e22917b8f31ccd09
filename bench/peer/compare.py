#!/usr/bin/env python3
"""Prints the peer rows of the benchmark table: tasker-core against graphile-worker.

Usage: python3 bench/peer/compare.py TASKER_SUMMARY.json PEER.json

TASKER_SUMMARY.json is what tasker_bench writes to $TASKER_BENCH_SUMMARY (stage_p50_ms, stage_p99_ms,
unbatched_steps_per_s, batched_steps_per_s, cpu_us_per_step_unbatched, cpu_us_per_step_batched);
PEER.json is what bench/peer/run.sh prints. Each row is a markdown table row like tasker_bench's,
ending in "met" or "NOT MET". A figure tasker_bench did not measure in its run (0 or absent, e.g.
`bench/run.sh latency`) leaves its row out, with a note on stderr.

Targets (issue 6): single-step tasks/s ≥ 1.0× graphile-worker's no-op jobs/s unbatched and ≥ 0.5×
batched; stage latency lower than graphile-worker's hop latency, p50 and p99 (against the lower of
its two configurations for each).
"""
import json
import sys


def load(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"compare.py: cannot read the {what} ({path}): {e}")
    if not isinstance(data, dict):
        sys.exit(f"compare.py: the {what} ({path}) is not a JSON object")
    return data


def number(data, key, path, required):
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    if required:
        sys.exit(f"compare.py: {path} has no positive number '{key}'")
    return None


def row(name, measured, target, met):
    print(f"| {name} | {measured} | {target} | {'met' if met else 'NOT MET'} |")


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: compare.py TASKER_SUMMARY.json PEER.json")
    ours_path, peer_path = argv[1], argv[2]
    ours = load(ours_path, "tasker_bench summary")
    peer = load(peer_path, "graphile-worker results")
    peer_name = f"graphile-worker {peer.get('version', '?')}"

    def o(key):
        return number(ours, key, ours_path, required=False)

    def p(key):
        return number(peer, key, peer_path, required=True)

    skipped = []
    for mode, factor in (("unbatched", 1.0), ("batched", 0.5)):
        steps, cpu = o(f"{mode}_steps_per_s"), o(f"cpu_us_per_step_{mode}")
        if steps is None:
            skipped.append(f"{mode} throughput")
            continue
        jobs, peer_cpu = p(f"{mode}_jobs_per_s"), p(f"cpu_us_per_job_{mode}")
        ratio = steps / jobs
        cpu_text = f"{cpu:.0f} µs" if cpu is not None else "—"
        row(
            f"peer: single-step tasks vs {peer_name} no-op jobs, {mode}, 2 worker processes",
            f"tasker {steps:,.0f} steps/s vs {jobs:,.0f} jobs/s: **{ratio:.2f}×**; CPU per step "
            f"(worker + PostgreSQL) tasker {cpu_text} vs {peer_cpu:.0f} µs",
            f"≥ {factor:.1f}× its jobs/s",
            ratio >= factor,
        )

    p50, p99 = o("stage_p50_ms"), o("stage_p99_ms")
    if p50 is None or p99 is None:
        skipped.append("stage latency")
    else:
        peer_p50 = min(p("hop_p50_ms"), p("hop_batched_p50_ms"))
        peer_p99 = min(p("hop_p99_ms"), p("hop_batched_p99_ms"))
        row(
            f"peer: stage latency vs {peer_name} chained hop latency (20-job chains)",
            f"tasker p50 **{p50:.2f} ms**, p99 **{p99:.2f} ms** vs p50 {peer_p50:.2f} ms, p99 {peer_p99:.2f} ms "
            f"({p50 / peer_p50:.2f}× and {p99 / peer_p99:.2f}× its latency)",
            "lower p50 and p99 than its best configuration",
            p50 < peer_p50 and p99 < peer_p99,
        )
    issue_table(ours, peer, peer_name)
    if skipped:
        print(f"compare.py: not measured by tasker_bench in this run, so left out: {', '.join(skipped)}",
              file=sys.stderr)


def issue_table(ours, peer, peer_name):
    """The speed targets, each row with graphile-worker's figure from the same run and the ratio."""
    def o(key):
        value = ours.get(key)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    def p(key):
        value = peer.get(key)
        return float(value) if isinstance(value, (int, float)) and value > 0 else None

    print()
    print(f"Speed targets (plans: {ours.get('plans', '?')}), against {peer_name} in the same run:")
    print()
    print("| row | tasker-core | graphile-worker, same run | ratio | target | |")
    print("|---|---|---|---|---|---|")

    def line(name, measured, theirs, ratio, target, met):
        verdict = "—" if met is None else ("met" if met else "NOT MET")
        print(f"| {name} | {measured} | {theirs} | {ratio} | {target} | {verdict} |")

    p50, p99 = o("stage_p50_ms"), o("stage_p99_ms")
    hop50 = min(x for x in (p("hop_p50_ms"), p("hop_batched_p50_ms"), float("inf")) if x)
    hop99 = min(x for x in (p("hop_p99_ms"), p("hop_batched_p99_ms"), float("inf")) if x)
    if p50 and p99:
        line("stage latency, 20-step chain", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
             f"hop p50 {hop50:.2f} ms, p99 {hop99:.2f} ms", f"{p50 / hop50:.2f}× its p50",
             "p50 < 1 ms and below its p50; p99 < 5 ms", p50 < 1.0 and p50 < hop50 and p99 < 5.0)
    jobs_u, jobs_b = p("unbatched_jobs_per_s"), p("batched_jobs_per_s")
    cpu_u, cpu_b = p("cpu_us_per_job_unbatched"), p("cpu_us_per_job_batched")
    single_u, pg_u = o("unbatched_steps_per_s"), o("pg_cpu_us_per_step_unbatched")
    if single_u and jobs_u:
        line("single-step tasks, unbatched",
             f"{single_u:,.0f} steps/s; CPU {o('cpu_us_per_step_unbatched') or 0:.0f} µs/step "
             f"(PostgreSQL {pg_u or 0:.0f})", f"{jobs_u:,.0f} jobs/s, {cpu_u or 0:.0f} µs CPU/job",
             f"{single_u / jobs_u:.2f}×", "≥ 1.0× its jobs/s; PostgreSQL CPU ≤ 1 ms/step",
             single_u >= jobs_u and (pg_u or 1e9) <= 1000)
    dag_u, dag_tps = o("dag_unbatched_steps_per_s"), o("dag_transactions_per_step_unbatched")
    if dag_u and single_u:
        line("ten-step DAGs, unbatched", f"{dag_u:,.0f} steps/s, {dag_tps or 0:.2f} transactions/step; CPU "
             f"{o('dag_cpu_us_per_step_unbatched') or 0:.0f} µs/step",
             f"{jobs_u:,.0f} jobs/s (single jobs)" if jobs_u else "—",
             f"{dag_u / single_u:.2f}× our single-step row" + (f", {dag_u / jobs_u:.2f}× its jobs/s" if jobs_u else ""),
             "≥ 1.0× the single-step row; ≤ 2 transactions/step", dag_u >= single_u and (dag_tps or 9) <= 2)
    single_b, dag_b = o("batched_steps_per_s"), o("dag_batched_steps_per_s")
    if single_b and dag_b and jobs_b:
        cb, cdb = o("cpu_us_per_step_batched") or 0, o("dag_cpu_us_per_step_batched") or 0
        line("single-step / DAG, batched", f"{single_b:,.0f} / {dag_b:,.0f} steps/s; CPU {cb:.0f} / {cdb:.0f} µs/step",
             f"{jobs_b:,.0f} jobs/s, {cpu_b or 0:.0f} µs CPU/job",
             f"{single_b / jobs_b:.2f}× / {dag_b / jobs_b:.2f}×", "≥ 0.5× its jobs/s; ≤ 150 µs CPU/step",
             min(single_b, dag_b) >= 0.5 * jobs_b and max(cb, cdb) <= 150)
    create = o("create_p50_ms")
    if create:
        line("task creation, 10 steps", f"p50 {create:.2f} ms", "— (no counterpart)", "—", "p50 < 2 ms", create < 2.0)
    t50, t99 = o("transition_p50_ms"), o("transition_p99_ms")
    if t50 and t99:
        line("one state transition", f"p50 {t50:.2f} ms, p99 {t99:.2f} ms", "— (no counterpart)", "—", "p99 < 1 ms",
             t99 < 1.0)
    # The floor (tasker_bench's floor rows): the Rails tables' writes alone, without the engine's
    # coordination. Not targets: what any engine that keeps those tables pays, beside graphile-worker.
    f50, f99 = o("floor_stage_p50_ms"), o("floor_stage_p99_ms")
    if f50 and f99:
        line("floor: a stage's writes alone", f"p50 {f50:.2f} ms, p99 {f99:.2f} ms",
             f"hop p50 {hop50:.2f} ms, p99 {hop99:.2f} ms", f"{f50 / hop50:.2f}× its p50"
             + (f"; our stage {p50 / f50:.2f}× the floor" if p50 else ""), "(a bound)", None)
    floor_u, floor_cpu, floor_pg = o("floor_steps_per_s"), o("floor_cpu_us_per_step"), o("floor_pg_cpu_us_per_step")
    if floor_u and jobs_u:
        line("floor: a single-step task's writes alone, unbatched", f"{floor_u:,.0f} steps/s; CPU {floor_cpu or 0:.0f} "
             f"µs/step (PostgreSQL {floor_pg or 0:.0f})", f"{jobs_u:,.0f} jobs/s, {cpu_u or 0:.0f} µs CPU/job",
             f"{floor_u / jobs_u:.2f}× its jobs/s" + (f"; our row {single_u / floor_u:.2f}× the floor" if single_u else ""),
             "(a bound)", None)
    floor_b, floor_cpu_b = o("floor_batched_steps_per_s"), o("floor_cpu_us_per_step_batched")
    if floor_b and jobs_b:
        line("floor: a single-step task's writes alone, batched (32 per statement)",
             f"{floor_b:,.0f} steps/s; CPU {floor_cpu_b or 0:.0f} µs/step", f"{jobs_b:,.0f} jobs/s, {cpu_b or 0:.0f} µs CPU/job",
             f"{floor_b / jobs_b:.2f}× its jobs/s" + (f"; our row {single_b / floor_b:.2f}× the floor" if single_b else ""),
             "(a bound)", None)


if __name__ == "__main__":
    main(sys.argv)
