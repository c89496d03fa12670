"""Frames read from ``exception.stacktrace`` texts."""

from __future__ import annotations

import traceback

from collector.otlp.stacktrace import frames


def _python_trace() -> str:
    def checkout():
        raise ValueError("bad order")

    try:
        checkout()
    except ValueError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError


def test_python_traceback_outermost_first_with_context_lines():
    found = frames(_python_trace())
    assert [f["function"] for f in found] == ["_python_trace", "checkout"]
    assert found[-1]["context_line"] == 'raise ValueError("bad order")'
    assert found[-1]["in_app"] is True and found[-1]["lineno"] > 0


def test_java_and_javascript_innermost_first_are_reversed():
    java = ("java.lang.IllegalStateException: no\n\tat com.shop.Cart.pay(Cart.java:42)\n"
            "\tat java.base/java.lang.Thread.run(Thread.java:833)\n")
    found = frames(java)
    assert [f["function"] for f in found] == ["run", "pay"]
    assert found[-1]["module"] == "com.shop.Cart" and found[-1]["in_app"] is True
    js = ("Error: boom\n    at pay (/srv/app/cart.js:10:5)\n"
          "    at /srv/app/node_modules/express/lib/router.js:284:7\n")
    found = frames(js)
    assert [(f["function"], f["in_app"]) for f in found] == [("?", False), ("pay", True)]


def test_unknown_or_hostile_text_gives_few_or_no_frames():
    assert frames("") == [] and frames("just a message") == []
    hostile = ("at " + "(" * 5000 + ":" * 5000 + "\n") * 40 + 'File "' * 20_000
    assert frames(hostile) == []
    # Blank lines: a pattern whose leading \s* also ate newlines was quadratic here
    # (20,000 lines took 13 s; these 200,000 would take about 20 minutes).
    assert frames("\n" * 200_000) == [] and frames(" \r\n" * 60_000) == []
    many = 'File "a.py", line 1, in f\n' * 10_000
    assert len(frames(many)) == 250
