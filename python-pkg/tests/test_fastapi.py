"""The FastAPI example, driven by FastAPI's TestClient against the real database."""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any

import pytest

from conftest import REPO

pytestmark = pytest.mark.newest
fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402


def load_example() -> Any:
    path = REPO / "examples" / "python" / "fastapi_app.py"
    spec = importlib.util.spec_from_file_location("fastapi_app", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fastapi_app"] = mod  # pydantic resolves the annotations through the module
    spec.loader.exec_module(mod)
    return mod


def test_post_then_get_runs_the_workflow(db_url: str) -> None:
    app = load_example().create_app(db_url)
    with TestClient(app) as http:
        r = http.post("/tasks", json={"context": {"name": "ada"}})
        assert r.status_code == 201, r.text
        task_id = r.json()["task_id"]
        deadline = time.monotonic() + 20
        while True:
            body = http.get(f"/tasks/{task_id}").json()
            if body["state"] == "complete" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert body["state"] == "complete", body
        assert [s["name"] for s in body["steps"]] == ["fetch_user", "compose"]
        assert body["steps"][1]["results"] == {"text": "Hello, Ada!"}


def test_schema_errors_are_422_with_the_path(db_url: str) -> None:
    app = load_example().create_app(db_url)
    with TestClient(app) as http:
        r = http.post("/tasks", json={"context": {"name": 5}})
        assert r.status_code == 422
        assert r.json()["detail"]["path"] == "$.name"
        assert http.post("/tasks", json={"name": "nope", "context": {}}).status_code == 404
        assert http.get("/tasks/999999").status_code == 404
