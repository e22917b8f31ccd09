"""The Python worker process of the polyglot test (ci/test-polyglot.sh): runs the diamond's Python step
until SIGTERM, with OpenTelemetry on (the SDK's in-memory exporter).

    Polyglot::Python::Branch  fails its first attempt (retryable), then {"value": start's value x 5}

Every handler run appends "start TASK STEP ATTEMPT PID" and "done TASK STEP ATTEMPT PID OUTCOME" to
RUNS_DIR/python.PID.log (one write each, O_APPEND), as every language's worker does, and every span the
exporter holds "span TASK STEP ATTEMPT PID TRACE_ID".

    python python_worker.py RUNS_DIR [SLEEP_MS]
"""

import os
import sys
import threading
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tasker_core as tc

RUNS = os.open(os.path.join(sys.argv[1], f"python.{os.getpid()}.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
SLEEP = int(sys.argv[2] if len(sys.argv) > 2 else 0) / 1000.0
EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)
_export_lock = threading.Lock()


def record(*words: Any) -> None:
    os.write(RUNS, (" ".join(str(w) for w in words) + "\n").encode())


def export_spans() -> None:
    with _export_lock:
        spans = EXPORTER.get_finished_spans()
        EXPORTER.clear()
    for span in spans:
        a = span.attributes or {}
        record("span", a["tasker.task_id"], a["tasker.step_name"], a["tasker.attempt"] - 1, os.getpid(),
               format(span.context.trace_id, "032x"))


class Branch(tc.StepHandler):
    def process(self, task: tc.Task, sequence: tc.Sequence, step: tc.Step) -> Any:
        run = (task.task_id, step.name, step.attempts, os.getpid())
        record("start", *run)
        try:
            time.sleep(SLEEP)
            if step.attempts == 0:
                raise tc.RetryableError(f"planned failure of {step.name}")
            start = sequence.find_step_by_name("start")
            assert start is not None
            value = start.results["value"] * 5
        except BaseException:
            record("done", *run, "failed")
            raise
        record("done", *run, "ok")
        return {"value": value}


def keep_exporting(stop: threading.Event) -> None:
    while not stop.wait(0.05):
        export_spans()


if __name__ == "__main__":
    stopped = threading.Event()
    threading.Thread(target=keep_exporting, args=(stopped,), daemon=True).start()
    client = tc.Client()
    tc.Worker(client, {"Polyglot::Python::Branch": Branch}, concurrency=2).run()
    stopped.set()
    export_spans()
    client.close()
