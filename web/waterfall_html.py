"""The waterfall section of the request page as HTML (like web.charts: markup built in Python).

A Jinja macro per span cost ~0.3 ms; a trace of 1,000 shown spans took
~250 ms to render that way. Here each row is one format string, so the page
of a 2,000-span trace renders in a fraction of that (bench/request_page.py).

Every value from a record goes through ``escape`` (markupsafe, as Jinja's
autoescape does); numbers are formatted here. No JavaScript: subtrees
collapse with ``<details>``, bars and marks are SVG in percentages (the CSP
forbids inline styles).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from web.waterfall import MAX_NESTING, PALETTE_SIZE, Mark, Row, Waterfall, fmt_ms

MESSAGE_CHARS = 300


def _s(value: Any) -> str:
    return str(escape("" if value is None else value))


def _short(text: Any, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _marks(marks: list[Mark]) -> str:
    out = []
    for m in marks:
        level = f" ({_s(m.level)})" if m.level else ""
        out.append(f'<a href="#w-{m.kind}-{m.id}"><title>{m.kind}{level}: {_s(m.label)}</title>'
                   f'<rect class="mark m-{m.kind} lvl-{_s(m.level)}" x="{m.pct:.3f}%" y="0" '
                   f'width="3" height="18"></rect></a>')
    return "".join(out)


def _items(items: list[dict[str, Any]], depth: int) -> str:
    if not items:
        return ""
    out = [f'<ul class="wf-items d{min(depth, MAX_NESTING)}">']
    for item in items:
        kind, rid, level = item["kind"], int(item["id"]), _s(item.get("level") or "")
        badge = ('<span class="badge error">error</span>' if kind == "error"
                 else f'<span class="badge level">{level}</span>')
        issue = ""
        if kind == "error" and item.get("issue_id") is not None:
            issue = (f' <a class="tag" href="/issues/{int(item["issue_id"])}">issue '
                     f'#{int(item["issue_id"])}</a>')
        offset = fmt_ms(float(item.get("offset_ms") or 0.0))
        out.append(f'<li id="w-{kind}-{rid}" class="kind-{kind} lvl-{level}">{badge} '
                   f'<a class="msg" href="#rec-{kind}-{rid}" title="the full record below">'
                   f'{_s(_short(item.get("message"), MESSAGE_CHARS))}</a>{issue} '
                   f'<span class="offset">+{offset}</span></li>')
    out.append("</ul>")
    return "".join(out)


def _line(row: Row) -> str:
    s = row.span
    name = s.get("name") or s.get("op") or "(unnamed span)"
    meta = [_s(s.get("service") or "(no service)")]
    if s.get("op"):
        meta.append(_s(s["op"]))
    if row.is_error:
        meta.append(f'<span class="err">{_s(s.get("status"))}</span>')
    if row.orphan:
        meta.append(f'<span class="tag" title="its parent span {_s(s.get("parent_span_id"))} '
                    'is not in this trace (not sent, sampled out or past the cap)">'
                    'parent missing</span>')
    if row.depth > MAX_NESTING:
        meta.append(f"depth {row.depth}")
    if row.descendants:
        meta.append(f"{row.descendants:,} below")
    duration = fmt_ms(float(s.get("duration_ms") or 0.0))
    bad = " bad" if row.is_error else ""
    return (f'<span class="wf-name d{min(row.depth, MAX_NESTING)}" title="{_s(s.get("name"))}">'
            f'<span class="caret"></span><span class="dot lane{row.lane}"></span>'
            f'<span class="wf-title">{_s(name)}</span> '
            f'<span class="wf-meta">{" · ".join(meta)}</span></span>'
            f'<span class="wf-bar lane{row.lane}"><svg width="100%" height="18" role="img" '
            f'aria-label="starts at +{fmt_ms(row.start_ms)}, lasts {duration}">'
            f'<rect class="bar{bad}" x="{row.offset_pct:.3f}%" y="3" width="{row.width_pct:.3f}%" '
            f'height="12" rx="2"></rect>{_marks(row.marks)}</svg></span>'
            f'<span class="wf-dur">{duration}</span>')


def _rows(rows: list[Row]) -> str:
    out = []
    for row in rows:
        sid, bad = _s(row.span.get("span_id")), " bad" if row.is_error else ""
        if row.opens:
            out.append(f'<li class="wf-node" id="span-{sid}"><details open>'
                       f'<summary class="wf-row{bad}">{_line(row)}</summary>'
                       f'{_items(row.items, row.depth)}<ol class="wf-children">')
        else:
            out.append(f'<li class="wf-node leaf" id="span-{sid}"><div class="wf-row{bad}">'
                       f'{_line(row)}</div>{_items(row.items, row.depth)}</li>')
        out.append("</ol></details></li>" * row.closes)
    return "".join(out)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def render(w: Waterfall, trace_id: str | None) -> Markup:
    """The ``<section>`` drawing ``w``: heading, cap notice, legend, axis, rows, unplaced."""
    shown = len(w.rows)
    heading = (f'<section class="card waterfall" id="waterfall"><h2>Trace '
               f'<code class="rid">{_s(trace_id)}</code> <span class="sub">'
               f'{_plural(shown, "span")} · {_plural(len(w.services), "service")} · '
               f'{fmt_ms(w.duration_ms)}</span></h2>')
    out = [heading]
    if w.not_shown:
        out.append(f'<p class="flash capped">{_plural(w.not_shown, "more span")} not shown: '
                   f'this trace has {w.total:,}, the waterfall shows the first {shown:,} by '
                   f'start time (<code>LOOKOUT_MAX_WATERFALL_SPANS</code>).</p>')
    out.append('<p class="lanes">' + "".join(
        f'<span class="lane lane{i % PALETTE_SIZE}">{_s(s or "(no service)")}</span>'
        for i, s in enumerate(w.services)) + "</p>")
    ticks = []
    for n, t in enumerate(w.ticks):
        anchor = "start" if n == 0 else ("end" if t.pct > 90 else "middle")
        ticks.append(f'<line x1="{t.pct:.3f}%" x2="{t.pct:.3f}%" y1="12" y2="18"></line>'
                     f'<text x="{t.pct:.3f}%" y="10" text-anchor="{anchor}">{t.label}</text>')
    out.append('<div class="wf-row wf-axis"><span class="wf-name">span</span><span '
               f'class="wf-bar"><svg width="100%" height="18" aria-hidden="true">{"".join(ticks)}'
               '</svg></span><span class="wf-dur">duration</span></div>')
    out.append(f'<ol class="wf">{_rows(w.rows)}</ol>')
    if w.unplaced:
        out.append('<div class="wf-row wf-unplaced"><span class="wf-name">not on a shown span'
                   f'</span><span class="wf-bar"><svg width="100%" height="18">'
                   f'{_marks(w.unplaced_marks)}</svg></span><span class="wf-dur"></span></div>')
        out.append(_items(w.unplaced, 0))
    out.append("</section>")
    return Markup("".join(out))
