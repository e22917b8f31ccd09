"""Event subscriptions: the core queues a client's matching events (a pull-style subscription, no
core thread calls Python); this module takes them where the application lives — on the running
asyncio loop (its fd watched with add_reader), or else on a thread of the subscription."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from . import _native
from ._errors import ClosedError, StoppedError

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

log = logging.getLogger("tasker_core.events")
Callback = Callable[[str, Dict[str, Any]], Any]


class Subscription:
    """A live subscription; ``close()`` ends it (events still queued are dropped)."""

    def __init__(self, queue: Any, callback: Callback, loop: Optional[asyncio.AbstractEventLoop]) -> None:
        self._queue = queue
        self._callback = callback
        self._loop = loop
        self._thread: Optional[threading.Thread] = None
        self._closed = False
        if loop is not None:
            loop.add_reader(queue.fd(), self._drain)
        else:
            self._thread = threading.Thread(target=self._pump, name="tasker-events", daemon=True)
            self._thread.start()

    @property
    def dropped(self) -> int:
        """Events dropped because the queue was full."""
        return int(self._queue.dropped)

    def _deliver(self, event: Any) -> None:
        name, payload = event[0], event[1]
        try:
            out = self._callback(name, payload)
            if inspect.isawaitable(out):
                if self._loop is None:
                    asyncio.run(_awaited(out))
                else:
                    self._loop.create_task(_logged(out, name))
        except Exception:  # a failing subscriber never breaks anything else
            log.exception("event subscriber failed on %s", name)

    def _drain(self) -> None:
        while not self._closed:
            try:
                event = self._queue.next(0)
            except (StoppedError, ClosedError):
                return
            if event is None:
                return
            self._deliver(event)

    def _pump(self) -> None:
        while not self._closed:
            try:
                event = self._queue.next(250)
            except (StoppedError, ClosedError):
                return
            if event is not None:
                self._deliver(event)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.remove_reader(self._queue.fd())
        elif self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._queue.close()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _awaited(aw: Any) -> None:
    await aw


async def _logged(aw: Any, name: str) -> None:
    try:
        await aw
    except Exception:
        log.exception("event subscriber failed on %s", name)


def subscribe(client: "Client", pattern: str, callback: Callback, capacity: int = 0) -> Subscription:
    try:
        loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    queue = _native.EventQueue(client._native, pattern, capacity)
    return Subscription(queue, callback, loop)
