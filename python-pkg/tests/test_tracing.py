"""With OpenTelemetry present, each step runs in a span under its task's traceparent."""

from __future__ import annotations

from typing import Any, List

import pytest

import tasker_core as tc

pytestmark = pytest.mark.newest
sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402


class Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: List[Any] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


class Noop(tc.StepHandler):
    def process(self, task: tc.Task, sequence: tc.Sequence, step: tc.Step) -> Any:
        return {"ok": True}


def test_each_step_is_a_span_under_the_tasks_traceparent(client: tc.Client) -> None:
    exporter = Collect()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    tid = client.create_task("noop", {}, namespace="pytest", version="1.0.0",
                             traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    tc.Worker(client, [Noop], concurrency=1).run_until_idle()
    spans = [s for s in exporter.spans if s.attributes.get("tasker.task_id") == tid]
    assert len(spans) == 1
    span = spans[0]
    assert format(span.context.trace_id, "032x") == trace_id
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert span.attributes["tasker.namespace"] == "pytest" and span.attributes["tasker.attempt"] == 1
    assert span.attributes["tasker.outcome"] == "success"
