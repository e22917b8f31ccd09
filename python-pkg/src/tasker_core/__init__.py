"""tasker-core: DAG workflows on PostgreSQL, with step handlers written in Python.

    import tasker_core

    class Hello(tasker_core.StepHandler):
        def process(self, task, sequence, step):
            return {"greeting": "hello " + task.context["name"]}

The engine (claiming, leases, retries, dependencies, events) is the C core compiled into this
package; this package converts values and runs your handlers.
"""

from __future__ import annotations

from . import _errors, _objects
from ._errors import (ClosedError, ConfigurationError, ConflictError, ConnectionError, ContextError,
                      CancelledError, DatabaseError, Error, HandlerNotFoundError, JSONError, MigrationError,
                      NotFoundError, PermanentError, ProceduralError, RetryableError, StoppedError,
                      TemplateError, TimeoutError, TransitionError, ValidationError)
from . import _native
from ._native import StepHandler
from ._objects import Sequence, SequenceStep, Step, Task
from .client import AsyncClient, Client, StepInfo, TaskInfo, describe_template
from .events import Subscription
from .worker import Worker, execute_step

_native._setup(_objects)

__version__ = "0.1.0"
CORE_VERSION: str = _native.CORE_VERSION

__all__ = [
    "AsyncClient", "CancelledError", "Client", "ClosedError", "ConfigurationError", "ConflictError",
    "ConnectionError", "ContextError", "DatabaseError", "Error", "HandlerNotFoundError", "JSONError",
    "MigrationError", "NotFoundError", "PermanentError", "ProceduralError", "RetryableError", "Sequence",
    "SequenceStep", "Step", "StepHandler", "StepInfo", "StoppedError", "Subscription", "Task", "TaskInfo",
    "TemplateError", "TimeoutError", "TransitionError", "ValidationError", "Worker", "describe_template",
    "execute_step",
]
del _errors
