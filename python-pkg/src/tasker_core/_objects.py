"""What a handler receives: the task, the sequence (every step of the task) and the step
(handler specification, rule 1). The extension fills them from the claimed step, values already
converted to dict/list/str/int/float/bool/None."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional


class Task:
    """The task a step belongs to."""

    __slots__ = ("task_id", "name", "namespace_name", "version", "context", "tags", "initiator",
                 "source_system", "reason")

    def __init__(self, task_id: int, name: str, namespace_name: str, version: str, context: Dict[str, Any],
                 tags: List[Any], initiator: Optional[str], source_system: Optional[str],
                 reason: Optional[str]) -> None:
        self.task_id = task_id
        self.name = name
        self.namespace_name = namespace_name
        self.version = version
        self.context = context
        self.tags = tags
        self.initiator = initiator
        self.source_system = source_system
        self.reason = reason

    def __repr__(self) -> str:
        return f"<Task {self.task_id} {self.namespace_name}/{self.name}@{self.version}>"


class SequenceStep:
    """One step of the task as the sequence shows it."""

    __slots__ = ("workflow_step_id", "name", "state", "attempts", "results")

    def __init__(self, workflow_step_id: int, name: str, state: str, attempts: int, results: Any) -> None:
        self.workflow_step_id = workflow_step_id
        self.name = name
        self.state = state
        self.attempts = attempts
        self.results = results

    def __repr__(self) -> str:
        return f"<SequenceStep {self.workflow_step_id} {self.name} {self.state}>"


class Sequence:
    """Every step of the task, in workflow_step_id order. Steps are read from the claimed step when
    first asked for: ``find_step_by_name`` converts only the step it returns."""

    __slots__ = ("_job", "_steps")

    def __init__(self, source: Any) -> None:
        self._job: Any = None
        self._steps: Optional[List[SequenceStep]] = None
        if isinstance(source, list):
            self._steps = source
        else:
            self._job = source

    @property
    def steps(self) -> List[SequenceStep]:
        """Every step of the task with workflow_step_id, name, state, attempts and results."""
        if self._steps is None:
            self._materialize()
        assert self._steps is not None
        return self._steps

    def _materialize(self) -> None:
        if self._steps is None:
            self._steps = self._job._sequence_steps()
            self._job = None

    def find_step_by_name(self, name: str) -> Optional[SequenceStep]:
        """The step called ``name``, or None when the task has none."""
        if self._steps is None:
            found: Optional[SequenceStep] = self._job._sequence_step(name)
            return found
        for s in self._steps:
            if s.name == name:
                return s
        return None

    def __iter__(self) -> Iterator[SequenceStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)


class Step:
    """The step being run. Assigning ``results`` during ``process`` decides what is stored."""

    __slots__ = ("workflow_step_id", "name", "attempts", "retry_limit", "handler_config", "inputs",
                 "handler_class", "_results", "_assigned")

    def __init__(self, workflow_step_id: int, name: str, attempts: int, retry_limit: int, handler_config: Any,
                 inputs: Any, results: Any, handler_class: str) -> None:
        self.workflow_step_id = workflow_step_id
        self.name = name
        self.attempts = attempts
        self.retry_limit = retry_limit
        self.handler_config = handler_config
        self.inputs = inputs
        self.handler_class = handler_class
        self._results = results
        self._assigned = False

    @property
    def results(self) -> Any:
        """The step's results: before ``process`` those of the previous run; assign to store."""
        return self._results

    @results.setter
    def results(self, value: Any) -> None:
        self._results = value
        self._assigned = True

    @property
    def results_assigned(self) -> bool:
        """True once ``results`` was assigned during this run."""
        return self._assigned

    def __repr__(self) -> str:
        return f"<Step {self.workflow_step_id} {self.name} attempts={self.attempts}>"
