"""Grouping version 2 (pure): stacks without in-app frames, chains, exception groups,
JS frames, events without exception or message; version 1 kept bit for bit."""

from __future__ import annotations

import msgspec

from collector.grouping import LATEST_VERSION, group_event, group_row


def _v2(exceptions, message="", **kw):
    return group_event(exceptions, message, version=2, **kw)


def _native(*functions: str) -> dict:
    return {"type": "SIGSEGV", "value": "Segfault",
            "frames": [{"function": f, "package": "/opt/build-1/libshop.so"} for f in functions]}


def test_latest_version_is_what_new_projects_get():
    from lookout.tables import projects

    assert projects.c.grouping_version.default.arg == LATEST_VERSION


def test_version_1_fingerprints_are_unchanged():
    """Pinned from the code before versions existed: version 1 issues keep their events."""
    in_app = [{"type": "KeyError", "value": "'x'", "frames": [
        {"module": "shop.billing", "function": "charge", "context_line": "return PRICES[sku]",
         "in_app": True}]}]
    chain = [{"type": "ValueError", "value": "bad 1"},
             {"type": "PaymentError", "value": "payment failed",
              "frames": [{"module": "shop.payments", "function": "pay", "in_app": True}]}]
    assert group_event(in_app, "").fingerprint == "550f3c1748b4a8e77ded20b9cf9abd2e"
    assert group_event([_native("blit")], "").fingerprint == "cdd7e6ab4d711e79eecf2577ec034aa9"
    assert group_event(chain, "").fingerprint == "9e6adead5cacb78e4ae1a84b44b49905"
    assert group_event([], "user 42 logged in").fingerprint == "d869a1e86569f530848f4c36bb9a0e4e"
    # Where both versions agree, switching versions changes nothing.
    assert _v2(in_app).fingerprint == group_event(in_app, "").fingerprint
    assert _v2([], "user 42 logged in").fingerprint == "d869a1e86569f530848f4c36bb9a0e4e"


def test_no_in_app_frame_groups_by_the_whole_stack():
    render, parse = _v2([_native("main", "render")]), _v2([_native("main", "parse")])
    assert render.method == parse.method == "system_frames"
    assert render.fingerprint != parse.fingerprint
    moved = _native("main", "render")
    moved["frames"][1]["instruction_addr"] = "0x99"
    assert _v2([moved]).fingerprint == render.fingerprint
    assert render.culprit == "libshop.so in render"
    # Version 1 merged them: type + value.
    assert group_event([_native("main", "render")], "").fingerprint == group_event(
        [_native("main", "parse")], "").fingerprint


def test_every_exception_of_a_chain_contributes():
    raised = {"type": "PaymentError", "value": "payment failed",
              "frames": [{"module": "shop.payments", "function": "pay", "in_app": True}]}
    card = [{"type": "ValueError", "value": "card 4242 rejected"}, raised]
    other_card = [{"type": "ValueError", "value": "card 1111 rejected"}, raised]
    timeout = [{"type": "TimeoutError", "value": "no answer"}, raised]
    assert _v2(card).fingerprint == _v2(other_card).fingerprint
    assert _v2(card).fingerprint != _v2(timeout).fingerprint
    assert _v2(card).title == "PaymentError: payment failed"
    assert [e["type"] for e in _v2(card).inputs["exceptions"]] == ["ValueError", "PaymentError"]


def _group_tree(first_child: str) -> list[dict]:
    frames = [{"module": "shop.orders", "function": "import_rows", "in_app": True}]
    return [
        {"type": "TypeError", "value": "row 2", "frames": frames,
         "mechanism": {"type": "chained", "exception_id": 2, "parent_id": 0}},
        {"type": first_child, "value": "row 1 has no sku", "frames": frames,
         "mechanism": {"type": "chained", "exception_id": 1, "parent_id": 0}},
        {"type": "ExceptionGroup", "value": "import failed", "frames": frames,
         "mechanism": {"type": "generic", "exception_id": 0, "is_exception_group": True}},
    ]


def test_exception_group_is_grouped_and_titled_by_its_main_exception():
    a = _v2(_group_tree("ValueError"))
    assert a.title == "ValueError: row 1 has no sku"
    assert a.culprit == "shop.orders in import_rows"
    fewer = _group_tree("ValueError")[1:]  # one child less: still the same main exception
    assert _v2(fewer).fingerprint == a.fingerprint
    assert _v2(_group_tree("KeyError")).fingerprint != a.fingerprint


def test_browser_frames_from_other_hosts_queries_and_bundles_group_together():
    def event(url: str, function: str = "Cart.checkout") -> list[dict]:
        return [{"type": "TypeError", "value": "x is undefined", "frames": [
            {"filename": url, "abs_path": url, "function": function, "lineno": 1,
             "colno": 4211, "in_app": True},
            {"filename": url, "function": "?", "colno": 5002, "in_app": True}]}]

    base = _v2(event("https://shop.example/static/js/main.3f9a2b1c.js"))
    for url in ("https://www.shop.example/static/js/main.3f9a2b1c.js",
                "https://shop.example/static/js/main.3f9a2b1c.js?v=2#x",
                "https://cdn.shop.example/static/js/main.8e7d6c5b.js"):
        assert _v2(event(url)).fingerprint == base.fingerprint, url
    assert base.culprit == "static/js/main in <anonymous>"
    other = _v2(event("https://shop.example/static/js/main.3f9a2b1c.js", "Cart.coupon"))
    assert other.fingerprint != base.fingerprint


def _row(**extra) -> dict:
    return {"exception": None, "message": "<unlabeled event>", "platform": "native",
            "level": 50, "release": "shop@1", "logger": "",
            "extra": msgspec.json.encode(extra).decode()}


def test_events_without_exception_or_message_are_told_apart():
    minidump = group_row(_row(attachments=["event.minidump"]), 2)
    assert minidump.method == "event"
    assert minidump.title == "<unlabeled event> with event.minidump (native)"
    assert group_row(_row(attachments=["event.minidump"]), 2).fingerprint == minidump.fingerprint
    other_release = {**_row(attachments=["event.minidump"]), "release": "shop@2"}
    assert group_row(other_release, 2).fingerprint != minidump.fingerprint
    empty = group_row(_row(), 2)
    assert empty.fingerprint != minidump.fingerprint
    assert group_row({**_row(), "release": "other"}, 2).fingerprint == empty.fingerprint
    assert group_row({**_row(), "platform": "python"}, 2).fingerprint != empty.fingerprint
    # Version 1: all of them one issue.
    assert group_row(_row(attachments=["event.minidump"])).fingerprint == group_row(
        {**_row(), "platform": "python"}).fingerprint


def test_fingerprint_with_default_uses_the_version_2_default():
    a = _v2([_native("main", "render")], fingerprint=["{{ default }}", "gpu"])
    b = _v2([_native("main", "parse")], fingerprint=["{{ default }}", "gpu"])
    assert a.method == "fingerprint" and a.fingerprint != b.fingerprint
    assert _v2([_native("x")], fingerprint=["db"]).fingerprint == _v2(
        [_native("y")], fingerprint=["db"]).fingerprint
