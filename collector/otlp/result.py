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

    def replace_nul(self) -> None:
        """Replace U+0000 in every text column with U+FFFD (in place).

        Protobuf strings may hold NUL, which PostgreSQL text cannot: one such
        record would fail its whole transaction. (JSON text columns already hold
        it escaped as ``\\u0000``.) The JSON ingest paths do this on the raw body
        (``collector.decode.replace_nul_escapes``); protobuf has no such shortcut.
        """
        for attr in ("logs", "metrics", "requests", "spans"):
            rows = getattr(self.rows, attr)
            for i, row in enumerate(rows):
                if any(type(v) is str and "\x00" in v for v in row):
                    rows[i] = tuple(_clean(v) for v in row)
        for error in self.rows.errors:
            for key, value in error.items():
                if type(value) is str and "\x00" in value:
                    error[key] = value.replace("\x00", "\ufffd")


def _clean(value: object) -> object:
    return value.replace("\x00", "\ufffd") if type(value) is str else value
