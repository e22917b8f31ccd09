"""The exception hierarchy. The extension maps every error code of the C core to one of these
classes (ext/tc_module.c); handlers raise RetryableError and PermanentError.

    Error                     anything below; also a generic core failure (TASKER_ERROR)
    ├─ ConnectionError        cannot connect, or the connection was lost
    ├─ DatabaseError          PostgreSQL reported an error (``sqlstate`` is set)
    │  └─ MigrationError      a migration failed; the message names it
    ├─ NotFoundError          no such task, step, template
    │  └─ HandlerNotFoundError  no Python class for a template's handler_class
    ├─ ConflictError          the state changed underneath you (a lost compare-and-swap)
    ├─ TransitionError        the state machine forbids this transition
    ├─ ValidationError        an argument or value is invalid; the message names it
    │  ├─ TemplateError       a task template is invalid (file, step, problem)
    │  ├─ ContextError        a task context fails the template's JSON Schema (its path)
    │  └─ JSONError           a value has no JSON form (the message names its type and path)
    ├─ ConfigurationError     a configuration key or value is invalid
    ├─ StoppedError           the worker was stopped
    ├─ TimeoutError           a bounded wait ran out
    ├─ CancelledError         the call was cancelled (Ctrl-C)
    ├─ ClosedError            the client or worker was closed
    └─ ProceduralError        raised by step handlers, as in the Rails engine:
       ├─ RetryableError      try again after a backoff, while attempts remain
       └─ PermanentError      never retry this step; the task goes to error
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping, Optional


class Error(Exception):
    """Base of every tasker_core exception."""

    #: the core's error code name, e.g. ``"TASKER_ECONFLICT"`` (None when raised by Python code)
    code: Optional[str] = None
    #: the five-character SQLSTATE of database and connection errors
    sqlstate: Optional[str] = None


class ConnectionError(Error, builtins.ConnectionError):  # noqa: A001 - the hierarchy's name
    """Cannot connect to PostgreSQL, or the connection was lost."""


class DatabaseError(Error):
    """PostgreSQL reported an error; ``sqlstate`` says which."""


class MigrationError(DatabaseError):
    """A migration failed; the message names it."""


class NotFoundError(Error, LookupError):
    """No such task, step or template."""


class HandlerNotFoundError(NotFoundError):
    """No Python handler is registered for a template's handler_class."""


class ConflictError(Error):
    """The state changed underneath the call (a lost compare-and-swap)."""


class TransitionError(Error):
    """The state machine does not allow this transition."""


class ValidationError(Error, ValueError):
    """An argument or a value is invalid; the message names it."""


class TemplateError(ValidationError):
    """A task template is invalid; the message names file, step and problem."""


class ContextError(ValidationError):
    """A task context fails its template's JSON Schema; the message names the path."""

    @property
    def path(self) -> Optional[str]:
        """The JSON path of the value that failed (``"$.cart[0].quantity"``), as the message starts."""
        text = str(self)
        return text.split(": ", 1)[0] if text.startswith("$") else None


class JSONError(ValidationError):
    """A value has no JSON form; the message names its type and where it sits."""


class ConfigurationError(Error):
    """A configuration key or value is invalid; the message names the key."""


class StoppedError(Error):
    """The worker was stopped."""


class TimeoutError(Error, builtins.TimeoutError):  # noqa: A001
    """A bounded wait ran out."""


class CancelledError(Error):
    """The call was cancelled from another thread or by a signal."""


class ClosedError(Error):
    """The client or the worker was closed."""


class ProceduralError(Error):
    """Raised by step handlers (the Rails engine's name for their failures)."""


class RetryableError(ProceduralError):
    """A failure that may succeed later: the step runs again after its backoff, or after
    ``retry_after`` seconds, while attempts remain."""

    def __init__(self, message: str = "", retry_after: Optional[float] = None,
                 context: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.context = dict(context) if context is not None else {}


class PermanentError(ProceduralError):
    """A failure retrying cannot fix: the step is not retried and its task goes to error."""

    def __init__(self, message: str = "", error_code: Optional[str] = None,
                 context: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.context = dict(context) if context is not None else {}


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, Error):
        _cls.__module__ = "tasker_core"
