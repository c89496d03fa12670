"""The corpus of nasty inputs (tests/data/corpus) against the real app, on both databases.

Each case goes to its real endpoint over HTTP (the app in-process over ASGI)
and must get its expected 2xx/4xx with a JSON body naming the problem: never a
5xx. The server must stay healthy afterwards. Bombs and huge bodies are built
here from small recipes instead of being committed.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import httpx
import msgspec
import pytest
import yaml

from lookout.settings import Settings

CORPUS = Path(__file__).parent.parent / "data" / "corpus"
CASES: list[dict[str, Any]] = yaml.safe_load((CORPUS / "cases.yaml").read_text())
MB = 1024 * 1024
BODY_LIMIT = 8 * MB  # both the wire and the decompressed limit in these tests
BOMB_SIZE = 64 * MB  # what a bomb would inflate to


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret", max_body_bytes=BODY_LIMIT,
                    max_decompressed_bytes=BODY_LIMIT, slack_signing_secret="corpus-secret")


def _stream(compressor: Any, size: int) -> bytes:
    """Compress ``size`` zero bytes without ever holding them (1 MB at a time)."""
    zeros = bytes(MB)
    out = [compressor.compress(zeros) for _ in range(size // MB)]
    return b"".join(out) + compressor.flush()


class _Brotli:
    def __init__(self) -> None:
        self._c = brotli.Compressor(quality=1)

    def compress(self, data: bytes) -> bytes:
        return self._c.process(data)

    def flush(self) -> bytes:
        return self._c.finish()


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def _log_batch(**log: Any) -> bytes:
    return msgspec.json.encode({"logs": [{"message": "x", **log}]})


RECIPES: dict[str, Callable[[], bytes]] = {
    "gzip_bomb": lambda: _stream(zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS),
                                 BOMB_SIZE),
    "gzip_members_bomb": lambda: gzip.compress(bytes(MB)) * (BOMB_SIZE // MB),
    "deflate_bomb": lambda: _stream(zlib.compressobj(9), BOMB_SIZE),
    "br_bomb": lambda: _stream(_Brotli(), BOMB_SIZE),
    "store_base64_bomb": lambda: base64.b64encode(_stream(zlib.compressobj(9), BOMB_SIZE)),
    "br_large_attachment": lambda: brotli.compress(
        b'{}\n{"type":"attachment","length":600000}\n' + b"x" * 600_000, quality=4),
    "huge_body": lambda: b" " * (BODY_LIMIT + 1) + b"{}",
    "deep_json": lambda: b'{"logs": ' + _deep(100_000) + b"}",
    "deep_attribute": lambda: (b'{"logs": [{"message": "x", "attributes": {"a": '
                               + _deep(100_000) + b"}}]}"),
    "deep_attribute_900": lambda: (b'{"logs": [{"message": "x", "request_id": "deep-900", '
                                   b'"attributes": {"a": ' + _deep(900) + b"}}]}"),
    # Near the decoder's limit: such data was stored, then a 500 when read back.
    "deep_vars_940": lambda: (b'{"errors": [{"message": "x", "request_id": "deep-940", '
                              b'"exception": [{"type": "T", "frames": [{"vars": {"a": '
                              + _deep(940) + b"}}]}]}]}"),
    "deep_envelope_940": lambda: (b'{}\n{"type":"event"}\n{"extra": {"a": ' + _deep(940)
                                  + b"}}\n"),
    "megabyte_strings": lambda: msgspec.json.encode({
        "logs": [{"message": "m" * MB, "attributes": {"a": "v" * MB}}],
        "errors": [{"exception": [{"type": "E", "value": "x" * MB}]}]}),
    # Nested values escaped the size limits: stored whole, then rendered by every page.
    "huge_list_attribute": lambda: gzip.compress(
        b'{"logs": [{"message": "x", "attributes": {"big": [' + b"0," * 3_999_999 + b"0]}}]}"),
    "wide_nested": lambda: msgspec.json.encode({"logs": [{"message": "x", "attributes": {
        "grid": [[list(range(300))] * 300] * 3}}], "errors": [{"exception": [{"type": "E", "frames": [
            {"function": "f", "vars": {"grid": [[list(range(300))] * 30] * 3}}] * 20}]}]}),
    "huge_sentry_event": lambda: msgspec.json.encode({
        "message": "big", "contexts": {"app": {"l": list(range(100_000))}},
        "breadcrumbs": [{"message": "c", "data": {"l": list(range(1_000))}}] * 100,
        "extra": {f"k{i}": list(range(1_000)) for i in range(64)},
        "exception": {"values": [{"type": "E", "stacktrace": {"frames": [
            {"function": "f", "vars": {"l": list(range(2_000))}}] * 100}}]}}),
    "too_many_records": lambda: msgspec.json.encode({"logs": [{"message": "x"}] * 10_001}),
    "empty": lambda: b"",
    # Each made-up kind was once a Prometheus series, kept until restart.
    "dropped_key_flood": lambda: msgspec.json.encode({
        "logs": [{"message": "x"}], "dropped": {f"kind-{i}": 1 for i in range(10_000)}}),
    "deep_envelope": lambda: b'{}\n{"type":"event"}\n{"extra": ' + _deep(100_000) + b"}\n",
    "otlp_blank_stacktrace": lambda: msgspec.json.encode({"resourceSpans": [{"scopeSpans": [{
        "spans": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
                   "name": "x", "events": [{"name": "exception", "attributes": [
                       {"key": "exception.stacktrace",
                        "value": {"stringValue": "\n" * 500_000}}]}]}]}]}]}),
    "otlp_deep_json": lambda: b'{"resourceLogs": ' + _deep(100_000) + b"}",
    "many_items_envelope": lambda: b"{}\n" + b'{"type":"attachment","length":0}\n\n' * 1001,
    # For a GET case the recipe makes the path.
    "long_search": lambda: b"/api/v1/logs?q=" + b"a%25" * 15_000,  # httpx caps URLs at 64 KB
    # Almost matches messages made of runs of a's: LIKE compares ~all of it at every position.
    "near_miss_search": lambda: b"/api/v1/logs?q=" + b"a" * 997 + b"b",

    # One request naming 600 made-up services (each a would-be alert group: rules/groups.py).
    "service_flood": lambda: msgspec.json.encode({"logs": [
        {"message": "boom", "level": "error", "service": f"made-up-{i:03d}"}
        for i in range(600)]}),
}


def _id(case: dict[str, Any]) -> str:
    return case["name"]


async def _send(client: httpx.AsyncClient, case: dict[str, Any], project, token: str,
                body: bytes) -> httpx.Response:
    headers = {str(k): str(v) for k, v in (case.get("headers") or {}).items()}
    target = case["to"]
    if target == "get":
        path = case.get("path") or body.decode()
        return await client.get(path, headers={"Authorization": f"Bearer {token}"})
    if target == "post":  # a read-API action (silences) with a JSON body
        return await client.post(case["path"], content=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", **headers})
    if target == "slack":
        return await client.post("/slack/interactions", content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **headers})
    project_id = case.get("project", project.id)
    query = f"?{case['query']}" if case.get("query") else ""
    if target.startswith("otlp-"):
        url = f"/v1/{target[5:]}"
        headers = {"Authorization": f"Bearer {project.public_key}",
                   "Content-Type": "application/x-protobuf", **headers}
    elif target == "ingest":
        url = f"/api/{project_id}/ingest"
        headers = {"X-Lookout-Key": project.public_key, "Content-Type": "application/json",
                   **headers}
    else:
        url = f"/api/{project_id}/{target}/"
        if case.get("auth") != "none":
            headers = {"X-Sentry-Auth": f"Sentry sentry_key={project.public_key}", **headers}
    return await client.post(url + query, content=body, headers=headers)


def _body(case: dict[str, Any]) -> bytes:
    if "recipe" in case:
        return RECIPES[case["recipe"]]()
    if "file" in case:
        return (CORPUS / case["file"]).read_bytes()
    return b""


def test_corpus_is_small_and_complete():
    files = {p.name for p in CORPUS.iterdir()} - {"cases.yaml"}
    used = {case["file"] for case in CASES if "file" in case}
    assert files == used, files ^ used
    assert sum((CORPUS / f).stat().st_size for f in files) < 200_000
    assert {case["recipe"] for case in CASES if "recipe" in case} <= set(RECIPES)
    assert len({case["name"] for case in CASES}) == len(CASES)


async def test_each_case_gets_its_answer(client, project, api_token):
    failures = []
    for case in CASES:
        resp = await _send(client, case, project, api_token, _body(case))
        problem = None
        if resp.status_code not in case["status"]:
            problem = f"status {resp.status_code}, wanted {case['status']}"
        elif not resp.headers.get("content-type", "").startswith("application/json"):
            problem = f"content type {resp.headers.get('content-type')!r}"
        elif resp.status_code >= 400 and not resp.json().get("error"):
            problem = "4xx without an error message"
        elif case.get("expect") and case["expect"] not in resp.text:
            problem = f"{case['expect']!r} not in the answer"
        injected = [k for k, _ in resp.headers.multi_items() if k in ("set-cookie", "x-injected")]
        if injected:
            problem = f"header injected: {injected}"
        if problem:
            failures.append(f"{case['name']}: {problem}: {resp.text[:300]}")
    # Nothing too deep to read back was stored; the server is still healthy.
    for request_id in ("deep-900", "deep-940"):
        timeline = await client.get(f"/api/v1/requests/{request_id}",
                                    headers={"Authorization": f"Bearer {api_token}"})
        assert timeline.status_code == 404, timeline.text[:300]
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
    assert not failures, "\n".join(failures)


SEARCH_MESSAGES = ["100% done", "100 percent done", "a_b", "aXb", "back\\slash", "backslash",
                   "it's", "its", 'say "hi"', "say hi", "drop;-- table", "drop table",
                   "50%_off\\now", "50%Xoff/now"]
SEARCH_CASES = [("%", {"100% done", "50%_off\\now", "50%Xoff/now"}),
                ("100%", {"100% done"}),
                ("_", {"a_b", "50%_off\\now"}),
                ("a_b", {"a_b"}),
                ("\\", {"back\\slash", "50%_off\\now"}),
                ("back\\slash", {"back\\slash"}),
                ("'", {"it's"}),
                ('"hi"', {'say "hi"'}),
                (";--", {"drop;-- table"}),
                ("%_off\\", {"50%_off\\now"})]


@pytest.mark.parametrize(("q", "expected"), SEARCH_CASES, ids=[q for q, _ in SEARCH_CASES])
async def test_search_metacharacters_match_literally(client, project, api_token, q, expected):
    body = msgspec.json.encode({"logs": [{"message": m} for m in SEARCH_MESSAGES]})
    resp = await client.post(f"/api/{project.id}/ingest", content=body,
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text
    auth = {"Authorization": f"Bearer {api_token}"}
    found = await client.get("/api/v1/logs", params={"q": q}, headers=auth)
    assert found.status_code == 200, found.text
    assert {item["message"] for item in found.json()["items"]} == expected
    errors = msgspec.json.encode({"errors": [{"message": m} for m in SEARCH_MESSAGES]})
    resp = await client.post(f"/api/{project.id}/ingest", content=errors,
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text
    issues = await client.get("/api/v1/issues", params={"q": q}, headers=auth)
    assert issues.status_code == 200, issues.text
    assert {item["title"] for item in issues.json()["items"]} == expected

