"""Every error code of the core arrives as its class, with code and sqlstate."""

from __future__ import annotations

import pytest

import tasker_core as tc
from tasker_core import _native


def test_the_hierarchy() -> None:
    for cls in (tc.ConnectionError, tc.DatabaseError, tc.NotFoundError, tc.ConflictError, tc.TransitionError,
                tc.ValidationError, tc.ConfigurationError, tc.StoppedError, tc.TimeoutError, tc.CancelledError,
                tc.ClosedError, tc.ProceduralError):
        assert issubclass(cls, tc.Error)
    for cls in (tc.TemplateError, tc.ContextError, tc.JSONError):
        assert issubclass(cls, tc.ValidationError) and issubclass(cls, ValueError)
    assert issubclass(tc.MigrationError, tc.DatabaseError)
    assert issubclass(tc.HandlerNotFoundError, tc.NotFoundError)
    assert issubclass(tc.RetryableError, tc.ProceduralError) and issubclass(tc.PermanentError, tc.ProceduralError)
    assert issubclass(tc.ConnectionError, ConnectionError)
    assert tc.Error.__module__ == "tasker_core"


def test_handler_errors_carry_their_details() -> None:
    r = tc.RetryableError("busy", retry_after=2.5, context={"k": 1})
    assert (str(r), r.retry_after, r.context) == ("busy", 2.5, {"k": 1})
    p = tc.PermanentError("gone", error_code="HTTP_404")
    assert (str(p), p.error_code, p.context) == ("gone", "HTTP_404", {})


def test_connection_error() -> None:
    with pytest.raises(tc.ConnectionError) as e:
        tc.Client("postgresql://nobody@/nowhere?host=/nonexistent&connect_timeout=1")
    assert e.value.code == "TASKER_ECONN"


def test_configuration_error_names_the_key() -> None:
    with pytest.raises(tc.ConfigurationError) as e:
        tc.Client(config={"execution": {"concurrency": -3}})
    assert "concurrency" in str(e.value) and e.value.code == "TASKER_ECONFIG"


def test_not_found(client: tc.Client) -> None:
    with pytest.raises(tc.NotFoundError) as e:
        client.create_task("no_such_template", {})
    assert e.value.code == "TASKER_ENOTFOUND" and "no_such_template" in str(e.value)
    with pytest.raises(tc.NotFoundError):
        client.task(987654321)


def test_template_error_names_the_problem(client: tc.Client) -> None:
    with pytest.raises(tc.TemplateError) as e:
        client.register_template({"name": "bad", "step_templates": [
            {"name": "a", "handler_class": "X", "depends_on_step": "missing"}]})
    assert "missing" in str(e.value) and e.value.code == "TASKER_ETEMPLATE"


def test_validation_error(client: tc.Client) -> None:
    with pytest.raises(tc.ValidationError) as e:
        client.create_task("noop", {}, namespace="pytest", version="1.0.0", bypass_steps=["nope"])
    assert e.value.code == "TASKER_EINVAL"
    with pytest.raises(tc.ValidationError):
        client.create_task("noop", {}, identity_strategy="sometimes")


def test_transition_error(client: tc.Client) -> None:
    tid = client.create_task("noop", {}, namespace="pytest", version="1.0.0")
    client.cancel_task(tid)
    with pytest.raises(tc.TransitionError) as e:
        client.cancel_task(tid)
    assert e.value.code == "TASKER_ETRANSITION"


def test_json_error_from_a_value_without_json_form(client: tc.Client) -> None:
    with pytest.raises(tc.JSONError):
        client.create_task("noop", {"x": object()}, namespace="pytest", version="1.0.0")


def test_database_error_carries_the_sqlstate(db_url: str) -> None:
    with tc.Client(db_url, config={"engine": {"task_template_directories": []}}) as c:
        with pytest.raises(tc.Error) as e:
            c.resolve_step(2**62, {"a": 1})
    assert isinstance(e.value, (tc.NotFoundError, tc.DatabaseError))


def test_every_code_has_a_name() -> None:
    names = {_native.error_name(code) for code in range(-14, 2)}
    assert "TASKER_ECONFLICT" in names and "TASKER_EDB" in names
