"""Values cross between Python and the core in C: JSON text from the core becomes dict/list/str/int/
float/bool/None (integers keep every digit), and what a handler returns becomes JSON by the handler
specification's rules (no database needed)."""

from __future__ import annotations

import math

import pytest

import tasker_core as tc
from tasker_core import _native


def test_reads_every_json_type_and_keeps_integer_digits() -> None:
    v = _native.json_loads('{"a": [1, -2, 2.5, 1e3, 123456789012345678901234567890, true, false, null],'
                           ' "s": "\\u00e9\\ud83d\\ude00\\n\\"", "o": {}}')
    assert v == {"a": [1, -2, 2.5, 1000.0, 123456789012345678901234567890, True, False, None],
                 "s": "é😀\n\"", "o": {}}
    assert type(v["a"][0]) is int and type(v["a"][2]) is float and v["a"][5] is True


def test_writes_values_as_json() -> None:
    assert _native.json_dumps({"n": 2**70, "f": 0.1, "t": (1, "x"), "u": "é\u0001"}) == \
        '{"n":1180591620717411303424,"f":0.1,"t":[1,"x"],"u":"é\\u0001"}'
    assert _native.json_dumps(None) == "null"
    assert _native.json_dumps(True) == "true"
    assert _native.json_dumps({1: 2, None: 3, False: 4}) == '{"1":2,"null":3,"false":4}'  # as json does
    assert _native.json_loads(_native.json_dumps(1e300)) == 1e300


@pytest.mark.parametrize("value, where", [
    (float("nan"), "at $"),
    ({"v": math.inf}, "at $.v"),
    ({"list": [1, object()]}, "at $.list[1]"),
    ({"s": "a\x00b"}, "at $.s"),
    ({"k": {(1, 2): 1}}, "in $.k"),
    ({"bad": "\ud800"}, "at $.bad"),
    ({1, 2}, "at $"),
])
def test_refuses_what_has_no_json_form_naming_type_and_path(value: object, where: str) -> None:
    with pytest.raises(tc.JSONError) as e:
        _native.json_dumps(value)
    assert where in str(e.value)


def test_a_cycle_is_refused_not_a_crash() -> None:
    a: list = []
    a.append(a)
    with pytest.raises(RecursionError):
        _native.json_dumps(a)


def test_refcounts_of_converted_values_return_to_baseline() -> None:
    import sys
    big = 2**100
    s = "shared"
    before = (sys.getrefcount(big), sys.getrefcount(s))
    for _ in range(1000):
        _native.json_dumps({"n": big, "s": s, "l": [big, s]})
    assert (sys.getrefcount(big), sys.getrefcount(s)) == before
