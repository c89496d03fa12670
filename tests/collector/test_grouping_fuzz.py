"""Property tests for grouping: any event shape groups without raising, deterministically,
and the normalizers finish quickly on large adversarial text (no regex backtracking blow-up)."""

from __future__ import annotations

import time

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector import frames as frames_v2
from collector.grouping import (
    TITLE_LENGTH,
    group_event,
    group_row,
    normalize_context_line,
    normalize_filename,
    normalize_function,
    normalize_value,
)

text = st.text(max_size=200)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=3),
    max_leaves=10)
frames = st.lists(st.fixed_dictionaries({}, optional={
    "module": st.none() | text, "filename": st.none() | text, "abs_path": st.none() | text,
    "function": st.none() | text, "context_line": st.none() | text,
    "in_app": st.none() | st.booleans(), "lineno": st.none() | st.integers()}), max_size=5)
mechanisms = st.none() | json_values | st.fixed_dictionaries({}, optional={
    "exception_id": st.integers(-1, 3) | json_values, "parent_id": st.integers(-1, 3) | json_values,
    "is_exception_group": st.booleans() | json_values})
exceptions = st.lists(st.fixed_dictionaries({}, optional={
    "type": st.none() | text, "value": st.none() | text | st.integers(), "frames": frames,
    "module": st.none() | text, "mechanism": mechanisms}), max_size=4)
versions = st.sampled_from([1, 2])


@given(exceptions, text, st.none() | st.lists(json_values, max_size=4), st.none() | text, text,
       versions)
def test_group_event_never_raises_and_is_deterministic(excs, message, fingerprint, template,
                                                       culprit, version):
    first = group_event(excs, message, fingerprint=fingerprint, template=template,
                        culprit_fallback=culprit, version=version)
    again = group_event(excs, message, fingerprint=fingerprint, template=template,
                        culprit_fallback=culprit, version=version)
    assert first == again
    assert len(first.fingerprint) == 32 and len(first.title) <= TITLE_LENGTH
    assert len(first.culprit) <= TITLE_LENGTH


@given(exceptions, text, st.dictionaries(st.sampled_from(
    ["fingerprint", "logentry", "transaction", "tags", "attachments"]), json_values), versions)
def test_group_row_accepts_any_stored_extra(excs, message, extra, version):
    row = {"exception": msgspec.json.encode(excs).decode(), "message": message,
           "extra": msgspec.json.encode(extra).decode(), "logger": "app", "platform": "x"}
    assert len(group_row(row, version).fingerprint) == 32


@given(st.text(max_size=2000))
def test_normalizers_never_raise(value):
    assert len(normalize_value(value)) <= 1000
    normalize_filename(value)
    normalize_function(value)
    assert len(normalize_context_line(value)) <= 120
    frames_v2.normalize_path(value)
    frames_v2.normalize_function(value)


ADVERSARIAL = {
    "hex run": "a" * 1_000_000,
    "digit run then letter": "1" * 1_000_000 + "x",
    "colons": ":" * 1_000_000,
    "hex and colons": "a:" * 500_000,
    "dots and digits": "1." * 500_000,
    "quotes": "'" * 1_000_000,
    "unclosed quote": "'" + "x" * 1_000_000,
    "dates": "2024-01-01T00:00" * 60_000,
    "uuid-like": "0123abcd-" * 110_000,
    "spaces": " \t\n" * 330_000,
    "path": "/a" * 500_000,
    "url": "https://" + "a." * 300_000 + "/x?" + "b" * 100_000,
    "hashed bundle": "main" + ".a1b2c3d4" * 100_000 + ".js",
    "versions": "/1.2" * 250_000 + "/x.js",
    "site-packages": "/site-packages/x" * 60_000,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_normalizers_are_fast_on_a_megabyte(name):
    value = ADVERSARIAL[name]
    start = time.process_time()  # CPU time: robust on a loaded machine
    normalize_value(value)
    normalize_filename(value)
    normalize_function(value)
    normalize_context_line(value)
    frames_v2.normalize_path(value)
    frames_v2.normalize_url(value)
    frames_v2.normalize_function(value)
    for version in (1, 2):
        group_event([{"type": value, "value": value,
                      "frames": [{"filename": value, "function": value, "context_line": value,
                                  "in_app": True}]}], value, version=version)
    # Linear work is well under a second; catastrophic backtracking would take hours.
    assert time.process_time() - start < 10
