"""Server-rendered SVG charts (pure functions, no JavaScript needed).

Charts scale with their container (``viewBox`` + CSS width) and carry a
``<title>`` per point or bar, which browsers show on hover. Every piece of
text goes through Markup escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from markupsafe import Markup

WIDTH, HEIGHT = 320, 90
PAD_TOP, PAD_BOTTOM = 6, 4


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def line_chart(values: Sequence[float | None], start: float, step: float, *, label: str,
               fmt: Callable[[float], str], css_class: str = "") -> Markup:
    """A sparkline-sized line chart of ``values`` (None = no data in that step)."""
    known = [v for v in values if v is not None]
    top = max(known) if known else 0.0
    scale = top if top > 0 else 1.0
    n = max(len(values), 1)
    dx = WIDTH / max(n - 1, 1)
    inner = HEIGHT - PAD_TOP - PAD_BOTTOM

    def y(v: float) -> float:
        return PAD_TOP + inner * (1 - v / scale)

    segments: list[list[tuple[float, float]]] = [[]]
    dots: list[Markup] = []
    for i, v in enumerate(values):
        if v is None:
            if segments[-1]:
                segments.append([])
            continue
        point = (i * dx, y(v))
        segments[-1].append(point)
        dots.append(Markup('<circle cx="{:.1f}" cy="{:.1f}" r="3" class="dot"><title>{}: {}'
                           '</title></circle>').format(point[0], point[1], _utc(start + i * step),
                                                       fmt(v)))
    lines = [Markup('<polyline class="line" points="{}"/>').format(
        " ".join(f"{px:.1f},{py:.1f}" for px, py in seg)) for seg in segments if len(seg) > 1]
    # The label lives outside the SVG: preserveAspectRatio="none" would stretch SVG text.
    head = Markup('<span class="peak">max {}</span>').format(fmt(top)) if known \
        else Markup('<span class="peak">no data</span>')
    return Markup(
        '<div class="chartbox">{head}<svg class="chart {cls}" viewBox="0 0 {w} {h}" '
        'preserveAspectRatio="none" role="img" aria-label="{label}">'
        '<line x1="0" y1="{base}" x2="{w}" y2="{base}" class="base"/>{lines}{dots}</svg></div>'
        ).format(
        cls=css_class, w=WIDTH, h=HEIGHT, label=label, base=HEIGHT - PAD_BOTTOM, head=head,
        lines=Markup("").join(lines), dots=Markup("").join(dots))


def histogram(counts: Sequence[int], since: float, until: float, *,
              link: Callable[[float, float], str] | None = None,
              counted_from: float | None = None) -> Markup:
    """Bars of match counts over [since, until); each bar links to its own time slice.

    ``counted_from``: counting stopped at a cap, and slices ending before this
    time were not counted; they are drawn as hatched "not counted" slots, not
    as zero bars.
    """
    n = max(len(counts), 1)
    width, height = 800, 80
    bar_w = width / n
    top = max(counts) if counts else 0
    scale = top if top > 0 else 1
    step = (until - since) / n
    bars: list[Markup] = []
    for i, count in enumerate(counts):
        h = (height - 12) * count / scale
        lo, hi = since + i * step, since + (i + 1) * step
        if counted_from is not None and hi <= counted_from:
            bars.append(Markup('<rect x="{:.2f}" y="0" width="{:.2f}" height="{}" '
                               'class="uncounted"><title>{} – {}: not counted</title></rect>'
                               ).format(i * bar_w, bar_w, height, _utc(lo), _utc(hi)))
            continue
        rect = Markup('<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" class="bar">'
                      '<title>{} – {}: {} matches</title></rect>').format(
            i * bar_w + 0.5, height - h, max(bar_w - 1, 0.5), max(h, 0.0), _utc(lo), _utc(hi),
            count)
        if link is not None and count:
            rect = Markup('<a href="{}">{}</a>').format(link(lo, hi), rect)
        bars.append(rect)
    return Markup(
        '<div class="histobox"><span class="peak">max {top}</span><svg class="histogram" '
        'viewBox="0 0 {w} {h}" preserveAspectRatio="none" role="img" '
        'aria-label="matches over time">{bars}</svg></div>').format(w=width, h=height, top=top, bars=Markup("").join(bars))


def fmt_rate(v: float) -> str:
    return f"{v:.3g}/min" if v < 1000 else f"{v / 1000:.3g}k/min"


def fmt_percent(v: float) -> str:
    return f"{v * 100:.2g}%" if v < 0.1 else f"{v * 100:.3g}%"


def fmt_ms(v: float) -> str:
    return f"{v:.3g} ms" if v < 1000 else f"{v / 1000:.3g} s"




def bars(counts: Sequence[int], start: float, step: float, *, css_class: str = "spark",
         unit: str = "events") -> Markup:
    """Plain bars (a sparkline, or an occurrences chart): one per step, no links."""
    n = max(len(counts), 1)
    width, height = 240, 40
    bar_w = width / n
    top = max(counts) if counts else 0
    scale = top if top > 0 else 1
    rects = [Markup('<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}">'
                    '<title>{}: {} {}</title></rect>').format(
        i * bar_w, height - max(height * c / scale, 1 if c else 0), max(bar_w - 0.6, 0.4),
        max(height * c / scale, 1 if c else 0), _utc(start + i * step), c, unit)
        for i, c in enumerate(counts)]
    return Markup('<svg class="{cls}" viewBox="0 0 {w} {h}" preserveAspectRatio="none" '
                  'role="img" aria-label="{label}">{rects}</svg>').format(
        cls=css_class, w=width, h=height, label=f"{sum(counts)} {unit}",
        rects=Markup("").join(rects))


def hourly_series(hourly: Sequence[dict], since: float, hours: int) -> tuple[list[int], float]:
    """Counts per hour from ``[{"hour": epoch, "count": n}]``, zero-filled, oldest first."""
    start = int(since // 3600) * 3600
    counts = [0] * hours
    for point in hourly:
        i = int((point["hour"] - start) // 3600)
        if 0 <= i < hours:
            counts[i] += int(point["count"])
    return counts, float(start)
