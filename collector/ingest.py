"""Decode one Lookout SDK batch into rows, record by record (pure, no I/O).

A malformed body fails as a whole (:class:`BatchError`, 400); a bad record
is listed in ``rejected`` with its kind, index and reason while the other
records are stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from collector import normalize as n
from collector import schema


class BatchError(ValueError):
    """The body as a whole is unusable; ``status`` is 400 or 413."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class DecodedBatch:
    rows: n.RowBatch = field(default_factory=n.RowBatch)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    accepted_by_kind: dict[str, int] = field(default_factory=dict)
    rejected_by_kind: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def refuse(self, answer: Any, attr: str, position: int, reason: str) -> None:
        """Count a record the database refused as rejected, in ``answer`` too.

        ``position`` is the record's place in ``rows.<attr>``; its index in the
        request skips the records rejected before they became rows.
        """
        kind = _SINGULAR[attr]
        before = sorted(r["index"] for r in self.rejected
                        if r["kind"] == kind and r["index"] is not None)
        index = position
        for skipped in before:
            if skipped > index:
                break
            index += 1
        entry = {"kind": kind, "index": index, "error": f"not stored: {reason}"}
        self.rejected.append(entry)
        self.accepted_by_kind[kind] -= 1
        self.rejected_by_kind[kind] = self.rejected_by_kind.get(kind, 0) + 1
        if answer.rejected is not self.rejected:
            answer.rejected.append(entry)
        answer.accepted -= 1


# kind -> (decoder, row builder, RowBatch attribute)
_KINDS: dict[str, tuple[msgspec.json.Decoder[Any], Callable[..., Any], str]] = {
    "logs": (schema.log_decoder, n.log_row, "logs"),
    "errors": (schema.error_decoder, n.error_row, "errors"),
    "metrics": (schema.metric_decoder, n.metric_row, "metrics"),
    "requests": (schema.request_decoder, n.request_row, "requests"),
}
_SINGULAR = {"logs": "log", "errors": "error", "metrics": "metric", "requests": "request"}


def decode_batch(body: bytes, project_id: int, now: float, limits: n.Limits,
                 max_records: int) -> DecodedBatch:
    try:
        batch = schema.batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BatchError(400, f"invalid batch: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BatchError(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's nesting limit (about 1000 levels)
        raise BatchError(400, "body is not usable JSON: nested too deeply") from None
    total = len(batch.logs) + len(batch.errors) + len(batch.metrics) + len(batch.requests)
    if total > max_records:
        raise BatchError(413, f"batch has {total} records; the limit is {max_records}")
    out = DecodedBatch()
    for kind, (decoder, build, attr) in _KINDS.items():
        raws = getattr(batch, kind)
        if not raws:
            continue
        target = getattr(out.rows, attr)
        bad = 0
        for index, raw in enumerate(raws):
            try:
                target.append(build(project_id, decoder.decode(raw), batch.resource, now, limits))
            except (msgspec.ValidationError, ValueError, OverflowError, RecursionError) as exc:
                bad += 1
                out.rejected.append({"kind": _SINGULAR[kind], "index": index, "error": str(exc)})
        out.accepted_by_kind[_SINGULAR[kind]] = len(raws) - bad
        if bad:
            out.rejected_by_kind[_SINGULAR[kind]] = bad
    if batch.dropped:
        out.dropped = dropped_by_kind(batch.dropped)
    return out


def dropped_by_kind(reported: dict[str, int]) -> dict[str, int]:
    """The SDK's ``dropped`` counts keyed by record kind, anything else summed as ``"other"``.

    The keys become label values of ``lookout_sdk_dropped_records_total``. They come
    from the client, and every distinct label value is a series kept in memory until
    restart and rendered on every scrape, so only a fixed set may get through.
    """
    out: dict[str, int] = {}
    for key, count in reported.items():
        if count > 0:
            kind = key if key in _KINDS else "other"
            out[kind] = out.get(kind, 0) + count
    return out
