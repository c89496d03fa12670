"""Large compressed bodies through the real ``lookout serve``, on SQLite and PostgreSQL.

Multi-megabyte ``br``, ``gzip`` and ``deflate`` bodies, random (incompressible)
and repetitive, just under and just over ``LOOKOUT_MAX_DECOMPRESSED_BYTES``
(and over ``LOOKOUT_MAX_BODY_BYTES`` on the wire), on every endpoint that
decodes bodies. Under the limits they must be accepted; over them, 413. (``br`` bodies over about 480 KB inflated used to be refused as
"truncated".) Also the raven-node ``/store/`` body: base64 of zlib-deflated
JSON without ``Content-Encoding``.
"""

from __future__ import annotations

import base64
import gzip
import os
import uuid
import zlib

import brotli
import httpx
import msgspec
import pytest

pytestmark = pytest.mark.e2e

LIMIT = 3 * 1024 * 1024  # decompressed; the wire limit stays above it
WIRE_LIMIT = 4 * 1024 * 1024
COMPRESS = {
    "br": lambda b: brotli.compress(b, quality=4),  # what sentry-sdk sends
    "gzip": gzip.compress,
    "deflate": zlib.compress,
}


def _filler(kind: str, size: int) -> bytes:
    """``size`` bytes of JSON-safe text: random (does not compress) or one letter repeated."""
    if kind == "random":
        return base64.b64encode(os.urandom(size))[:size]
    return b"x" * size


def _envelope(size: int, kind: str) -> bytes:
    data_len = size
    while True:  # the length header grows with the number it holds
        head = b'{}\n{"type":"attachment","length":%d}\n' % data_len
        if len(head) + data_len == size:
            return head + _filler(kind, data_len)
        data_len = size - len(head)


def _json_body(size: int, kind: str, wrap: tuple[bytes, bytes]) -> bytes:
    start, end = wrap
    body = start + _filler(kind, size - len(start) - len(end)) + end
    assert len(body) == size
    return body


def _store(size: int, kind: str) -> bytes:
    return _json_body(size, kind, (b'{"event_id":"' + uuid.uuid4().hex.encode() +
                                   b'","message":"big event","extra":{"blob":"', b'"}}'))


def _ingest(size: int, kind: str) -> bytes:
    return _json_body(size, kind, (b'{"logs":[{"message":"', b'"}]}'))


@pytest.fixture
def served(server_factory, db_url):
    server = server_factory(db_url=db_url, env={
        "LOOKOUT_MAX_DECOMPRESSED_BYTES": str(LIMIT), "LOOKOUT_MAX_BODY_BYTES": str(WIRE_LIMIT)})
    dsn = server.create_project("big")
    key = dsn.split("//", 1)[1].split("@", 1)[0]
    project_id = dsn.rsplit("/", 1)[1]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http, key, project_id


ENDPOINTS = {
    "envelope": (_envelope, "/api/{id}/envelope/", "X-Sentry-Auth", 200),
    "store": (_store, "/api/{id}/store/", "X-Sentry-Auth", 200),
    "ingest": (_ingest, "/api/{id}/ingest", "X-Lookout-Key", 202),
}


def _post(http: httpx.Client, key: str, project_id: str, endpoint: str, body: bytes,
          encoding: str) -> httpx.Response:
    _, path, header, _ = ENDPOINTS[endpoint]
    value = f"Sentry sentry_key={key}, sentry_version=7" if header == "X-Sentry-Auth" else key
    return http.post(path.format(id=project_id), content=COMPRESS[encoding](body),
                     headers={header: value, "Content-Encoding": encoding,
                              "Content-Type": "application/json"})


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_large_compressed_bodies_under_and_over_the_limit(served, endpoint):
    http, key, project_id = served
    build, _, _, ok = ENDPOINTS[endpoint]
    for encoding in COMPRESS:
        for kind in ("random", "repetitive"):
            under = _post(http, key, project_id, endpoint, build(LIMIT, kind), encoding)
            assert under.status_code == ok, (encoding, kind, under.text)
            over = _post(http, key, project_id, endpoint, build(LIMIT + 1, kind), encoding)
            assert over.status_code == 413, (encoding, kind, over.text)
            assert "limit" in over.json()["error"]
    # Over the wire limit (incompressible bytes): refused before anything is inflated.
    wire = os.urandom(WIRE_LIMIT + 1024)
    for encoding in COMPRESS:
        over = _post(http, key, project_id, endpoint, wire, encoding)
        assert over.status_code == 413, (encoding, over.text)
        assert f"the limit is {WIRE_LIMIT}" in over.json()["error"]
    # The server is still fine and small bodies still work.
    small = _post(http, key, project_id, endpoint, build(100_000, "random"), "br")
    assert small.status_code == ok, small.text


def test_brotli_attachment_from_the_issue(served):
    """The exact reproduction: a 600 KB attachment, br-compressed (was a 400)."""
    http, key, project_id = served
    body = b'{}\n{"type":"attachment","length":600000}\n' + b"x" * 600000
    resp = _post(http, key, project_id, "envelope", body, "br")
    assert resp.status_code == 200, resp.text


def _raven_node_body(event: dict) -> bytes:
    """What raven-node 2.x posts: ``zlib.deflate(JSON)`` then base64, no Content-Encoding."""
    return base64.b64encode(zlib.compress(msgspec.json.encode(event)))


def test_raven_node_base64_deflated_store_body(served):
    http, key, project_id = served
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "message": "raven-node says hi", "platform": "node",
             "level": "error"}
    resp = http.post(f"/api/{project_id}/store/", content=_raven_node_body(event),
                     headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, "
                                               "sentry_client=raven-node/2.6.4",
                              "Content-Type": "application/octet-stream"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"id": event_id}
    # Bounded like every other decode: a base64'd deflate bomb is a 413, not a hang.
    bomb = base64.b64encode(zlib.compress(b'{"message":"' + b"a" * (LIMIT + 10) + b'"}'))
    resp = http.post(f"/api/{project_id}/store/", content=bomb,
                     headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
    assert resp.status_code == 413, resp.text
    resp = http.post(f"/api/{project_id}/store/", content=b"not json, not base64!",
                     headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
    assert resp.status_code == 400 and "base64" in resp.json()["error"], resp.text
