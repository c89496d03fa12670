"""Filling Sentry logentry templates with their params (collector.sentry.logentry)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.sentry.logentry import MAX_PARAM_CHARS, MAX_PARAMS, interpolate


@pytest.mark.parametrize(("template", "params", "expected"), [
    ("cleanup of %s failed: %s", ["cache", "disk full"], "cleanup of cache failed: disk full"),
    # raven sends every param as its repr
    ("cleanup of %s failed: %s", ["'cache'", "'disk full'"],
     "cleanup of 'cache' failed: 'disk full'"),
    ("retry %d of %d after %.1fs", [2, 5, 0.25], "retry 2 of 5 after 0.2s"),
    ("retry %d of %r", ["2", "5"], "retry 2 of 5"),
    ("%(user)s logged in from %(ip)s", {"user": "ann", "ip": "10.0.0.1"},
     "ann logged in from 10.0.0.1"),
    ("100%% done: %s", ["ok"], "100% done: ok"),
    ("order {} for {}", ["A-17", "ann"], "order A-17 for ann"),  # SLF4J / Log4j
    ("order {0} for {1}, again {0}", ["A-17", "ann"], "order A-17 for ann, again A-17"),  # .NET
    ("order {id} for {user}", {"id": 17, "user": "ann"}, "order 17 for ann"),
    ("{{literal}} and {}", [1], "{literal} and 1"),
    ("100% of {} done", [5], "100% of 5 done"),  # "% o" is no printf placeholder here
    ("payload %s", [{"a": [1, True, None]}], 'payload {"a":[1,true,null]}'),
])
def test_fills_printf_and_brace_templates(template, params, expected):
    assert interpolate(template, params) == expected


@pytest.mark.parametrize(("template", "params"), [
    ("a %s and %s", ["one"]),  # too few
    ("a %s", ["one", "two"]),  # too many: Python's "not all arguments converted"
    ("n=%d", ["many"]),  # not a number
    ("n=%d", [{"a": 1}]),
    ("%(user)s", {"name": "x"}),  # a name that is not there
    ("%(user)s and %s", ["x"]),
    ("{} and {}", ["one"]),
    ("{2}", ["a", "b", "c"]),  # params not all used
    ("{name}", ["a"]),
    ("%c", [10**12]),  # out of range
    ("no placeholder", ["x"]),
    ("%s", []),
    ("%s", None),
    ("%s", "a string"),
    ("", ["x"]),
])
def test_a_mismatch_leaves_the_template_as_it_is(template, params):
    assert interpolate(template, params) == template


def test_params_are_bounded():
    assert interpolate("%s " * (MAX_PARAMS + 1), ["x"] * (MAX_PARAMS + 1)) == "%s " * (
        MAX_PARAMS + 1)
    assert interpolate("<%s>", ["y" * 10_000]) == "<" + "y" * MAX_PARAM_CHARS + ">"


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(), inner, max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="%sdrf{}()01xab .-+#*", max_size=30),
       st.lists(_json, max_size=4) | st.dictionaries(st.text(max_size=5), _json, max_size=3)
       | _json)
def test_never_raises(template, params):
    assert isinstance(interpolate(template, params), str)
