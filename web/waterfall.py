"""The span waterfall of one request: tree, scale and placement of logs and errors (pure).

The request page and ``/api/v1/requests/{id}`` lay out the spans of a trace
with :func:`build`; nothing here touches the database or HTML, so the maths
is tested on its own (tests/web/test_waterfall.py).

- **Tree**: a span hangs under its ``parent_span_id`` when that span is
  present; otherwise (the parent was not sent, was sampled out or lies past
  the cap) it is a root, marked ``orphan``. Cycles and duplicate span ids,
  which a buggy client can send, cannot loop: each span is visited once.
  Siblings are ordered by start time.
- **Rows**: the tree flattened depth first, each row knowing whether it opens
  a collapsible group (its subtree) and how many groups close after it, so a
  template can nest ``<details>`` without recursion. Groups nest at most
  ``MAX_NESTING`` deep (deeper spans stay indented, in their ancestor's
  group): browsers and Jinja both dislike thousands of nested elements.
- **Scale**: one time axis from the first start to the last end (of spans,
  logs and errors), offsets and widths as percentages of it, so bars are to
  scale; a bar is never thinner than ``MIN_WIDTH_PCT`` so a 0 ms span stays
  visible.
- **Placement**: a log or error goes on the span whose id it carries
  (OTLP ``span_id``, Sentry ``contexts.trace.span_id`` or a log's span id),
  else on the deepest span of its service open at its time, else it stays
  on the axis only (``unplaced``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from collector.span_queries import item_span_id

MAX_NESTING = 32
MIN_WIDTH_PCT = 0.3
PALETTE_SIZE = 8
TICKS = 5


@dataclass(slots=True)
class Mark:
    """A log or error on the time axis: where (``pct``) and what (for links and colour)."""

    kind: str  # "log" | "error"
    id: int
    pct: float
    level: str
    label: str


@dataclass(slots=True)
class Row:
    """One span as laid out: tree position, bar geometry and what happened on it."""

    span: dict[str, Any]
    depth: int
    offset_pct: float = 0.0
    width_pct: float = 0.0
    start_ms: float = 0.0  # from the start of the axis
    end_ms: float = 0.0
    lane: int = 0  # colour of the span's service
    orphan: bool = False
    children: int = 0  # direct children shown
    descendants: int = 0
    opens: bool = False  # starts a collapsible group holding its subtree
    closes: int = 0  # groups that end after this row
    items: list[dict[str, Any]] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        status = str(self.span.get("status") or "").lower()
        return status not in ("", "ok", "unset")


@dataclass(slots=True)
class Tick:
    pct: float
    label: str


@dataclass(slots=True)
class Waterfall:
    """Everything the page needs to draw one trace's spans."""

    rows: list[Row]
    services: list[str]  # in order of first appearance; lane = index % PALETTE_SIZE
    start: float  # epoch seconds at 0 %
    duration_ms: float  # the whole axis
    ticks: list[Tick]
    total: int  # spans the trace has (as counted), shown or not
    unplaced: list[dict[str, Any]]  # logs and errors on no shown span
    unplaced_marks: list[Mark]

    @property
    def not_shown(self) -> int:
        return max(self.total - len(self.rows), 0)


# -- tree ---------------------------------------------------------------------------------


def _start(span: dict[str, Any]) -> float:
    ts = span.get("ts")
    return float(ts) if isinstance(ts, (int, float)) and math.isfinite(ts) else 0.0


def _duration_ms(span: dict[str, Any]) -> float:
    d = span.get("duration_ms")
    return float(d) if isinstance(d, (int, float)) and math.isfinite(d) and d > 0 else 0.0


def _order(span: dict[str, Any]) -> tuple[float, int]:
    sid = span.get("id")
    return _start(span), sid if isinstance(sid, int) else 0


def tree_rows(spans: list[dict[str, Any]]) -> list[Row]:
    """The spans as depth-first rows (parents before children, siblings by start)."""
    by_id: dict[str, dict[str, Any]] = {}
    for span in spans:
        by_id.setdefault(str(span.get("span_id") or ""), span)
    children: dict[int, list[dict[str, Any]]] = {}
    roots: list[dict[str, Any]] = []
    for span in spans:
        parent = by_id.get(str(span.get("parent_span_id") or ""))
        if parent is None or parent is span:
            roots.append(span)
        else:
            children.setdefault(id(parent), []).append(span)
    for group in children.values():
        group.sort(key=_order)
    roots.sort(key=_order)

    rows: list[Row] = []
    visited: set[int] = set()

    def walk(root: dict[str, Any]) -> None:
        stack: list[tuple[dict[str, Any], int]] = [(root, 0)]
        while stack:
            span, depth = stack.pop()
            if id(span) in visited:
                continue
            visited.add(id(span))
            parent_id = span.get("parent_span_id")
            rows.append(Row(span=span, depth=depth,
                            orphan=depth == 0 and bool(parent_id) and parent_id != span.get(
                                "span_id")))
            kids = [k for k in children.get(id(span), ()) if id(k) not in visited]
            stack.extend((k, depth + 1) for k in reversed(kids))

    for root in roots:
        walk(root)
    # Spans only reachable through a cycle: each becomes a root (its parent is "missing").
    for span in sorted((s for s in spans if id(s) not in visited), key=_order):
        walk(span)
    _count_and_group(rows)
    return rows


def _count_and_group(rows: list[Row]) -> None:
    """Children/descendant counts, and which rows open and close ``<details>`` groups."""
    ancestors: list[Row] = []
    for row in rows:
        del ancestors[row.depth:]
        if ancestors:
            ancestors[-1].children += 1
            for a in ancestors:
                a.descendants += 1
        ancestors.append(row)
    open_groups: list[Row] = []
    previous: Row | None = None
    for row in rows:
        while open_groups and open_groups[-1].depth >= row.depth:
            open_groups.pop()
            assert previous is not None
            previous.closes += 1
        row.opens = row.descendants > 0 and row.depth < MAX_NESTING
        if row.opens:
            open_groups.append(row)
        previous = row
    if previous is not None:
        previous.closes += len(open_groups)


# -- scale ----------------------------------------------------------------------------------


def nice_step(span_ms: float, ticks: int = TICKS) -> float:
    """A round step (1, 2 or 5 times a power of ten, in ms) giving about ``ticks`` ticks."""
    if not span_ms > 0 or not math.isfinite(span_ms):
        return 1.0
    raw = span_ms / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def fmt_ms(ms: float) -> str:
    """``0.4`` -> ``0.4 ms``, ``1500`` -> ``1.5 s``, ``90000`` -> ``1.5 min``."""
    if ms >= 60_000:
        return f"{ms / 60_000:.3g} min"
    if ms >= 1000:
        return f"{ms / 1000:.3g} s"
    if ms >= 10 or ms == 0:
        return f"{ms:.0f} ms"
    return f"{ms:.2g} ms"


def axis_ticks(duration_ms: float) -> list[Tick]:
    step = nice_step(duration_ms)
    out, k = [], 0
    while k * step <= duration_ms * 1.0001 and k <= 4 * TICKS:
        out.append(Tick(pct=min(k * step / duration_ms * 100, 100.0), label=fmt_ms(k * step)))
        k += 1
    return out


def pct(value_ms: float, total_ms: float) -> float:
    return min(max(value_ms / total_ms * 100.0, 0.0), 100.0)


# -- placement ------------------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _label(item: dict[str, Any]) -> str:
    text = str(item.get("message") or "")
    return text if len(text) <= 200 else text[:199] + "…"


def _covering(rows: list[Row], at_ms: float) -> Row | None:
    """The deepest of ``rows`` (one service's) open at ``at_ms`` on the axis."""
    best: Row | None = None
    for row in rows:
        if row.start_ms <= at_ms <= row.end_ms and (best is None or row.depth >= best.depth):
            best = row
    return best


# -- all together ---------------------------------------------------------------------------


def build(spans: list[dict[str, Any]], items: list[dict[str, Any]], total: int | None = None
          ) -> Waterfall:
    """Lay out ``spans`` (span items of one trace) with the request's ``items``.

    ``items`` are timeline items (``kind`` log, error or request); logs and
    errors are placed on spans (each row's ``items`` and ``marks``), request
    records are not drawn (their spans are). ``total`` is how many spans the
    trace has when ``spans`` was capped.
    """
    rows = tree_rows(spans)
    services: list[str] = []
    for row in sorted(rows, key=lambda r: _order(r.span)):
        service = str(row.span.get("service") or "")
        if service not in services:
            services.append(service)
    placed = [i for i in items if i.get("kind") in ("log", "error")]
    starts = [_start(r.span) for r in rows] + [_start(i) for i in placed]
    ends = [_start(r.span) + _duration_ms(r.span) / 1000 for r in rows] + starts
    t0 = min(starts) if starts else 0.0
    duration = max((max(ends) - t0) * 1000 if ends else 0.0, 0.001)

    by_span: dict[str, Row] = {}
    for row in rows:
        by_span.setdefault(str(row.span.get("span_id") or "").lower(), row)
        row.start_ms = (_start(row.span) - t0) * 1000
        row.end_ms = row.start_ms + _duration_ms(row.span)
        row.offset_pct = pct(row.start_ms, duration)
        row.width_pct = min(max(pct(_duration_ms(row.span), duration), MIN_WIDTH_PCT),
                            100.0 - row.offset_pct) if row.offset_pct < 100 else MIN_WIDTH_PCT
        row.lane = services.index(str(row.span.get("service") or "")) % PALETTE_SIZE

    by_service: dict[str, list[Row]] = {}
    for row in rows:
        by_service.setdefault(str(row.span.get("service") or ""), []).append(row)
    unplaced: list[dict[str, Any]] = []
    unplaced_marks: list[Mark] = []
    for item in placed:
        at_ms = (_start(item) - t0) * 1000
        mark = Mark(kind=item["kind"], id=int(item.get("id") or 0), pct=pct(at_ms, duration),
                    level=str(item.get("level") or ""), label=_label(item))
        sid = item_span_id(item)
        row = by_span.get(sid) if sid else None
        if row is None:
            # On its service's innermost open span at its time; a service with no spans
            # in the trace (a Sentry SDK's logs named after its events' service tag,
            # while its spans carry none) on any span open then.
            service = str(item.get("service") or "")
            row = _covering(by_service.get(service, rows), at_ms)
        if row is None:
            unplaced.append(item)
            unplaced_marks.append(mark)
            continue
        item["on_span"] = row.span.get("span_id")
        item["on_span_name"] = row.span.get("name") or row.span.get("op") or "span"
        row.items.append(item)
        row.marks.append(mark)
    return Waterfall(rows=rows, services=services, start=t0, duration_ms=duration,
                     ticks=axis_ticks(duration), total=max(total or 0, len(rows)),
                     unplaced=unplaced, unplaced_marks=unplaced_marks)


def as_json(w: Waterfall) -> dict[str, Any]:
    """The waterfall as the read API answers it: spans in tree order with their layout."""
    return {
        "start": w.start, "duration_ms": w.duration_ms, "services": w.services,
        "total": w.total, "shown": len(w.rows), "not_shown": w.not_shown,
        "spans": [{**row.span, "depth": row.depth, "offset_ms": row.start_ms,
                   "offset_pct": round(row.offset_pct, 4), "width_pct": round(row.width_pct, 4),
                   "orphan": row.orphan,
                   "logs": [i["id"] for i in row.items if i["kind"] == "log"],
                   "errors": [i["id"] for i in row.items if i["kind"] == "error"]}
                  for row in w.rows],
        "unplaced": {"logs": [i["id"] for i in w.unplaced if i["kind"] == "log"],
                     "errors": [i["id"] for i in w.unplaced if i["kind"] == "error"]},
    }
