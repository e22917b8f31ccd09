"""The README's Python example: two handlers, one retried once, run by a worker until idle.

    TASKER_DATABASE_URL=postgresql://... python greeting.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict

import tasker_core


class FetchUser(tasker_core.StepHandler):
    def process(self, task: tasker_core.Task, sequence: tasker_core.Sequence,
                step: tasker_core.Step) -> Dict[str, Any]:
        return {"name": task.context["name"].capitalize()}


class Compose(tasker_core.StepHandler):
    def process(self, task: tasker_core.Task, sequence: tasker_core.Sequence,
                step: tasker_core.Step) -> Dict[str, Any]:
        if step.attempts == 0:
            raise tasker_core.RetryableError("busy", retry_after=1)
        user = sequence.find_step_by_name("fetch_user")
        assert user is not None
        return {"text": f"Hello, {user.results['name']}!"}


def main() -> None:
    with tasker_core.Client(os.environ.get("DATABASE_URL")) as client:
        client.migrate()
        client.register_template(Path(__file__).with_name("greeting.yaml"))
        task_id = client.create_task("greeting", {"name": "ada"}, version="1.0.0")
        tasker_core.Worker(client, [FetchUser, Compose], concurrency=10).run_until_idle()  # or .run()
        print(client.task(task_id).step("compose").results["text"])  # Hello, Ada!


if __name__ == "__main__":
    main()
