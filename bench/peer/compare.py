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
    if skipped:
        print(f"compare.py: not measured by tasker_bench in this run, so left out: {', '.join(skipped)}",
              file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
