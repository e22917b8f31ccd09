"""The Python side of the Python-vs-C benchmark: the workload of bench/ruby/c_noop.c (TASKS tasks of
bench/ruby/noop_template.yaml, 100 independent no-op steps each) with a Python handler, run by
``Worker.run_until_idle`` (sync: plain def, threads) or ``await Worker.serve`` (async: async def on
the event loop). Prints steps/s.

    python python_noop.py sync|async TEMPLATE TASKS CONCURRENCY   (database: $TASKER_DATABASE_URL, migrated)
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Dict

import tasker_core


class Noop(tasker_core.StepHandler):
    handler_class = "Bench::Noop"

    def process(self, task: tasker_core.Task, sequence: tasker_core.Sequence,
                step: tasker_core.Step) -> Dict[str, Any]:
        return {"ok": True}


class AsyncNoop(tasker_core.StepHandler):
    handler_class = "Bench::Noop"

    async def process(self, task: tasker_core.Task, sequence: tasker_core.Sequence,
                      step: tasker_core.Step) -> Dict[str, Any]:
        return {"ok": True}


def main() -> None:
    mode, template, tasks, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    client = tasker_core.Client()
    info = client.register_template(template)
    for _ in range(tasks):
        client.create_task(info["name"], {"n": 1}, namespace=info["namespace_name"], version=info["version"])
    worker = tasker_core.Worker(client, [AsyncNoop if mode == "async" else Noop], concurrency=concurrency)
    t0 = time.monotonic()
    if mode == "async":
        asyncio.run(worker.serve(until_idle=True))
    else:
        worker.run_until_idle()
    dt = time.monotonic() - t0
    print(f"python-{mode}: {worker.processed} steps in {dt:.2f} s = {worker.processed / dt:.0f} steps/s")
    client.close()


if __name__ == "__main__":
    main()
