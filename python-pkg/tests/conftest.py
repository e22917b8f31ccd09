"""Fixtures: every test module works in a database of its own on the server named by
TASKER_DATABASE_URL (ci/test-python.sh starts a private one); nothing is mocked."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

import tasker_core as tc

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
REPO = Path(os.environ.get("TASKER_REPO_ROOT") or HERE.parents[1])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "newest: needs the packages only the newest Python gets (FastAPI, mypy)")


def database_url(name: str) -> str:
    base = os.environ["TASKER_DATABASE_URL"]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = base.partition("?")
    return head.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


@pytest.fixture(scope="module")
def db_url(request: pytest.FixtureRequest) -> str:
    name = "py_" + re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])
    url = database_url(name)
    with tc.Client(url) as c:
        c.migrate()
        for t in sorted(TEMPLATES.glob("*.yaml")):
            c.register_template(t)
    return url


@pytest.fixture
def client(db_url: str) -> Iterator[tc.Client]:
    c = tc.Client(db_url, config={"backoff": {"default_backoff_seconds": [0], "jitter_enabled": False},
                                  "execution": {"poll_interval_ms": 200}})
    yield c
    c.close()


@pytest.fixture
def sql(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn
