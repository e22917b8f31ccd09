"""Runs one claimed step's handler by the handler specification (tests/conformance/README.md):
``process``, then ``process_results``; what is stored is ``step.results`` afterwards; a failure
becomes a retryable or permanent outcome with its class, message, code, context and backtrace.
Plain ``def`` handlers run on the calling thread (run_sync); ``async def`` ones on an event loop
(run_async). The outcome goes back to the core through the job, which converts values in C."""

from __future__ import annotations

import inspect
import traceback
from typing import Any, Dict, List, Optional, Tuple

from ._errors import JSONError, PermanentError, RetryableError

try:  # spans only when the application has OpenTelemetry; without it nothing is imported
    from opentelemetry import trace as _otel_trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator as _Propagator
except ImportError:  # pragma: no cover - depends on the environment
    _otel_trace = None  # type: ignore[assignment]
    _Propagator = None  # type: ignore[assignment,misc]


def class_name(exc: BaseException) -> str:
    t = type(exc)
    mod = t.__module__
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def backtrace(exc: BaseException) -> List[str]:
    return [f"{fs.filename}:{fs.lineno}:in {fs.name}" for fs in traceback.extract_tb(exc.__traceback__)]


def _context(exc: BaseException) -> Optional[Dict[str, Any]]:
    ctx = getattr(exc, "context", None)
    return ctx if isinstance(ctx, dict) and ctx else None


def fail(job: Any, exc: BaseException) -> None:
    """Hands a failure to the core (handler specification, rules 4-7)."""
    message = str(exc)
    name = class_name(exc)
    trace = backtrace(exc)
    if isinstance(exc, PermanentError):
        args: Tuple[Any, ...] = (True, message, name, exc.error_code, _context(exc), trace, None)
    elif isinstance(exc, RetryableError):
        args = (False, message, name, None, _context(exc), trace, exc.retry_after)
    else:
        args = (False, message, name, None, None, trace, None)
    try:
        job.fail(*args)
    except JSONError as bad:  # the error's context has no JSON form: record the failure without it
        job.fail(args[0], f"{message} (context dropped: {bad})", name, args[3], None, trace, args[6])


def succeed(job: Any, results: Any) -> None:
    """Stores results; a value with no JSON form fails the step for good (rule 8)."""
    try:
        job.succeed(results)
    except JSONError as bad:
        job.fail(True, f"the results of step {job.name!r} have no JSON form: {bad}", "tasker_core.JSONError",
                 "INVALID_RESULT", None, None, None)


def _span(job: Any) -> Any:
    if _otel_trace is None:
        return None
    task_id, step_id, attempts = job.ids
    namespace, task_name = job.names
    tracer = _otel_trace.get_tracer("tasker_core")
    parent = job.traceparent
    context = _Propagator().extract({"traceparent": parent}) if parent and _Propagator is not None else None
    return tracer.start_as_current_span(
        f"tasker.step {job.name}", context=context,
        attributes={"tasker.task_id": task_id, "tasker.step_id": step_id, "tasker.namespace": namespace,
                    "tasker.task_name": task_name, "tasker.step_name": job.name, "tasker.attempt": attempts + 1,
                    "tasker.handler_class": job.handler_class})


def run_sync(handler: Any, job: Any) -> None:
    """Runs a plain-def handler on this thread and hands the outcome back."""
    span = _span(job)
    if span is not None:
        with span as s:
            outcome = _run_sync(handler, job)
            s.set_attribute("tasker.outcome", outcome)
        return
    _run_sync(handler, job)


def _run_sync(handler: Any, job: Any) -> str:
    task, sequence, step = job.arguments()
    initial = step.results
    try:
        output = handler.process(task, sequence, step)
        if inspect.isawaitable(output):
            if inspect.iscoroutine(output):
                output.close()
            raise TypeError(f"{type(handler).__qualname__}.process returned an awaitable; "
                            "async handlers run under `await worker.serve()`")
        handler.process_results(step, output, initial)
    except Exception as exc:
        fail(job, exc)
        return "failure"
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: record, then let it go on
        fail(job, exc)
        raise
    results = step.results
    del task, sequence, step  # a sequence nobody holds any more is never read (see _objects.Sequence)
    succeed(job, results)
    return "success"


async def run_async(handler: Any, job: Any) -> None:
    """Runs an async-def handler on the running event loop and hands the outcome back."""
    span = _span(job)
    if span is not None:
        with span as s:
            s.set_attribute("tasker.outcome", await _run_async(handler, job))
        return
    await _run_async(handler, job)


async def _run_async(handler: Any, job: Any) -> str:
    task, sequence, step = job.arguments()
    initial = step.results
    try:
        output = handler.process(task, sequence, step)
        if inspect.isawaitable(output):
            output = await output
        done = handler.process_results(step, output, initial)
        if inspect.isawaitable(done):
            await done
    except Exception as exc:
        fail(job, exc)
        return "failure"
    except BaseException as exc:  # cancellation: record it, then let it go on
        fail(job, exc)
        raise
    results = step.results
    del task, sequence, step  # a sequence nobody holds any more is never read (see _objects.Sequence)
    succeed(job, results)
    return "success"


def is_async(handler_cls: type) -> bool:
    """True when the class's process is ``async def``."""
    return inspect.iscoroutinefunction(getattr(handler_cls, "process", None))

