"""SVG charts (web.charts), pure."""

from __future__ import annotations

from web import charts


def test_line_chart_breaks_at_gaps_and_escapes():
    svg = charts.line_chart([1, 2, None, 4, 5], 0, 60, label='<x "y">', fmt=lambda v: f"{v}<")
    assert svg.count("<polyline") == 2
    assert '<x "y">' not in svg and "&lt;x &#34;y&#34;&gt;" in svg
    assert "max 5&lt;" in svg
    assert svg.count("<circle") == 4


def test_line_chart_without_data():
    svg = charts.line_chart([None, None], 0, 60, label="l", fmt=str)
    assert "no data" in svg and "<polyline" not in svg


def test_histogram_bars_link_to_their_slice():
    svg = charts.histogram([0, 3, 6], 0.0, 300.0, link=lambda lo, hi: f"/s?from={lo}&to={hi}")
    assert svg.count("<rect") == 3
    assert svg.count("<a href") == 2  # empty bars have no link
    assert 'href="/s?from=100.0&amp;to=200.0"' in svg
    assert "3 matches" in svg and "max 6" in svg
