"""Grouping rules (pure): fingerprint, in-app frames, exception, message template."""

from __future__ import annotations

import msgspec

from collector.grouping import group_event, group_row, normalize_filename, normalize_value


def _frame(function: str, line: str, lineno: int = 10, in_app: bool = True,
           module: str | None = "shop.orders", filename: str = "shop/orders.py") -> dict:
    return {"function": function, "context_line": line, "lineno": lineno, "in_app": in_app,
            "module": module, "filename": filename}


def _exc(type_: str = "ValueError", value: str = "bad", frames: list | None = None) -> dict:
    return {"type": type_, "value": value, "frames": frames or []}


def test_in_app_frames_ignore_line_numbers_and_values():
    a = group_event([_exc(value="order 17", frames=[_frame("pay", "charge(card)", 10)])], "")
    b = group_event([_exc(value="order 99", frames=[_frame("pay", "  charge(card)", 55)])], "")
    assert a.fingerprint == b.fingerprint
    assert a.method == "in_app_frames"
    assert a.inputs == {"type": "ValueError", "frames": ["shop.orders | pay | charge(card)"]}
    assert a.title == "ValueError: order 17" and a.culprit == "shop.orders in pay"


def test_different_code_or_type_is_a_different_issue():
    base = group_event([_exc(frames=[_frame("pay", "charge(card)")])], "")
    other_line = group_event([_exc(frames=[_frame("pay", "refund(card)")])], "")
    other_type = group_event([_exc("KeyError", frames=[_frame("pay", "charge(card)")])], "")
    assert len({base.fingerprint, other_line.fingerprint, other_type.fingerprint}) == 3


def test_library_frames_do_not_count():
    app = _frame("pay", "charge(card)")
    lib1 = _frame("send", "sock.send(x)", in_app=False, module="urllib3.connection")
    lib2 = _frame("_send", "self.sock.sendall(data)", in_app=False, module="http.client")
    assert (group_event([_exc(frames=[app, lib1])], "").fingerprint
            == group_event([_exc(frames=[app, lib2])], "").fingerprint)


def test_recursion_counts_once():
    rec = _frame("walk", "walk(node.child)")
    assert (group_event([_exc(frames=[rec, rec, rec])], "").inputs
            == group_event([_exc(frames=[rec])], "").inputs)


def test_without_in_app_frames_type_and_normalized_value():
    lib = _frame("connect", "sock.connect(addr)", in_app=False)
    a = group_event([_exc("ConnectionError", "connect to 10.0.0.7:5432 failed after 3 tries",
                          [lib])], "")
    b = group_event([_exc("ConnectionError", "connect to 10.0.0.9:5432 failed after 5 tries",
                          [lib])], "")
    assert a.fingerprint == b.fingerprint and a.method == "exception"
    assert a.inputs["value"] == "connect to <ip> failed after <num> tries"


def test_chained_exceptions_group_by_the_raised_one():
    cause = _exc("ValueError", "x", [_frame("parse", "int(text)")])
    raised = _exc("RuntimeError", "config", [_frame("load", "raise RuntimeError('config')")])
    other_cause = _exc("TypeError", "y", [_frame("other", "f()")])
    g = group_event([cause, raised], "")
    assert g.inputs["type"] == "RuntimeError" and g.title == "RuntimeError: config"
    assert g.fingerprint == group_event([other_cause, raised], "").fingerprint


def test_message_template_then_normalized_message():
    a = group_event([], "user bob failed", template="user %s failed")
    b = group_event([], "user eve failed", template="user %s failed")
    assert a.fingerprint == b.fingerprint and a.inputs == {"template": "user %s failed"}
    c = group_event([], "cache warmed for 120 keys")
    d = group_event([], "cache warmed for 7 keys")
    assert c.fingerprint == d.fingerprint and c.method == "message"
    assert c.title == "cache warmed for 120 keys"


def test_explicit_fingerprint_with_default():
    exc = [_exc(frames=[_frame("pay", "charge(card)")])]
    plain = group_event(exc, "", fingerprint=["payments", "stripe"])
    assert plain.method == "fingerprint" and plain.inputs == {"fingerprint": ["payments",
                                                                              "stripe"]}
    assert plain.fingerprint == group_event([], "other", fingerprint=["payments",
                                                                      "stripe"]).fingerprint
    tenant_a = group_event(exc, "", fingerprint=["{{ default }}", "tenant-a"])
    tenant_b = group_event(exc, "", fingerprint=["{{ default }}", "tenant-b"])
    assert tenant_a.fingerprint != tenant_b.fingerprint
    assert tenant_a.inputs["fingerprint"][0]["default"]["method"] == "in_app_frames"


def test_normalizers():
    assert normalize_value("id 550e8400-e29b-41d4-a716-446655440000 at 0x7f3a2b") == \
        "id <uuid> at <hex>"
    assert normalize_value("token deadbeef1234 for 'alice' and \"bob\"") == \
        "token <hex> for <quoted> and <quoted>"
    assert normalize_value("took 12.5 ms at 2026-11-22T01:02:03Z from ::1 or fe80::1:2") == \
        "took <num> ms at <date> from <ip> or <ip>"
    assert normalize_filename("/srv/releases/20261122/shop/orders.py") == "shop/orders.py"
    assert normalize_filename("/usr/lib/python3/site-packages/requests/api.py") == \
        "requests/api.py"
    assert normalize_filename("C:\\app\\shop\\orders.py") == "shop/orders.py"


def test_group_row_reads_stored_rows():
    row = {"exception": msgspec.json.encode([_exc(frames=[_frame("pay", "charge()")])]).decode(),
           "extra": msgspec.json.encode({"fingerprint": ["{{ default }}", "x"]}).decode(),
           "message": "ValueError: bad", "logger": ""}
    g = group_row(row)
    assert g.method == "fingerprint" and g.inputs["fingerprint"][1] == "x"
