"""With OpenTelemetry present, each step runs in a span under its task's traceparent. The run happens
in a child process: OpenTelemetry's tracer provider is process-wide and cannot be set twice."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

pytestmark = pytest.mark.newest
pytest.importorskip("opentelemetry.sdk.trace")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def test_each_step_is_a_span_under_the_tasks_traceparent(db_url: str, tmp_path: Any) -> None:
    script = tmp_path / "traced.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
        import tasker_core as tc

        spans = []
        class Collect(SpanExporter):
            def export(self, batch):
                spans.extend(batch)
                return SpanExportResult.SUCCESS
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Collect()))
        trace.set_tracer_provider(provider)

        class Noop(tc.StepHandler):
            def process(self, task, sequence, step):
                return {{"ok": True}}

        with tc.Client({db_url!r}) as client:
            tid = client.create_task("noop", {{}}, namespace="pytest", version="1.0.0",
                                     traceparent="00-{TRACE_ID}-{PARENT_ID}-01")
            tc.Worker(client, [Noop], concurrency=1).run_until_idle()
        mine = [s for s in spans if s.attributes.get("tasker.task_id") == tid]
        print(json.dumps([{{"trace_id": format(s.context.trace_id, "032x"),
                           "parent": format(s.parent.span_id, "016x") if s.parent else None,
                           "attributes": dict(s.attributes)}} for s in mine]))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    spans = json.loads(out.stdout)
    assert len(spans) == 1, spans
    span = spans[0]
    assert span["trace_id"] == TRACE_ID and span["parent"] == PARENT_ID
    attrs = span["attributes"]
    assert attrs["tasker.namespace"] == "pytest" and attrs["tasker.attempt"] == 1
    assert attrs["tasker.outcome"] == "success" and attrs["tasker.step_name"] == "only"
