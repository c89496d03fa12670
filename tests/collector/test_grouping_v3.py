"""Grouping version 3 (pure): stacks sent outside the exceptions (threads, a top-level
``stacktrace``) and raven's message template; versions 1 and 2 kept bit for bit; titles
and culprits (not hashed) in every version."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from collector import grouping
from collector import normalize as n
from collector.grouping import LATEST_VERSION, group_event, group_row
from collector.sentry import envelope as env
from collector.sentry import events

DATA = Path(__file__).parents[1] / "data" / "sentry"


def corpus_row(path: Path) -> dict:
    """A corpus payload as the Sentry endpoints turn it into an ``errors`` row."""
    body = path.read_bytes()
    attachments = None
    if path.suffix == ".json":
        event = msgspec.json.decode(body)
    else:
        parsed = env.parse(body)
        event = next(env.payload_json(item, i) for i, item in enumerate(parsed.items)
                     if item.type == "event")
        attachments = [item.headers.get("attachment_type") or "event.attachment"
                       for item in parsed.items if item.type == "attachment"]
    return events.event_row(1, event, 1.8e9, n.Limits(), None, attachments)


def test_latest_version_is_3():
    assert LATEST_VERSION == 3 and grouping.VERSIONS == (1, 2, 3)


def test_versions_1_and_2_fingerprint_the_corpus_as_before_version_3():
    """Pinned by the code before version 3 existed (tests/data/sentry/README.md), the new
    payloads included: issues of projects on versions 1 and 2 keep their events."""
    pinned = json.loads((DATA / "fingerprints-v1-v2.json").read_text())
    assert len(pinned) >= 140
    changed = [name for name, want in pinned.items()
               if {str(v): group_row(corpus_row(DATA / name), v).fingerprint for v in (1, 2)}
               != want]
    assert changed == []


def _frames(*functions: str, in_app: bool = True) -> list[dict]:
    return [{"module": "shop.jobs", "function": f, "context_line": f"report({f!r})",
             "in_app": in_app} for f in functions]


def test_a_message_with_a_stack_groups_by_the_stack():
    warm = group_event([], "cache warmed for 120 keys", stack=_frames("run", "warm_cache"),
                       version=3)
    warm_again = group_event([], "cache warmed for 7 keys", stack=_frames("run", "warm_cache"),
                             version=3)
    rebuild = group_event([], "cache warmed for 120 keys", stack=_frames("run", "rebuild"),
                          version=3)
    assert warm.method == "in_app_frames" and "stacktrace" in warm.inputs
    assert warm.fingerprint == warm_again.fingerprint != rebuild.fingerprint
    assert warm.title == "cache warmed for 120 keys"
    assert warm.culprit == "shop.jobs in warm_cache"
    system = group_event([], "x", stack=_frames("run", "warm_cache", in_app=False), version=3)
    assert system.method == "system_frames"
    # Versions 1 and 2 group on the message and only show the stack's culprit.
    for version in (1, 2):
        old = group_event([], "cache warmed for 120 keys", stack=_frames("run", "rebuild"),
                          version=version)
        assert old.fingerprint == group_event([], "cache warmed for 120 keys",
                                              version=version).fingerprint
        assert old.culprit.endswith("in rebuild")


def test_a_stack_without_usable_frames_falls_back_to_the_template():
    bare = group_event([], "x 1", template="x %s", stack=[{"lineno": 3}], version=3)
    assert bare.method == "message" and bare.inputs == {"template": "x %s"}


def test_an_exception_without_frames_takes_the_events_stack():
    """Relay moves a top-level stacktrace into a lone exception; a native crash's
    crashed thread stands in for its exception's missing stack."""
    crash = [{"type": "SIGSEGV", "value": "Segfault"}]
    with_frames = [{**crash[0], "frames": _frames("render", "blit", in_app=False)}]
    in_thread = group_event(crash, "", stack=_frames("render", "blit", in_app=False), version=3)
    assert in_thread.fingerprint == group_event(with_frames, "", version=3).fingerprint
    assert in_thread.method == "system_frames"
    assert group_event(crash, "", stack=_frames("render", "parse", in_app=False),
                       version=3).fingerprint != in_thread.fingerprint
    # An exception with frames of its own keeps them.
    assert group_event(with_frames, "", stack=_frames("other"), version=3).fingerprint == \
        group_event(with_frames, "", version=3).fingerprint
    assert group_event(crash, "", stack=_frames("render"), version=2).method == "exception"


def _raven_row(version_message: str = "cleanup of %s failed: %s") -> dict:
    return events.event_row(1, {
        "message": version_message, "platform": "python",
        "sentry.interfaces.Message": {"message": "cleanup of %s failed: %s",
                                      "params": ["'cache'", "'disk full'"]}},
        1.8e9, n.Limits())


def test_ravens_message_interface_is_filled_in_and_grouped_on_its_template_from_3():
    row = _raven_row()
    assert row["message"] == "cleanup of 'cache' failed: 'disk full'"
    v2, v3 = group_row(row, 2), group_row(row, 3)
    assert v3.inputs == {"template": "cleanup of %s failed: %s"}
    # Version 2 grouped raven on its plain message, which is the template.
    assert v2.inputs == {"message": "cleanup of %s failed: %s"}
    assert v2.title == v3.title == "cleanup of 'cache' failed: 'disk full'"


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_synthetic_exception_without_type_is_titled_by_its_value(version):
    synthetic = [{"type": "", "value": "cache warmed for 120 keys",
                  "mechanism": {"type": "generic", "synthetic": True},
                  "frames": _frames("warmCache")}]
    assert group_event(synthetic, "", version=version).title == "cache warmed for 120 keys"
    untyped = [{**synthetic[0], "mechanism": None}]  # not synthetic: Sentry's default type
    assert group_event(untyped, "", version=version).title == "Error: cache warmed for 120 keys"
    native = [{"type": "SIGSEGV", "value": "Segfault", "mechanism": {"synthetic": True}}]
    assert group_event(native, "", version=version).title == "SIGSEGV: Segfault"
    # The title is not hashed: the type defaults to "Error" as before.
    assert group_event(synthetic, "", version=version).fingerprint == group_event(
        [{**synthetic[0], "type": "Error"}], "", version=version).fingerprint


@pytest.mark.parametrize("version", [1, 2, 3])
def test_culprit_is_the_clients_then_the_top_frame_then_the_fallback(version):
    exc = [{"type": "KeyError", "value": "'x'", "frames": _frames("charge")}]
    assert group_event(exc, "", culprit="POST /checkout", version=version).culprit == \
        "POST /checkout"
    assert group_event(exc, "", culprit="  ", version=version).culprit == "shop.jobs in charge"
    assert group_event([], "m", culprit_fallback="shop.jobs", version=version).culprit == \
        "shop.jobs"


def test_group_row_takes_the_culprit_then_the_transaction():
    base = {"message": "boom", "platform": "elixir", "transaction": "Shop.Worker",
            "stacktrace": {"frames": _frames("perform")}}
    assert group_row(events.event_row(1, base, 1.8e9, n.Limits()), 3).culprit == "Shop.Worker"
    explicit = events.event_row(1, {**base, "culprit": "Shop.Worker.perform/1"}, 1.8e9,
                                n.Limits())
    assert group_row(explicit, 3).culprit == "Shop.Worker.perform/1"
    del base["transaction"]
    assert group_row(events.event_row(1, base, 1.8e9, n.Limits()), 3).culprit == \
        "shop.jobs in perform"
