"""Client and AsyncClient: the engine's operations on one database (a pool of connections in C).
Every call that waits on PostgreSQL releases the GIL; AsyncClient runs the same calls on a small
thread pool, so a coroutine never blocks the event loop."""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, TypeVar, Union

from . import _native
from ._errors import NotFoundError
from .events import Subscription, subscribe

PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")


class StepInfo:
    """One step of a task as ``Client.task`` reads it."""

    __slots__ = ("workflow_step_id", "name", "handler_class", "state", "attempts", "retry_limit", "retryable",
                 "skippable", "processed", "results", "parent_ids")

    def __init__(self, d: Mapping[str, Any]) -> None:
        self.workflow_step_id: int = d["workflow_step_id"]
        self.name: str = d["name"]
        self.handler_class: Optional[str] = d["handler_class"]
        self.state: str = d["state"]
        self.attempts: int = d["attempts"]
        self.retry_limit: int = d["retry_limit"]
        self.retryable: bool = d["retryable"]
        self.skippable: bool = d["skippable"]
        self.processed: bool = d["processed"]
        self.results: Any = d["results"]
        self.parent_ids: List[int] = d["parent_ids"]

    def __repr__(self) -> str:
        return f"<StepInfo {self.workflow_step_id} {self.name} {self.state}>"


class TaskInfo:
    """A task with its steps (in dependency order) and what it needs now (``execution``)."""

    __slots__ = ("task_id", "namespace_name", "name", "version", "state", "complete", "context", "tags",
                 "initiator", "source_system", "reason", "identity_hash", "requested_at", "steps", "mermaid",
                 "execution")

    def __init__(self, d: Mapping[str, Any], execution: Dict[str, Any]) -> None:
        self.task_id: int = d["task_id"]
        self.namespace_name: str = d["namespace_name"]
        self.name: str = d["name"]
        self.version: str = d["version"]
        self.state: str = d["state"]
        self.complete: bool = d["complete"]
        self.context: Dict[str, Any] = d["context"]
        self.tags: List[Any] = d["tags"]
        self.initiator: Optional[str] = d["initiator"]
        self.source_system: Optional[str] = d["source_system"]
        self.reason: Optional[str] = d["reason"]
        self.identity_hash: Optional[str] = d["identity_hash"]
        self.requested_at: Optional[str] = d["requested_at"]
        self.mermaid: Optional[str] = d["mermaid"]
        self.steps: List[StepInfo] = [StepInfo(s) for s in d["steps"]]
        #: get_task_execution_context: execution_status, recommended_action, step counts...
        self.execution: Dict[str, Any] = execution

    def step(self, name: str) -> StepInfo:
        """The step called ``name``; NotFoundError when the task has none."""
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFoundError(f"task {self.task_id} has no step named {name!r}")

    def __repr__(self) -> str:
        return f"<TaskInfo {self.task_id} {self.namespace_name}/{self.name} {self.state}>"


class Client:
    """Opens a pool of connections to the engine's database.

    ``database_url``: a libpq URL or key=value string (None: ``$TASKER_DATABASE_URL``, then libpq's
    ``PG*`` variables). ``config``: the engine's configuration as a dict or a YAML file path
    (docs/configuration.md); ``TASKER_<SECTION>_<KEY>`` environment variables apply over it.
    """

    def __init__(self, database_url: Optional[str] = None, *, pool_size: int = 0,
                 config: Union[None, Mapping[str, Any], PathLike] = None,
                 application_name: Optional[str] = None) -> None:
        cfg: Any = dict(config) if isinstance(config, Mapping) else (os.fspath(config) if config is not None else None)
        self._native = _native.Client(database_url, pool_size, cfg, application_name)
        self.pool_size = pool_size or 8

    # -- lifecycle
    def close(self) -> None:
        """Closes every connection (calls still running finish first). Idempotent."""
        self._native.close()

    @property
    def closed(self) -> bool:
        return bool(self._native.closed)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema and templates
    def migrate(self) -> int:
        """Applies the embedded migrations not yet applied; returns how many it applied."""
        return int(self._native.migrate())

    def register_template(self, template: Union[PathLike, Mapping[str, Any]], *, strict: Optional[bool] = None,
                          environment: Optional[str] = None) -> Dict[str, Any]:
        """Registers a task template: a YAML/JSON file path, or the template as a dict."""
        if isinstance(template, Mapping):
            text = _native.json_dumps(dict(template))
            return dict(self._native.register_template(None, text=text, is_json=True, strict=strict,
                                                       environment=environment))
        return dict(self._native.register_template(os.fspath(template), strict=strict, environment=environment))

    # -- tasks
    def create_task(self, name: str, context: Optional[Mapping[str, Any]] = None, *, namespace: Optional[str] = None,
                    version: Optional[str] = None, initiator: Optional[str] = None,
                    source_system: Optional[str] = None, reason: Optional[str] = None,
                    tags: Optional[Iterable[Any]] = None, bypass_steps: Optional[Iterable[str]] = None,
                    identity_strategy: Optional[str] = None, traceparent: Optional[str] = None,
                    requested_at: Optional[str] = None) -> int:
        """Creates a task from a registered template; returns its id. ContextError names the path of a
        context that fails the template's schema; nothing is written then. requested_at is UTC,
        "YYYY-MM-DD HH:MM:SS" (default now); with hash identity its minute is part of the identity."""
        task_id, _created = self._create(name, context, namespace, version, initiator, source_system, reason, tags,
                                         bypass_steps, identity_strategy, traceparent, requested_at)
        return int(task_id)

    def find_or_create_task(self, name: str, context: Optional[Mapping[str, Any]] = None,
                            **options: Any) -> "tuple[int, bool]":
        """Like create_task with hash identity: an identical request returns the existing task.
        Returns ``(task_id, created)``."""
        options["identity_strategy"] = "hash"
        task_id, created = self._create(name, context, options.get("namespace"), options.get("version"),
                                        options.get("initiator"), options.get("source_system"),
                                        options.get("reason"), options.get("tags"), options.get("bypass_steps"),
                                        "hash", options.get("traceparent"), options.get("requested_at"))
        return int(task_id), bool(created)

    def _create(self, name: str, context: Optional[Mapping[str, Any]], namespace: Optional[str],
                version: Optional[str], initiator: Optional[str], source_system: Optional[str],
                reason: Optional[str], tags: Optional[Iterable[Any]], bypass: Optional[Iterable[str]],
                identity: Optional[str], traceparent: Optional[str], requested_at: Optional[str] = None) -> Any:
        return self._native.create_task(
            name, dict(context) if context is not None else {}, namespace=namespace, version=version,
            initiator=initiator, source_system=source_system, reason=reason,
            tags=list(tags) if tags is not None else None, bypass_steps=list(bypass) if bypass is not None else None,
            identity_strategy=identity, traceparent=traceparent, requested_at=requested_at)

    def task(self, task_id: int) -> TaskInfo:
        """The task with its steps and its execution context."""
        return TaskInfo(self._native.task(task_id), self._native.execution_context(task_id))

    def readiness(self, task_id: int) -> List[Dict[str, Any]]:
        """Readiness of every step (get_step_readiness_status, column for column)."""
        return list(self._native.readiness(task_id))

    def cancel_task(self, task_id: int) -> None:
        self._native.cancel_task(task_id)

    def retry_task(self, task_id: int) -> None:
        self._native.retry_task(task_id)

    def resolve_step(self, step_id: int, results: Any = None) -> None:
        """Resolves a pending or failed step by hand, with optional results."""
        self._native.resolve_step(step_id, results)

    def health(self) -> Dict[str, Any]:
        return dict(self._native.health())

    def mermaid(self, task_id: int) -> str:
        """A Mermaid flowchart of the task's DAG, nodes coloured by state."""
        return str(self._native.task(task_id)["mermaid"])

    def metrics(self, include_database: bool = False) -> str:
        """Metrics in the Prometheus text format."""
        return str(self._native.metrics(include_database))

    # -- events
    def subscribe(self, pattern: str, callback: Callable[[str, Dict[str, Any]], Any], *,
                  capacity: int = 0) -> Subscription:
        """Calls ``callback(name, payload)`` for this client's events matching ``pattern``
        ("step.*", "*.failed", an exact name). A coroutine function runs on the event loop that was
        running when subscribing; a plain function on a thread of the subscription."""
        return subscribe(self, pattern, callback, capacity)


class AsyncClient:
    """Client's operations as coroutines: each runs on a thread of a small pool (the GIL is released
    while it waits on PostgreSQL), so the event loop never blocks."""

    def __init__(self, database_url: Optional[str] = None, *, pool_size: int = 0,
                 config: Union[None, Mapping[str, Any], PathLike] = None,
                 application_name: Optional[str] = None) -> None:
        self.sync = Client(database_url, pool_size=pool_size, config=config, application_name=application_name)
        self._pool = ThreadPoolExecutor(max_workers=self.sync.pool_size, thread_name_prefix="tasker-client")

    async def _run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kw))

    async def close(self) -> None:
        await self._run(self.sync.close)
        self._pool.shutdown(wait=False)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def migrate(self) -> int:
        return await self._run(self.sync.migrate)

    async def register_template(self, template: Union[PathLike, Mapping[str, Any]], **kw: Any) -> Dict[str, Any]:
        return await self._run(self.sync.register_template, template, **kw)

    async def create_task(self, name: str, context: Optional[Mapping[str, Any]] = None, **kw: Any) -> int:
        return await self._run(self.sync.create_task, name, context, **kw)

    async def find_or_create_task(self, name: str, context: Optional[Mapping[str, Any]] = None,
                                  **kw: Any) -> "tuple[int, bool]":
        return await self._run(self.sync.find_or_create_task, name, context, **kw)

    async def task(self, task_id: int) -> TaskInfo:
        return await self._run(self.sync.task, task_id)

    async def readiness(self, task_id: int) -> List[Dict[str, Any]]:
        return await self._run(self.sync.readiness, task_id)

    async def cancel_task(self, task_id: int) -> None:
        await self._run(self.sync.cancel_task, task_id)

    async def retry_task(self, task_id: int) -> None:
        await self._run(self.sync.retry_task, task_id)

    async def resolve_step(self, step_id: int, results: Any = None) -> None:
        await self._run(self.sync.resolve_step, step_id, results)

    async def health(self) -> Dict[str, Any]:
        return await self._run(self.sync.health)

    async def mermaid(self, task_id: int) -> str:
        return await self._run(self.sync.mermaid, task_id)

    def subscribe(self, pattern: str, callback: Callable[[str, Dict[str, Any]], Any], *,
                  capacity: int = 0) -> Subscription:
        return self.sync.subscribe(pattern, callback, capacity=capacity)


def describe_template(template: Union[PathLike, Mapping[str, Any]], *,
                      environment: Optional[str] = None) -> "tuple[Dict[str, Any], List[Dict[str, Any]]]":
    """Validates a template without a database; returns ``(info, steps)`` where each step has
    name, handler_class, depends_on, retry_limit, retryable and skippable."""
    if isinstance(template, Mapping):
        info, steps = _native.describe_template(None, text=_native.json_dumps(dict(template)), is_json=True,
                                                environment=environment)
    else:
        info, steps = _native.describe_template(os.fspath(template), environment=environment)
    return dict(info), list(steps)
