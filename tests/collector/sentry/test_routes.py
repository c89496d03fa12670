"""The Sentry endpoints through the real app (in-process), on SQLite and PostgreSQL.

Envelopes come from the real sentry-sdk (serialized by its own code); the
HTTP side (compression, auth header) is exercised here case by case, and end
to end with the SDK's own transport in ``test_sentry_sdk.py``.
"""

from __future__ import annotations

import gzip
import zlib

import brotli
import msgspec
import sentry_sdk
import sentry_sdk.logger
import sentry_sdk.metrics
from sqlalchemy import func, select

from collector import tables
from collector.issue_tables import issues
from lookout.projects import Project
from tests.support.sentry_envelopes import sdk_envelopes


def _dsn(project: Project) -> str:
    return f"http://{project.public_key}@lookout.test/{project.id}"


def _auth(project: Project, **extra: str) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={project.public_key}, sentry_version=7, "
                             "sentry_client=sentry.python/2.75.0",
            "Content-Type": "application/x-sentry-envelope", **extra}


async def _count(services, table, *where) -> int:
    async with services.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))
                ).scalar_one()


def _error_envelope(project: Project) -> bytes:
    def act() -> None:
        try:
            {}["missing"]
        except KeyError:
            sentry_sdk.capture_exception()

    (envelope,) = sdk_envelopes(_dsn(project), act)
    return envelope


async def test_real_envelope_in_every_encoding_is_stored_once(client, project, services,
                                                              auth_headers):
    envelope = _error_envelope(project)
    event_id = msgspec.json.decode(envelope.split(b"\n", 1)[0])["event_id"]
    url = f"/api/{project.id}/envelope/"
    for encoding, body in (("identity", envelope), ("gzip", gzip.compress(envelope)),
                           ("br", brotli.compress(envelope, quality=4)),
                           ("deflate", zlib.compress(envelope))):
        resp = await client.post(url, content=body,
                                 headers=_auth(project, **{"Content-Encoding": encoding}))
        assert resp.status_code == 200, (encoding, resp.text)
        assert resp.json() == {"id": event_id}
    assert await _count(services, tables.errors) == 1  # retries of one event count once
    listing = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    assert [(i["title"], i["count"]) for i in listing] == [("KeyError: 'missing'", 1)]
    assert listing[0]["environments"] == ["staging"] and listing[0]["releases"] == ["2.0.0"]


async def test_key_from_query_or_envelope_dsn_and_refusals(client, project, services):
    envelope = _error_envelope(project)
    url = f"/api/{project.id}/envelope/"
    plain = {"Content-Type": "application/x-sentry-envelope"}
    resp = await client.post(f"{url}?sentry_key={project.public_key}", content=envelope,
                             headers=plain)
    assert resp.status_code == 200
    header, rest = envelope.split(b"\n", 1)
    with_dsn = msgspec.json.encode({**msgspec.json.decode(header), "dsn": _dsn(project),
                                    "event_id": "0" * 32}) + b"\n" + rest
    resp = await client.post(url, content=with_dsn.replace(
        msgspec.json.decode(header)["event_id"].encode(), b"1" * 32), headers=plain)
    assert resp.status_code == 200, resp.text
    refusals = [
        (url, plain, 401, "missing sentry_key"),
        (f"{url}?sentry_key={'f' * 32}", plain, 401, "unknown"),
        (f"/api/{project.id + 1}/envelope/", _auth(project), 401, "not valid for project"),
        ("/api/abc/envelope/", _auth(project), 404, "project ids are numbers"),
    ]
    for target, headers, status, words in refusals:
        resp = await client.post(target, content=envelope, headers=headers)
        assert resp.status_code == status and words in resp.json()["error"], resp.text
    assert await _count(services, tables.errors) == 2


async def test_legacy_store_endpoint(client, project, services):
    event = {"event_id": "a" * 32, "message": "from an old SDK", "level": "warning",
             "tags": [["request_id", "old-1"]], "timestamp": 1e12}  # ms by mistake: clamped
    resp = await client.post(f"/api/{project.id}/store/", content=msgspec.json.encode(event),
                             headers=_auth(project))
    assert resp.status_code == 200 and resp.json() == {"id": "a" * 32}
    resp = await client.post(f"/api/{project.id}/store/", content=b"[1]", headers=_auth(project))
    assert resp.status_code == 400 and "JSON object" in resp.json()["error"]
    assert await _count(services, tables.errors, tables.errors.c.request_id == "old-1") == 1


async def test_logs_metrics_and_ignored_items(client, project, services, auth_headers):
    def act() -> None:
        sentry_sdk.logger.warning("disk {pct}% full", pct=91)
        sentry_sdk.metrics.distribution("db.query", 12.5, unit="millisecond",
                                        attributes={"table": "orders"})
        sentry_sdk.metrics.count("jobs", 3)
        sentry_sdk.metrics.gauge("queue", 7)

    envelopes = sdk_envelopes(_dsn(project), act, enable_logs=True)
    extra = (b'{}\n{"type":"client_report"}\n{"discarded_events":[]}\n'
             b'{"type":"transaction","length":2}\n{}\n{"type":"brand_new_type"}\nxyz\n')
    for body in (*envelopes, extra):
        resp = await client.post(f"/api/{project.id}/envelope/", content=body,
                                 headers=_auth(project))
        assert resp.status_code == 200, resp.text
    logs = (await client.get("/api/v1/logs", headers=auth_headers)).json()["items"]
    assert [(log["message"], log["level"]) for log in logs] == [("disk 91% full", "warning")]
    assert logs[0]["environment"] == "staging" and logs[0]["attributes"]["sentry.message.parameter.pct"] == 91
    async with services.engine.connect() as conn:
        points = (await conn.execute(select(tables.metric_points.c.name, tables.metric_points.c.kind,
                                            tables.metric_points.c.value,
                                            tables.metric_points.c.tags)
                                     .order_by(tables.metric_points.c.name))).all()
    assert [tuple(p) for p in points] == [("db.query", "histogram", 12.5, '{"table":"orders"}'),
                                          ("jobs", "counter", 3.0, "{}"),
                                          ("queue", "gauge", 7.0, "{}")]
    assert await _count(services, tables.errors) == 0


async def test_malformed_envelopes_are_4xx_and_the_server_stays_healthy(
        client, project, services, settings):
    envelope = _error_envelope(project)
    header, item_header, payload = envelope.split(b"\n", 2)
    bad_length = item_header.replace(b'"length":', b'"length":1')
    bomb = gzip.compress(b"\n" * (settings.max_decompressed_bytes * 3))
    br_bomb = brotli.compress(b"{" * (settings.max_decompressed_bytes * 3), quality=1)
    cases = [
        (envelope[: len(envelope) // 2], {}, 400, "truncated"),
        (b"\n".join([header, bad_length, payload]), {}, 400, "truncated"),
        (b"\n".join([header, item_header.replace(b'"length":', b'"length":-'), payload]), {},
         400, "invalid length"),
        (b"\n".join([header, b'{"type":"event","length":9}', b"{not json"]) + b"\n", {}, 400,
         "not valid JSON"),
        (b"{oops\n" + item_header + b"\n" + payload, {}, 400, "envelope header"),
        (b"garbage", {"Content-Encoding": "gzip"}, 400, "gzip"),
        (bomb, {"Content-Encoding": "gzip"}, 413, "decompressed"),
        (br_bomb, {"Content-Encoding": "br"}, 413, "decompressed"),
        (envelope, {"Content-Encoding": "zstd"}, 415, "Content-Encoding"),
        (b" " * (settings.max_body_bytes + 1), {}, 413, "limit"),
    ]
    for body, extra, status, words in cases:
        resp = await client.post(f"/api/{project.id}/envelope/", content=body,
                                 headers=_auth(project, **extra))
        assert resp.status_code == status, (words, resp.text)
        assert words in resp.json()["error"], resp.json()
    assert (await client.get("/healthz")).status_code == 200
    assert await _count(services, tables.errors) == 0
    resp = await client.post(f"/api/{project.id}/envelope/", content=envelope,
                             headers=_auth(project))
    assert resp.status_code == 200  # and it still takes good data
    assert await _count(services, issues) == 1


async def test_lookout_and_sentry_errors_share_grouping(client, project, services,
                                                        auth_headers):
    """The same bug reported by both SDKs (same frames) is one issue."""
    frames = [{"filename": "shop/pay.py", "module": "shop.pay", "function": "charge",
               "context_line": "    gateway.charge(card)", "lineno": 12, "in_app": True}]
    lookout = {"errors": [{"exception": [{"type": "CardError", "value": "declined 4242",
                                          "frames": frames}]}]}
    resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(lookout),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202
    event = {"exception": {"values": [{"type": "CardError", "value": "declined 1111",
                                       "stacktrace": {"frames": [{**frames[0], "lineno": 40}]}}]}}
    resp = await client.post(f"/api/{project.id}/store/", content=msgspec.json.encode(event),
                             headers=_auth(project))
    assert resp.status_code == 200
    listing = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    assert [(i["title"], i["count"]) for i in listing] == [("CardError: declined 4242", 2)]


def _transaction_payload(project: Project) -> dict:
    """A server transaction as the real sentry-sdk serializes it (its envelope's item)."""
    def act() -> None:
        with sentry_sdk.start_transaction(op="http.server", name="GET /orders/:id") as tx:
            with tx.start_child(op="db.query", name="SELECT * FROM orders"):
                pass
            tx.set_http_status(503)

    (envelope,) = sdk_envelopes(_dsn(project), act, traces_sample_rate=1.0)
    _header, *items = envelope.split(b"\n")
    for at, line in enumerate(items):
        if line and msgspec.json.decode(line).get("type") == "transaction":
            return msgspec.json.decode(items[at + 1])
    raise AssertionError("the SDK sent no transaction item")


async def test_a_transaction_sent_as_an_event_is_a_transaction_not_an_issue(
        client, project, services, auth_headers):
    """An event of type "transaction" (an ``event`` item, or a /store/ body) becomes
    spans and a request record, like a ``transaction`` item, and never an issue."""
    as_item = _transaction_payload(project)
    as_store = _transaction_payload(project)
    body = msgspec.json.encode(as_item)
    envelope = (msgspec.json.encode({"event_id": as_item["event_id"]}) + b"\n"
                + msgspec.json.encode({"type": "event", "length": len(body)}) + b"\n" + body)
    resp = await client.post(f"/api/{project.id}/envelope/", content=envelope,
                             headers=_auth(project))
    assert resp.status_code == 200 and resp.json() == {"id": as_item["event_id"]}
    resp = await client.post(f"/api/{project.id}/store/",
                             content=gzip.compress(msgspec.json.encode(as_store)),
                             headers=_auth(project, **{"Content-Encoding": "gzip",
                                                       "Content-Type": "application/json"}))
    assert resp.status_code == 200 and resp.json() == {"id": as_store["event_id"]}
    resp = await client.post(f"/api/{project.id}/envelope/", content=envelope,
                             headers=_auth(project))  # a retry stores nothing twice
    assert resp.status_code == 200
    assert await _count(services, tables.errors) == 0
    assert await _count(services, issues) == 0
    assert (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"] == []
    assert await _count(services, tables.spans) == 4  # root + db.query child, twice
    async with services.engine.connect() as conn:
        records = (await conn.execute(
            select(tables.request_records.c.trace_id, tables.request_records.c.method,
                   tables.request_records.c.route, tables.request_records.c.status)
            .order_by(tables.request_records.c.trace_id))).all()
    want = sorted((p["contexts"]["trace"]["trace_id"], "GET", "GET /orders/:id", 503)
                  for p in (as_item, as_store))
    assert [tuple(r) for r in records] == want
