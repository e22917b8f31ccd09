"""The Python runner of the conformance suite (tests/conformance/README.md at the repository root):
every case file is one workflow run, executed with Python handler subclasses on a fresh database,
then checked against its expectations. Handlers are plain ``def`` (``--mode sync``, run by
``Worker.run_until_idle``) or ``async def`` (``--mode async``, run by ``await Worker.serve``).

    python tests/conformance.py --mode sync|async [--case SUBSTRING[,SUBSTRING...]] [--cases DIR]

Prints ``conformance python-<mode> <case> ok|FAIL`` per case (with the reasons of a failure), then
``conformance: N passed, N failed``. Needs TASKER_DATABASE_URL (a server where it may create
databases) and psycopg for the checks that read tables directly; TASKER_REPO_ROOT names the repository
when this file runs from a copy."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import psycopg

import tasker_core as tc

ROOT = Path(os.environ.get("TASKER_REPO_ROOT") or Path(__file__).resolve().parents[2]) / "tests" / "conformance"


class CaseFailure(AssertionError):
    pass


# ------------------------------------------------------------------ what the handlers do




def make_handler(kase: "Case", asynchronous: bool) -> type:
    """One handler class for a case; it decides what to do from the step's name."""

    def start(step: tc.Step) -> Tuple[Dict[str, Any], int]:
        b = kase.behaviour(step.name)
        return b, kase.count_run(step.name)

    def before(b: Dict[str, Any], run: int, task: tc.Task, step: tc.Step) -> None:
        if b.get("cancel_task"):
            kase.client.cancel_task(task.task_id)
        message = f"{step.name} failed (run {run})"
        if b.get("permanent"):
            raise tc.PermanentError(message, error_code=b.get("error_code"))
        if b.get("fail_times") and run <= b["fail_times"]:
            raise tc.RetryableError(message, retry_after=b.get("retry_after"))
        if "assign" in b:
            step.results = b["assign"]
        raise_if(b, run, "process", step)

    def after(b: Dict[str, Any], task: tc.Task, sequence: tc.Sequence, step: tc.Step) -> Any:
        if b.get("return_invalid"):
            return {"value": float("nan") if b["return_invalid"] == "number" else object()}
        if b.get("report"):
            return report(kase, b, task, sequence, step)
        if b.get("echo_context"):
            return task.context
        if "copy_from" in b:
            s = sequence.find_step_by_name(b["copy_from"])
            return s.results if s is not None else None
        if "add" in b:
            return {"value": b["add"] + sum_from(sequence, b.get("from", []))}
        if "result" in b:
            return b["result"]
        return {"step": step.name}

    def results_phase(handler: tc.StepHandler, step: tc.Step, output: Any, initial: Any) -> Any:
        b = kase.behaviour(step.name)
        raise_if(b, kase.runs_of(step.name), "process_results", step)
        kind = b.get("process_results")
        if kind == "wrap":
            step.results = {"output": output, "initial": initial}
            return None
        if kind == "return_only":
            return {"returned_by_process_results": True}
        return tc.StepHandler.process_results(handler, step, output, initial)

    if asynchronous:
        class AsyncHandler(tc.StepHandler):
            async def process(self, task: tc.Task, sequence: tc.Sequence, step: tc.Step) -> Any:
                b, run = start(step)
                if b.get("sleep_ms"):
                    await asyncio.sleep(b["sleep_ms"] / 1000)
                if b.get("cancel_task"):
                    await asyncio.get_running_loop().run_in_executor(None, kase.client.cancel_task, task.task_id)
                    b = dict(b, cancel_task=False)
                before(b, run, task, step)
                return after(b, task, sequence, step)

            async def process_results(self, step: tc.Step, output: Any, initial: Any) -> Any:
                await asyncio.sleep(0)
                return results_phase(self, step, output, initial)

        return AsyncHandler

    class SyncHandler(tc.StepHandler):
        def process(self, task: tc.Task, sequence: tc.Sequence, step: tc.Step) -> Any:
            b, run = start(step)
            if b.get("sleep_ms"):
                time.sleep(b["sleep_ms"] / 1000)
            before(b, run, task, step)
            return after(b, task, sequence, step)

        def process_results(self, step: tc.Step, output: Any, initial: Any) -> Any:
            return results_phase(self, step, output, initial)

    return SyncHandler


def raise_if(b: Dict[str, Any], run: int, where: str, step: tc.Step) -> None:
    r = b.get("raise")
    if not r or b.get("raise_in", "process") != where or (r.get("times") is not None and run > r["times"]):
        return
    message = r.get("message") or f"{step.name} failed (run {run})"
    kind = r["error"]
    if kind == "retryable":
        raise tc.RetryableError(message, retry_after=r.get("retry_after"), context=r.get("context"))
    if kind == "permanent":
        raise tc.PermanentError(message, error_code=r.get("error_code"), context=r.get("context"))
    raise RuntimeError(message)


def report(kase: "Case", b: Dict[str, Any], task: tc.Task, sequence: tc.Sequence, step: tc.Step) -> Any:
    mine = sequence.find_step_by_name(step.name)
    deps = {}
    for n in b.get("from", []):
        s = sequence.find_step_by_name(n)
        deps[n] = s.results if s is not None else None
    return {
        "task": {"task_id_matches": task.task_id == kase.task_id, "name": task.name,
                 "namespace": task.namespace_name, "version": task.version, "context": task.context,
                 "tags": task.tags, "initiator": task.initiator, "source_system": task.source_system,
                 "reason": task.reason},
        "step": {"id_matches": mine is not None and mine.workflow_step_id == step.workflow_step_id,
                 "name": step.name, "attempts": step.attempts, "retry_limit": step.retry_limit,
                 "handler_config": step.handler_config, "inputs": step.inputs},
        "sequence": [{"name": s.name, "state": s.state, "attempts": s.attempts} for s in sequence.steps],
        "dependencies": deps,
        "missing": sequence.find_step_by_name("no_such_step"),
    }


def sum_from(sequence: tc.Sequence, names: List[str]) -> int:
    total = 0
    for n in names:
        s = sequence.find_step_by_name(n)
        v = s.results.get("value") if s is not None and isinstance(s.results, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            total += v
    return total


# ------------------------------------------------------------------ one case


def server_url(dbname: str) -> str:
    base = os.environ["TASKER_DATABASE_URL"]
    head, _, query = base.partition("?")
    return head.rsplit("/", 1)[0] + "/" + dbname + ("?" + query if query else "")


def create_database(name: str) -> str:
    with psycopg.connect(os.environ["TASKER_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url(name)


class Case:
    def __init__(self, path: Path, mode: str) -> None:
        self.path = path
        self.mode = mode
        self.doc = json.loads(path.read_text())
        self.runs: Dict[str, int] = {}
        self.lock = threading.Lock()
        self.task_id = 0
        self.elapsed_ms = 0.0
        self.client: tc.Client

    def behaviour(self, name: str) -> Dict[str, Any]:
        bs = self.doc.get("behaviours") or {}
        return bs.get(name) or bs.get("*") or {}

    def count_run(self, name: str) -> int:
        with self.lock:
            self.runs[name] = self.runs.get(name, 0) + 1
            return self.runs[name]

    def runs_of(self, name: str) -> int:
        with self.lock:
            return self.runs.get(name, 0)

    def run(self) -> None:
        self.url = create_database(f"conf_py_{self.mode}_{self.path.stem}")
        self.client = tc.Client(self.url, config=ROOT / "config.yml")
        try:
            self.client.migrate()
            template = (self.path.parent / self.doc["template"]).resolve()
            self.info = self.client.register_template(template)
            _, steps = tc.describe_template(template)
            self.handler_classes = sorted({s["handler_class"] for s in steps})
            started = time.monotonic()
            self.task_id = self.create_task()
            for action in self.doc.get("actions") or [{"run": True}]:
                self.act(action)
            self.elapsed_ms = (time.monotonic() - started) * 1000
        finally:
            self.client.close()

    def request_args(self) -> Dict[str, Any]:
        rq = self.doc.get("request") or {}
        return dict(namespace=self.info["namespace_name"], version=self.info["version"], tags=rq.get("tags"),
                    bypass_steps=rq.get("bypass_steps"), initiator=rq.get("initiator"),
                    source_system=rq.get("source_system"), reason=rq.get("reason"),
                    requested_at=rq.get("requested_at"))

    def create_task(self) -> int:
        rq = self.doc.get("request") or {}
        args = self.request_args()
        if rq.get("duplicates"):
            return self.create_duplicates(rq["context"], args, rq["duplicates"])
        strategy = "hash" if rq.get("identity_strategy") == "hash" else "unique"
        return self.client.create_task(self.info["name"], rq["context"], identity_strategy=strategy, **args)

    def create_duplicates(self, context: Dict[str, Any], args: Dict[str, Any], count: int) -> int:
        clients = [tc.Client(self.url, pool_size=1) for _ in range(count)]
        gate = threading.Event()
        results: List[Any] = [None] * count

        def one(i: int) -> None:
            gate.wait()
            results[i] = clients[i].find_or_create_task(self.info["name"], context, **args)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        gate.set()
        for t in threads:
            t.join()
        for c in clients:
            c.close()
        ids = {r[0] for r in results}
        created = sum(1 for r in results if r[1])
        if len(ids) != 1 or created != 1:
            raise CaseFailure(f"duplicates: {len(ids)} tasks, {created} created (expected 1 and 1)")
        self.duplicates = results
        return ids.pop()

    def act(self, action: Dict[str, Any]) -> None:
        if action.get("run"):
            self.run_worker()
        elif "resolve" in action:
            step = self.client.task(self.task_id).step(action["resolve"])
            self.client.resolve_step(step.workflow_step_id, action.get("results"))
        elif action.get("retry_task"):
            self.client.retry_task(self.task_id)
        elif action.get("cancel_task"):
            self.client.cancel_task(self.task_id)
        elif "expect_task_state" in action:
            state = self.client.task(self.task_id).state
            if state != action["expect_task_state"]:
                raise CaseFailure(f"task is {state}, expected {action['expect_task_state']}")
        else:
            raise CaseFailure(f"unknown action {action!r}")

    def run_worker(self) -> None:
        handler = make_handler(self, self.mode == "async")
        worker = tc.Worker(self.client, {name: handler for name in self.handler_classes}, concurrency=4)
        if self.mode == "async":
            asyncio.run(worker.serve(until_idle=True))
        else:
            worker.run_until_idle()
        worker.close()


# ------------------------------------------------------------------ checks


def same(a: Any, b: Any) -> bool:
    """jsonb equality: numbers by value (1.0 == 1), but true is not 1; objects whatever their order."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def contains(got: Any, want: Any) -> bool:
    """jsonb @>."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and all(any(contains(g, w) for g in got) for w in want)
    return same(got, want)


class Checker:
    def __init__(self, kase: Case) -> None:
        self.kase = kase
        self.problems: List[str] = []

    def expect(self, ok: bool, what: str) -> None:
        if not ok:
            self.problems.append(what)

    def members(self, where: str, want: Dict[str, Any], got: Dict[str, Any]) -> None:
        for k, v in want.items():
            if v == "*":
                self.expect(got.get(k) not in (None, "", [], {}), f"{where}: {k} missing in {got}")
            elif v is None:
                self.expect(k not in got, f"{where}: {k} must be absent: {got}")
            else:
                self.expect(same(got.get(k), v), f"{where}: {k} is {got.get(k)!r}, expected {v!r}")

    def run(self) -> List[str]:
        kase = self.kase
        expect = kase.doc.get("expect") or {}
        with tc.Client(kase.url) as c:
            view = c.task(kase.task_id)
        with psycopg.connect(kase.url) as self.pg:
            if "task_state" in expect:
                self.expect(view.state == expect["task_state"], f"task is {view.state}, expected {expect['task_state']}")
            steps = expect.get("steps") or {}
            names = {s.name for s in view.steps}
            for n in steps:
                self.expect(n == "*" or n in names, f"no step named {n}")
            for s in view.steps:
                e = steps.get(s.name, steps.get("*"))
                if e is not None:
                    self.step(s, e)
            for a, b in expect.get("order") or []:
                self.order(view, a, b)
            for n, count in (expect.get("handler_runs") or {}).items():
                self.expect(n in names, f"no step named {n}")
                self.expect(kase.runs_of(n) == count, f"handler runs of {n}: {kase.runs_of(n)}, expected {count}")
            if "min_elapsed_ms" in expect:
                self.expect(kase.elapsed_ms >= expect["min_elapsed_ms"],
                            f"finished after {kase.elapsed_ms:.0f} ms, expected at least {expect['min_elapsed_ms']}")
            self.expect(self.count("SELECT count(*) FROM tasker_step_claims") == 0, "claims left")
            if view.state in ("complete", "cancelled"):
                self.expect(self.count("SELECT count(*) FROM tasker_ready_steps") == 0, "queued steps left")
        return self.problems

    def step(self, s: tc.StepInfo, e: Dict[str, Any]) -> None:
        w = f"step {s.name}"
        for key in ("state", "attempts", "processed", "retryable"):
            if key in e:
                self.expect(same(getattr(s, key), e[key]), f"{w}: {key} is {getattr(s, key)!r}, expected {e[key]!r}")
        if "results" in e:
            self.expect(same(s.results, e["results"]), f"{w}: results {s.results!r}, expected {e['results']!r}")
        if "results_include" in e:
            self.expect(contains(s.results, e["results_include"]), f"{w}: results {s.results!r} lack {e['results_include']!r}")
        if "results_keys" in e:
            keys = sorted(s.results) if isinstance(s.results, dict) else None
            self.expect(keys == sorted(e["results_keys"]), f"{w}: results keys {keys}, expected {sorted(e['results_keys'])}")
        if "error" in e:
            details = s.results.get("error_details", {}) if isinstance(s.results, dict) else {}
            self.members(f"{w}: error_details", e["error"], details or {})
        for state, wanted in (e.get("transitions") or {}).items():
            rows = self.pg.execute(
                "SELECT metadata::text FROM tasker_workflow_step_transitions WHERE workflow_step_id = %s "
                "AND to_state = %s ORDER BY sort_key", (s.workflow_step_id, state)).fetchall()
            got = [tc._native.json_loads(r[0]) for r in rows]
            self.expect(len(got) == len(wanted), f"{w}: {len(got)} transitions to {state}, expected {len(wanted)}")
            for i, (want, meta) in enumerate(zip(wanted, got)):
                self.members(f"{w}: transition {i + 1} to {state}", want, meta)

    def order(self, view: tc.TaskInfo, a: str, b: str) -> None:
        sa, sb = view.step(a), view.step(b)
        ok = self.count(
            "SELECT count(*) FROM (SELECT (SELECT max(id) FROM tasker_workflow_step_transitions "
            "WHERE workflow_step_id = %s AND to_state IN ('complete', 'resolved_manually')) AS done, "
            "(SELECT min(id) FROM tasker_workflow_step_transitions WHERE workflow_step_id = %s "
            "AND to_state = 'in_progress') AS started) x WHERE done < started",
            (sa.workflow_step_id, sb.workflow_step_id))
        self.expect(ok == 1, f"expected {a} to finish before {b} started")

    def count(self, sql: str, params: Tuple[Any, ...] = ()) -> int:
        row = self.pg.execute(sql, params).fetchone()
        return int(row[0]) if row else 0


def run_case(path: Path, mode: str) -> List[str]:
    kase = Case(path, mode)
    try:
        kase.run()
    except Exception:
        return ["run failed:\n" + traceback.format_exc()]
    problems = Checker(kase).run()
    if "duplicates" in (kase.doc.get("expect") or {}) and not problems:
        n = kase.doc["expect"]["duplicates"]
        problems += [] if len(kase.duplicates) == n else [f"{len(kase.duplicates)} duplicate requests, expected {n}"]
    return problems


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["sync", "async"], required=True)
    ap.add_argument("--case", default=os.environ.get("TASKER_CONFORMANCE_CASE"))
    ap.add_argument("--cases", type=Path, default=ROOT / "cases")
    args = ap.parse_args(argv)
    cases = sorted(args.cases.glob("*.json"))
    if args.case:  # substrings, comma-separated
        wanted = args.case.split(",")
        cases = [c for c in cases if any(w in c.stem for w in wanted)]
    if not cases:
        print(f"conformance: no cases in {args.cases}", file=sys.stderr)
        return 1
    passed = failed = 0
    for path in cases:
        problems = run_case(path, args.mode)
        print(f"conformance python-{args.mode} {path.stem} {'FAIL' if problems else 'ok'}", flush=True)
        for p in problems:
            print("    " + p.replace("\n", "\n    "), flush=True)
        passed, failed = (passed + 1, failed) if not problems else (passed, failed + 1)
    print(f"conformance: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
