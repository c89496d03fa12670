"""The outcome of converting one OTLP export request: rows, and what was rejected why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.normalize import RowBatch


@dataclass(slots=True)
class Converted:
    """Rows for the writer; ``rejected`` items and the first reason (OTLP partial success)."""

    rows: RowBatch = field(default_factory=RowBatch)
    rejected: int = 0
    error_message: str = ""
    # Cumulative series positions to remember once the rows are committed
    # (collector.otlp.cumulative): a failed write leaves the state as it was.
    series: dict[Any, Any] = field(default_factory=dict)

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected += count
        if not self.error_message:
            self.error_message = reason[:500]
