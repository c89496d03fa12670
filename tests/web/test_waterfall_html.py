"""The waterfall section's HTML (web.waterfall_html): escaping, nesting, cap notice."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from web import waterfall as w
from web.waterfall_html import render

EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def _span(sid, parent, ts, ms, **kw):
    return {"id": kw.pop("id"), "span_id": sid, "parent_span_id": parent, "ts": ts,
            "duration_ms": ms, "service": kw.pop("service", "api"), "name": kw.pop("name", sid),
            "op": kw.pop("op", ""), "status": kw.pop("status", "ok")}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in ("rect", "line"):  # written as <rect ...></rect> too, but be lenient
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in ("rect", "line"):
            return
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def test_every_ingested_value_is_escaped():
    spans = [_span("a1", None, 1.0, 10, id=1, name=EVIL, service=EVIL, op=EVIL, status=EVIL),
             _span("b1", "zz", 1.001, 1, id=2, name="x", service="s")]
    items = [{"kind": "log", "id": 5, "ts": 1.002, "service": EVIL, "level": EVIL,
              "message": EVIL, "attributes": {"span_id": "a1"}, "offset_ms": 2.0},
             {"kind": "error", "id": 6, "ts": 1.003, "service": "s", "level": "error",
              "message": EVIL, "issue_id": 3, "attributes": {}, "extra": {}}]
    html = str(render(w.build(spans, items), EVIL))
    assert "<script" not in html and "<img" not in html and '"><script' not in html
    assert html.count("&lt;script&gt;") >= 6
    assert 'href="/issues/3"' in html and 'id="w-log-5"' in html and 'href="#w-log-5"' in html


def test_groups_nest_and_close_and_the_cap_is_said():
    spans = [_span("r", None, 0.0, 100, id=1)] + [
        _span(f"c{i}", "r" if i < 3 else f"c{i % 3}", i * .001, 1, id=i + 2) for i in range(10)]
    html = str(render(w.build(spans, [], total=2500), "t" * 32))
    parser = _Tags()
    parser.feed(html)
    assert parser.balanced and not parser.stack
    assert html.count("<details open>") == html.count("</details>") == 4
    assert re.search(r"2,489 more spans not shown: this trace has 2,500", html)
