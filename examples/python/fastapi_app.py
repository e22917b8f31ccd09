"""A FastAPI service that creates workflow tasks and runs their steps on its own event loop.

    uvicorn fastapi_app:app      (TASKER_DATABASE_URL names the database)

The lifespan opens the client, migrates, registers the template and serves the worker beside the
HTTP handlers: ``async def`` step handlers run on the same loop, and nothing blocks it (database
calls run on the client's threads with the GIL released; steps arrive through a file descriptor).
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

import tasker_core

TEMPLATE = Path(__file__).with_name("greeting.yaml")


class FetchUser(tasker_core.StepHandler):
    async def process(self, task: tasker_core.Task, sequence: tasker_core.Sequence,
                      step: tasker_core.Step) -> Dict[str, Any]:
        await asyncio.sleep(0)  # a real handler awaits an HTTP call or a query here
        return {"name": task.context["name"].capitalize()}


class Compose(tasker_core.StepHandler):
    async def process(self, task: tasker_core.Task, sequence: tasker_core.Sequence,
                      step: tasker_core.Step) -> Dict[str, Any]:
        user = sequence.find_step_by_name("fetch_user")
        assert user is not None
        return {"text": f"Hello, {user.results['name']}!"}


class TaskRequest(BaseModel):
    name: str = "greeting"
    version: str = "1.0.0"
    namespace: str = "default"
    context: Dict[str, Any] = Field(default_factory=dict)
    traceparent: Optional[str] = None


class StepOut(BaseModel):
    workflow_step_id: int
    name: str
    state: str
    attempts: int
    results: Any


class TaskOut(BaseModel):
    task_id: int
    name: str
    state: str
    context: Dict[str, Any]
    steps: List[StepOut]


def create_app(database_url: Optional[str] = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = tasker_core.AsyncClient(database_url or os.environ.get("TASKER_DATABASE_URL"))
        await client.migrate()
        await client.register_template(TEMPLATE)
        worker = tasker_core.Worker(client.sync, [FetchUser, Compose], concurrency=10)
        serving = asyncio.create_task(worker.serve())
        app.state.client = client
        try:
            yield
        finally:
            worker.stop()  # running steps finish and their results are written
            await serving
            await client.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/tasks", status_code=201)
    async def create_task(request: TaskRequest) -> Dict[str, int]:
        client: tasker_core.AsyncClient = app.state.client
        try:
            task_id = await client.create_task(request.name, request.context, namespace=request.namespace,
                                               version=request.version, traceparent=request.traceparent)
        except tasker_core.ContextError as e:
            raise HTTPException(422, detail={"error": str(e), "path": e.path}) from e
        except tasker_core.NotFoundError as e:
            raise HTTPException(404, detail={"error": str(e)}) from e
        return {"task_id": task_id}

    @app.get("/tasks/{task_id}")
    async def get_task(task_id: int) -> TaskOut:
        client: tasker_core.AsyncClient = app.state.client
        try:
            t = await client.task(task_id)
        except tasker_core.NotFoundError as e:
            raise HTTPException(404, detail={"error": str(e)}) from e
        return TaskOut(task_id=t.task_id, name=t.name, state=t.state, context=t.context,
                       steps=[StepOut(workflow_step_id=s.workflow_step_id, name=s.name, state=s.state,
                                      attempts=s.attempts, results=s.results) for s in t.steps])

    return app


app = create_app()
