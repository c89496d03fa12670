"""Per-minute rollup deltas computed from a batch of rows (pure, no I/O).

The writer folds every committed batch into additive deltas keyed by
minute and labels, then upserts them in the same transaction as the raw rows,
so a rollup is never ahead of or behind the data it summarises. Keys are
returned sorted: two instances upserting overlapping keys on PostgreSQL then
take row locks in the same order and cannot deadlock.
"""

from __future__ import annotations

from typing import Any

import msgspec

from collector import normalize as n
from collector.buckets import COLUMNS as BUCKETS
from collector.buckets import bucket_index

_P, _TS = n.REQUEST_COLUMNS.index("project_id"), n.REQUEST_COLUMNS.index("ts")
_SVC, _ENV = n.REQUEST_COLUMNS.index("service"), n.REQUEST_COLUMNS.index("environment")
_ROUTE, _STATUS = n.REQUEST_COLUMNS.index("route"), n.REQUEST_COLUMNS.index("status")
_DUR, _UNH = n.REQUEST_COLUMNS.index("duration_ms"), n.REQUEST_COLUMNS.index("unhandled")
_LVL = n.LOG_COLUMNS.index("level")
_M = {name: i for i, name in enumerate(n.METRIC_COLUMNS)}

_decode_list = msgspec.json.Decoder(list[int]).decode


def minute_of(ts: float) -> int:
    return int(ts // 60) * 60


def request_deltas(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    acc: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        key = (r[_P], minute_of(r[_TS]), r[_SVC], r[_ENV], r[_ROUTE])
        slot = acc.get(key)
        if slot is None:
            slot = acc[key] = [0, 0, 0.0] + [0] * len(BUCKETS)
        slot[0] += 1
        if r[_STATUS] >= 500 or r[_UNH]:
            slot[1] += 1
        slot[2] += r[_DUR]
        slot[3 + bucket_index(r[_DUR])] += 1
    out = []
    for key in sorted(acc):
        slot = acc[key]
        row = dict(project_id=key[0], minute=key[1], service=key[2], environment=key[3],
                   route=key[4], count=slot[0], errors=slot[1], duration_sum=slot[2])
        row.update(zip(BUCKETS, slot[3:]))
        out.append(row)
    return out


def log_deltas(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    acc: dict[tuple[Any, ...], int] = {}
    for r in rows:
        key = (r[_P], minute_of(r[_TS]), r[_SVC], r[_ENV], r[_LVL])
        acc[key] = acc.get(key, 0) + 1
    return [dict(project_id=k[0], minute=k[1], service=k[2], environment=k[3], level=k[4], count=c)
            for k, c in sorted(acc.items())]


def metric_deltas(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        tags = r[_M["tags"]]
        key = (r[_M["project_id"]], minute_of(r[_M["ts"]]), r[_M["name"]], r[_M["service"]],
               r[_M["environment"]], n.tags_hash(tags))
        count, value = r[_M["count"]], r[_M["value"]]
        slot = acc.get(key)
        if slot is None:
            slot = acc[key] = dict(tags=tags, kind=r[_M["kind"]], count=0, sum=0.0,
                                   min=r[_M["min"]], max=r[_M["max"]], last=value, last_ts=-1.0,
                                   buckets=[0] * len(BUCKETS))
        slot["count"] += count
        slot["sum"] += r[_M["sum"]]
        slot["min"] = min(slot["min"], r[_M["min"]])
        slot["max"] = max(slot["max"], r[_M["max"]])
        if r[_M["ts"]] >= slot["last_ts"]:
            slot["last"], slot["last_ts"] = value, r[_M["ts"]]
        buckets_json = r[_M["buckets"]]
        if buckets_json:
            for i, c in enumerate(_decode_list(buckets_json)):
                slot["buckets"][i] += c
        elif slot["kind"] != "counter":
            slot["buckets"][bucket_index(value)] += count
    out = []
    for key in sorted(acc):
        slot = acc[key]
        row = dict(project_id=key[0], minute=key[1], name=key[2], service=key[3],
                   environment=key[4], tags_hash=key[5], tags=slot["tags"], kind=slot["kind"],
                   count=slot["count"], sum=slot["sum"], min=slot["min"], max=slot["max"],
                   last=slot["last"])
        row.update(zip(BUCKETS, slot["buckets"]))
        out.append(row)
    return out
