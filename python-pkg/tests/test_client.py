"""Client and AsyncClient against a real database."""

from __future__ import annotations

from typing import Any

import asyncio
import threading
import time

import psycopg
import pytest

import tasker_core as tc
from conftest import TEMPLATES


def test_migrate_is_idempotent(client: tc.Client) -> None:
    assert client.migrate() == 0


def test_register_template_from_a_path_and_from_a_dict(client: tc.Client) -> None:
    info = client.register_template(TEMPLATES / "greeting.yaml")
    assert info == {"namespace_name": "pytest", "name": "greeting", "version": "1.0.0", "step_count": 2}
    info = client.register_template({"name": "from_dict", "namespace_name": "pytest", "version": "2.0.0",
                                     "step_templates": [{"name": "one", "handler_class": "Noop"}]})
    assert (info["name"], info["version"], info["step_count"]) == ("from_dict", "2.0.0", 1)


def test_create_task_and_read_it_back(client: tc.Client) -> None:
    tid = client.create_task("greeting", {"name": "ada", "n": 2**64 + 1}, namespace="pytest", version="1.0.0",
                             initiator="pytest", tags=["a", 2**70], reason="test")
    t = client.task(tid)
    assert (t.task_id, t.name, t.namespace_name, t.version, t.state) == (tid, "greeting", "pytest", "1.0.0", "pending")
    assert t.context == {"name": "ada", "n": 2**64 + 1}
    assert t.tags == ["a", 2**70] and t.initiator == "pytest" and t.reason == "test"
    assert [s.name for s in t.steps] == ["fetch_user", "compose"]
    assert t.step("compose").parent_ids == [t.step("fetch_user").workflow_step_id]
    assert t.execution["execution_status"] == "has_ready_steps"
    assert "flowchart" in client.mermaid(tid) or "graph" in client.mermaid(tid)
    rows = client.readiness(tid)
    assert [r["name"] for r in rows] == ["fetch_user", "compose"]
    assert rows[0]["ready_for_execution"] is True and rows[1]["dependencies_satisfied"] is False
    with pytest.raises(tc.NotFoundError):
        t.step("nope")


def test_a_context_failing_the_schema_names_the_path_and_writes_nothing(client: tc.Client,
                                                                         sql: psycopg.Connection) -> None:
    before = sql.execute("SELECT count(*) FROM tasker_tasks").fetchone()
    with pytest.raises(tc.ContextError) as e:
        client.create_task("greeting", {"name": "ada", "cart": [{"quantity": "2"}]}, namespace="pytest",
                           version="1.0.0")
    assert "$.cart[0].quantity" in str(e.value) and e.value.code == "TASKER_ECONTEXT"
    assert sql.execute("SELECT count(*) FROM tasker_tasks").fetchone() == before


def test_find_or_create_task_returns_the_same_task(client: tc.Client) -> None:
    a = client.find_or_create_task("noop", {"k": 1}, namespace="pytest", version="1.0.0")
    b = client.find_or_create_task("noop", {"k": 1}, namespace="pytest", version="1.0.0")
    assert a[1] is True and b == (a[0], False)


def test_cancel_retry_resolve(client: tc.Client) -> None:
    tid = client.create_task("greeting", {"name": "x"}, namespace="pytest", version="1.0.0")
    t = client.task(tid)
    client.resolve_step(t.step("fetch_user").workflow_step_id, {"by": "hand"})
    t = client.task(tid)
    assert t.step("fetch_user").state == "resolved_manually" and t.step("fetch_user").results == {"by": "hand"}
    client.cancel_task(tid)
    assert client.task(tid).state == "cancelled"
    with pytest.raises(tc.TransitionError):
        client.cancel_task(tid)
    with pytest.raises(tc.Error):
        client.retry_task(tid)


def test_health_and_metrics(client: tc.Client) -> None:
    h = client.health()
    assert h["total_tasks"] >= 1 and "pending_steps" in h
    assert "tasker" in client.metrics()


def test_close_is_idempotent_and_later_calls_raise(db_url: str) -> None:
    with tc.Client(db_url) as c:
        assert not c.closed
    assert c.closed
    c.close()
    with pytest.raises(tc.ClosedError):
        c.health()


def test_the_gil_is_released_while_the_database_works(client: tc.Client, sql: psycopg.Connection) -> None:
    """A call that waits on a lock held elsewhere lets other Python threads run meanwhile."""
    tid = client.create_task("noop", {}, namespace="pytest", version="1.0.0")
    ticks = 0
    stop = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    sql.execute("BEGIN")
    sql.execute("SELECT 1 FROM tasker_tasks WHERE task_id = %s FOR UPDATE", (tid,))
    t = threading.Thread(target=ticker)
    t.start()
    threading.Timer(0.3, lambda: sql.execute("COMMIT")).start()
    started = time.monotonic()
    client.cancel_task(tid)  # waits for the row lock
    waited = time.monotonic() - started
    stop.set()
    t.join()
    assert waited >= 0.25
    assert ticks >= 50, f"only {ticks} ticks in {waited:.2f}s: the GIL was held"


def test_async_client_has_the_same_surface(db_url: str) -> None:
    async def main() -> None:
        async with tc.AsyncClient(db_url) as c:
            assert await c.migrate() == 0
            tid = await c.create_task("noop", {"a": 1}, namespace="pytest", version="1.0.0")
            t = await c.task(tid)
            assert t.context == {"a": 1}
            assert [r["name"] for r in await c.readiness(tid)] == ["only"]
            await c.cancel_task(tid)
            assert (await c.task(tid)).state == "cancelled"
            assert (await c.health())["total_tasks"] >= 1
            # the loop keeps running while calls wait
            results = await asyncio.gather(*(c.health() for _ in range(8)))
            assert len(results) == 8

    asyncio.run(main())


def test_ctrl_c_interrupts_a_call_waiting_on_the_database(db_url: str, sql: psycopg.Connection,
                                                          tmp_path: Any) -> None:
    """SIGINT during a call blocked on a row lock ends the call at once with KeyboardInterrupt."""
    import signal
    import subprocess
    import sys
    import textwrap
    with tc.Client(db_url) as c:
        tid = c.create_task("noop", {}, namespace="pytest", version="1.0.0")
    script = tmp_path / "blocked.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time, tasker_core as tc
        c = tc.Client({db_url!r})
        sys.stdout.write("calling\\n"); sys.stdout.flush()
        t0 = time.monotonic()
        try:
            c.cancel_task({tid})
        except KeyboardInterrupt:
            sys.stdout.write("interrupted after %.2f s\\n" % (time.monotonic() - t0))
    """))
    sql.execute("BEGIN")
    sql.execute("SELECT 1 FROM tasker_tasks WHERE task_id = %s FOR UPDATE", (tid,))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "calling"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
    finally:
        p.kill()
        sql.execute("ROLLBACK")
    assert out.startswith("interrupted after"), out
    assert float(out.split()[2]) < 3.0
