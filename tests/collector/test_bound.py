"""Bounds on nested JSON values (collector.bound): counts, sizes, markers."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector import bound

BOUNDS = dict(max_items=10, max_string_length=50, budget=2_000, max_depth=20)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                                                                        allow_infinity=False)
    | st.text(max_size=200),
    lambda children: st.lists(children, max_size=40)
    | st.dictionaries(st.text(max_size=20), children, max_size=40),
    max_leaves=400)


def _widest(value: Any) -> int:
    if isinstance(value, list):
        return max([len(value), *(_widest(v) for v in value)])
    if isinstance(value, dict):
        return max([len(value), *(_widest(v) for v in value.values())])
    return 0


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return max([0, *(_longest(v) for v in value)])
    if isinstance(value, dict):
        return max([0, *(_longest(v) for v in value.values())])
    return 0


@given(json_values)
def test_every_value_ends_within_all_bounds(value: Any) -> None:
    text = bound.encode(value, **BOUNDS)
    assert len(text) <= BOUNDS["budget"]
    out = msgspec.json.decode(text)
    assert _widest(out) <= BOUNDS["max_items"]
    assert _longest(out) <= BOUNDS["max_string_length"] + len(bound.TRUNCATED)


def test_small_values_are_stored_as_they_are() -> None:
    value = {"user": {"id": 7, "tags": ["a", "b"]}, "n": 1.5}
    assert bound.encode(value, **BOUNDS) == msgspec.json.encode(value)


def test_long_lists_and_objects_keep_their_head_and_say_how_much_went() -> None:
    value = {"list": list(range(1_000)), "obj": {f"k{i}": i for i in range(30)}}
    out = msgspec.json.decode(bound.encode(value, **BOUNDS))
    assert out["list"] == [*range(9), "…[991 more items]"]
    assert list(out["obj"])[:9] == [f"k{i}" for i in range(9)]
    assert out["obj"][bound.MORE_KEY] == "[21 more keys]"


def test_trimming_twice_keeps_the_first_count() -> None:
    once = msgspec.json.decode(bound.encode({"l": list(range(500))}, **BOUNDS))
    twice = msgspec.json.decode(bound.encode({"a": once, "b": list(range(20))}, **BOUNDS))
    assert twice["a"]["l"][-1] == "…[491 more items]"


def test_nested_lists_are_bounded_at_every_depth() -> None:
    value: Any = list(range(30))
    for _ in range(3):
        value = [value] * 30  # 810,000 numbers in all
    out = msgspec.json.decode(bound.encode(value, **{**BOUNDS, "budget": 100_000}))
    assert _widest(out) == 10


def test_the_byte_budget_counts_multibyte_characters() -> None:
    value = {f"k{i}": "𝄞" * 40 for i in range(9)}
    text = bound.encode(value, **{**BOUNDS, "budget": 300})
    assert len(text) <= 300
    assert bound.TRUNCATED in text.decode() or bound.MORE_KEY in text.decode()


def test_too_deep_is_refused_as_before() -> None:
    value: Any = ["x"] * 20
    for _ in range(30):
        value = [value]
    with pytest.raises(bound.TooDeep):
        bound.encode(value, **BOUNDS)


def test_fits_needs_few_commas_and_a_short_text() -> None:
    assert bound.fits(b"[1,2,3]", 10, 50)
    assert not bound.fits(b"[" + b"0," * 10 + b"0]", 10, 50)
    assert not bound.fits(b'"' + b"x" * 60 + b'"', 10, 50)


def test_shrink_returns_the_same_object_when_it_fits() -> None:
    value = {"a": [1, 2]}
    assert bound.shrink(value, **BOUNDS) is value
    assert bound.shrink({"a": list(range(50))}, **BOUNDS)["a"][-1] == "…[41 more items]"


def test_many_small_containers_are_cleared_without_a_copy() -> None:
    crumbs = [{"message": f"m{i}", "data": {"k": i, "l": [1, 2]}} for i in range(10)]
    assert not bound.fits(msgspec.json.encode(crumbs), 10, 50)  # 49 commas in all
    assert bound.within(crumbs, 10, 50)
    assert bound.shrink(crumbs, **BOUNDS) is crumbs
    assert not bound.within([crumbs * 2], 10, 50)
    assert not bound.within({"s": "x" * 51}, 10, 50)
