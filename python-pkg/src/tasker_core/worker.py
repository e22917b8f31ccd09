"""Worker: runs Python step handlers for the core's host-driven worker. The core claims steps,
extends their leases, recovers, batches completions and stops gracefully; it hands steps out and
this module runs their handlers — plain ``def`` handlers on threads (``run``) or a bounded thread
pool (``serve``), ``async def`` handlers on the event loop (``serve``)."""

from __future__ import annotations

import asyncio
import contextvars
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Generator, Iterable, Mapping, Optional, Set, Tuple, Union

from . import _native
from ._errors import HandlerNotFoundError, StoppedError
from ._runner import is_async, run_async, run_sync
from .client import Client

Handlers = Union[Mapping[str, Any], Iterable[type]]

def _handler_table(handlers: Handlers) -> Dict[str, Tuple[Any, bool]]:
    """handler_class name -> (class or instance, is_async). A class is instantiated per step run."""
    items: Iterable[Tuple[str, Any]]
    if isinstance(handlers, Mapping):
        items = handlers.items()
    else:
        items = ((getattr(c, "handler_class", None) or c.__name__, c) for c in handlers)
    table: Dict[str, Tuple[Any, bool]] = {}
    for name, h in items:
        cls = h if isinstance(h, type) else type(h)
        if not callable(getattr(cls, "process", None)):
            raise TypeError(f"handler for {name!r} has no process method")
        table[str(name)] = (h, is_async(cls))
    if not table:
        raise ValueError("a worker needs at least one handler")
    return table


def _instance(h: Any) -> Any:
    return h() if isinstance(h, type) else h


def _eager_task(coro: Any, loop: asyncio.AbstractEventLoop) -> "asyncio.Future[Any]":
    """``coro`` started at once, in a context of its own, up to its first real wait: a handler that
    never waits is finished when this returns and costs no trip through the loop. asyncio >= 3.12 has
    this (eager_start; the handler sees its task as the current one from its first line); before, the
    first step runs here and a coroutine that waits goes on in an ordinary task that resumes it."""
    if _EAGER:
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    ctx = contextvars.copy_context()
    fut: asyncio.Future[Any] = loop.create_future()
    try:
        pending = ctx.run(coro.send, None)
    except StopIteration as stop:
        fut.set_result(stop.value)
        return fut
    except asyncio.CancelledError:
        fut.cancel()
        return fut
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        fut.set_exception(exc)
        return fut
    return loop.create_task(_resume(coro, pending, ctx))


async def _resume(coro: Any, pending: Any, ctx: contextvars.Context) -> Any:
    return await _Resumed(coro, pending, ctx)


class _Resumed:
    """The rest of a coroutine whose first step already ran: hands the task what it waits on, and sends
    or throws into it what the task gets back — each step in the coroutine's own context."""

    __slots__ = ("coro", "pending", "ctx")

    def __init__(self, coro: Any, pending: Any, ctx: contextvars.Context) -> None:
        self.coro, self.pending, self.ctx = coro, pending, ctx

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting_on = self.pending
        while True:
            resume: Callable[[Any], Any]
            try:
                value = yield waiting_on
                resume = self.coro.send
            except BaseException as exc:  # the task's cancellation and the awaited future's errors
                value, resume = exc, self.coro.throw
            try:
                waiting_on = self.ctx.run(resume, value)
            except StopIteration as stop:
                return stop.value


_EAGER = sys.version_info >= (3, 12)


class Worker:
    """Runs the handlers of ``handlers`` (a dict ``{handler_class: class or instance}``, or classes,
    each named by its ``handler_class`` attribute or its ``__name__``) for steps of ``client``'s
    database. ``concurrency``: steps run at once, across threads and the event loop; by default the
    client's ``execution.concurrency`` (10 unless configured)."""

    def __init__(self, client: Client, handlers: Handlers, *, concurrency: Optional[int] = None,
                 claim_batch: int = 0, completion_batch: int = 0, lease_seconds: int = 0,
                 poll_interval_ms: int = 0, worker_id: Optional[str] = None) -> None:
        self.client = client
        self._handlers = _handler_table(handlers)
        if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                        or concurrency < 1):
            raise ValueError(f"concurrency must be a positive int (or None for the client's "
                             f"execution.concurrency), not {concurrency!r}")
        self._w = _native.Worker(client._native, list(self._handlers), concurrency=concurrency or 0,
                                 claim_batch=claim_batch, completion_batch=completion_batch,
                                 lease_seconds=lease_seconds, poll_interval_ms=poll_interval_ms,
                                 worker_id=worker_id)
        self._started = False
        self._stop_requested = False

    @property
    def concurrency(self) -> int:
        """Steps run at once: the ``concurrency`` given, else the client's ``execution.concurrency``."""
        return int(self._w.concurrency)

    @property
    def processed(self) -> int:
        """Steps this worker processed so far."""
        return int(self._w.processed)

    def stop(self) -> None:
        """Asks the worker to stop: no new claims; steps running finish (up to the shutdown timeout).
        Thread-safe; safe from a signal handler."""
        self._stop_requested = True
        self._w.stop()

    def close(self) -> None:
        """Stops (if running) and frees the worker."""
        self._w.close()

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a Worker runs once; create another to run again")
        self._started = True
        self._w.start()
        if self._stop_requested:
            self._w.stop()

    def _handler(self, job: Any) -> Tuple[Any, bool]:
        try:
            return self._handlers[job.handler_class]
        except KeyError:
            raise HandlerNotFoundError(f"no handler for {job.handler_class!r}") from None

    def _run_job_on_thread(self, job: Any, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        h, asynchronous = self._handler(job)
        if asynchronous:
            assert loop is not None
            loop.run_until_complete(run_async(_instance(h), job))
        else:
            run_sync(_instance(h), job)

    # -- threads
    def _thread_main(self, watch_idle: bool) -> None:
        loop = asyncio.new_event_loop() if any(a for _, a in self._handlers.values()) else None
        try:
            while True:
                try:
                    job = self._w.next(100 if watch_idle else -1)
                except StoppedError:
                    return
                if job is None:
                    if watch_idle and self._w.idle():
                        self._w.stop()
                    continue
                self._run_job_on_thread(job, loop)
        finally:
            if loop is not None:
                loop.close()

    def _run_threads(self, until_idle: bool) -> None:
        self._start()
        threads = [threading.Thread(target=self._thread_main, args=(until_idle and i == 0,),
                                    name=f"tasker-worker-{i}", daemon=True) for i in range(self.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # a timed join lets the main thread run signal handlers
                t.join(0.2)
        self._w.wait(-1)

    def run(self) -> None:
        """Runs handlers on ``concurrency`` threads until stop() or SIGTERM/SIGINT (when called on the
        main thread): then no new steps are taken, running ones finish and their results are
        written before it returns."""
        previous: Dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            self._run_threads(until_idle=False)
        finally:
            for sig, h in previous.items():
                signal.signal(sig, h)

    def run_until_idle(self) -> None:
        """Runs until nothing this worker can run is queued (now or in a backoff) and nothing is
        running. For tests and batch jobs."""
        self._run_threads(until_idle=True)

    # -- asyncio
    async def serve(self, *, until_idle: bool = False) -> None:
        """Runs on the current event loop until stop() (or cancellation): steps are taken when the
        core's descriptor is readable; ``async def`` handlers run on the loop, plain ones on a
        bounded thread pool. Returns after the running steps finished and their results are
        written."""
        loop = asyncio.get_running_loop()
        self._start()
        fd = self._w.fd()
        done: asyncio.Future[None] = loop.create_future()
        running: Set[asyncio.Future[Any]] = set()
        concurrency = self.concurrency
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tasker-handler")

        def launch(job: Any) -> None:
            try:
                h, asynchronous = self._handler(job)
            except HandlerNotFoundError as exc:
                job.fail(True, str(exc), "tasker_core.HandlerNotFoundError", "HANDLER_NOT_FOUND")
                return
            fut: asyncio.Future[Any]
            if asynchronous:
                # The handler runs at once, up to its first real wait: a handler that never waits costs
                # no trip through the loop.
                fut = _eager_task(run_async(_instance(h), job), loop)
            else:
                fut = loop.run_in_executor(pool, run_sync, _instance(h), job)
            if fut.done():
                finished(fut)
                return
            running.add(fut)
            fut.add_done_callback(finished)

        def finished(fut: "asyncio.Future[Any]") -> None:
            running.discard(fut)
            if not fut.cancelled() and fut.exception() is not None:
                loop.call_exception_handler({"message": "step handler runner failed", "exception": fut.exception()})

        def on_readable() -> None:
            # Up to 8 steps per wake-up, each started at once (a handler that never waits runs to its end
            # here): bounded, so one callback stays short whatever the concurrency; the descriptor is
            # level-triggered, so the loop calls again while more are waiting.
            for _ in range(8):
                try:
                    job = self._w.next(0)
                except StoppedError:
                    loop.remove_reader(fd)
                    if not done.done():
                        done.set_result(None)
                    return
                if job is None:
                    return
                launch(job)

        idle_timer: Optional[asyncio.TimerHandle] = None

        def check_idle() -> None:
            nonlocal idle_timer
            if not running and self._w.idle():
                self._w.stop()
            elif not done.done():
                idle_timer = loop.call_later(0.1, check_idle)

        loop.add_reader(fd, on_readable)
        if until_idle:
            check_idle()
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            self.stop()
            raise
        finally:
            if idle_timer is not None:
                idle_timer.cancel()
            loop.remove_reader(fd)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            await loop.run_in_executor(None, self._w.wait, -1)
            pool.shutdown(wait=False)

    # -- delegation
    def execute_step(self, step_id: int) -> None:
        """Runs one step on the calling thread (a job system's job): claims exactly this step, runs
        its handler and records the outcome. NotFoundError when the step is not claimable now."""
        execute_step(step_id, client=self.client, handlers=self._handlers_as_mapping())

    def _handlers_as_mapping(self) -> Dict[str, Any]:
        return {name: h for name, (h, _a) in self._handlers.items()}


def execute_step(step_id: int, *, client: Client, handlers: Handlers) -> None:
    """Delegation for job systems (Celery, RQ): claims exactly ``step_id``, runs its handler on the
    calling thread (an ``async def`` one with asyncio.run) and records the outcome. NotFoundError when
    the step is not claimable now (not ready, already claimed, finished)."""
    table = _handler_table(handlers)
    name = client._native.step_handler_class(step_id)
    if name not in table:
        raise HandlerNotFoundError(f"no handler for {name!r} (step {step_id})")
    h, asynchronous = table[name]
    job = _native.claim_step(client._native, step_id)
    if asynchronous:
        asyncio.run(run_async(_instance(h), job))
    else:
        run_sync(_instance(h), job)
