"""Lookout's one OpenAPI document: ``GET /schema/openapi.json``.

Litestar's generated schema cannot describe Lookout's HTTP API: the ingest
endpoints are raw ASGI (:mod:`lookout.asgi`) that Litestar never sees, and the
read API parses its query parameters itself so that every error names the
parameter. So the document is written here, once, with the ingest body schemas
taken from the msgspec structs that validate it (:mod:`collector.schema`),
and a test checks that every API route the app serves is in it.

The document is served without authentication, like Litestar's default
``/schema``: it describes the open-source API, not anything stored.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
import yaml
from litestar import Response, get

from collector import schema as ingest_schema
from lookout import __version__
from rules.api import ALERT_STATES, SilenceIn

PATH = "/schema/openapi.json"
YAML_PATH = "/schema/openapi.yaml"
_REF = "#/components/schemas/{name}"
_KINDS = {"logs": "LogIn", "errors": "ErrorIn", "metrics": "MetricIn", "requests": "RequestIn"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(name=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, retry_after: bool = False) -> dict[str, Any]:
    out = _json(_ref("Error"), description)
    if retry_after:
        out["headers"] = {"Retry-After": {"description": "seconds to wait before retrying",
                                          "schema": {"type": "string"}}}
    return out


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_PROJECT_ID = _path_param("project_id", {"type": "integer", "minimum": 1,
                                         "maximum": 999_999_999_999})
_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                "page size (default 100)")
_CURSOR = _query("cursor", {"type": "string"}, "next_cursor of the previous page")
_LEVEL = {"type": "string", "enum": ["debug", "info", "warning", "error", "fatal"]}
_TIME = {"type": "string", "description": "epoch seconds, RFC 3339, or a duration ago (15m)"}
_OBJECT = {"type": "object"}
_PAGE = {"type": "object", "required": ["items", "next_cursor"],
         "properties": {"items": {"type": "array", "items": _OBJECT},
                        "next_cursor": {"type": ["string", "null"]}}}
_ITEMS = {"type": "object", "required": ["items"],
          "properties": {"items": {"type": "array", "items": _OBJECT}}}
_READ_ERRORS = {"401": _error("missing or unknown credentials"),
                "403": _error("session cookie without its X-CSRF-Token")}
_INGEST_ERRORS = {
    "400": _error("malformed body; the message names the problem"),
    "401": _error("missing, unknown or wrong project key"),
    "404": _error("the project id is not a number"),
    "413": _error("body or decompressed body over the limit"),
    "415": _error("unsupported Content-Type or Content-Encoding"),
    "429": _error("over the project's rate limit", retry_after=True),
    "503": _error("storage unavailable; retry later", retry_after=True),
}
_ENCODING = {"name": "Content-Encoding", "in": "header", "required": False,
             "schema": {"type": "string", "enum": ["identity", "gzip", "deflate", "br"]}}


def _ingest_operation() -> dict[str, Any]:
    return {
        "summary": "Store a Lookout SDK batch (logs, errors, metrics, request records)",
        "operationId": "ingest",
        "tags": ["ingest"],
        "security": [{"projectKey": []}],
        "parameters": [_PROJECT_ID, _ENCODING],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref("IngestBatch")}}},
        "responses": {
            "202": _json({"type": "object", "required": ["accepted", "rejected"], "properties": {
                "accepted": {"type": "integer", "minimum": 0},
                "rejected": {"type": "array", "items": _ref("Rejected")}}},
                "stored (accepted records are durable); bad records are listed"),
            **_INGEST_ERRORS},
    }


def _sentry_operation(name: str, summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": name,
        "tags": ["sentry"],
        "security": [{"sentryAuth": []}, {"sentryKey": []}],
        "parameters": [_PROJECT_ID, _ENCODING],
        "requestBody": {"required": True, "content": body},
        "responses": {
            "200": _json({"type": "object", "required": ["id"],
                          "properties": {"id": {"type": ["string", "null"]}}},
                         "stored; id is the event id"),
            **{k: v for k, v in _INGEST_ERRORS.items() if k != "415"},
            "415": _error("unsupported Content-Encoding")},
    }


_BINARY = {"type": "string", "format": "binary"}


def _otlp_operation(signal: str, request: str, with_project: bool) -> dict[str, Any]:
    """An OTLP/HTTP export (collector/otlp/routes.py; docs/otlp.md)."""
    return {
        "summary": f"OTLP/HTTP {signal} export (protobuf or OTLP JSON)"
                   + (" — where sentry-python's OTLPIntegration sends" if with_project else ""),
        "operationId": f"otlp{signal.title()}{'ForProject' if with_project else ''}",
        "tags": ["otlp"],
        "security": [{"projectKey": []}, {"projectBearer": []}, {"sentryAuth": []}],
        "parameters": [_PROJECT_ID, _ENCODING] if with_project else [_ENCODING],
        "requestBody": {"required": True, "content": {
            "application/x-protobuf": {"schema": _BINARY},
            "application/json": {"schema": {
                "type": "object", "description": f"an {request} in OTLP JSON (hex ids)"}}}},
        "responses": {
            "200": {"description": "stored; the Export*ServiceResponse in the request's format, "
                                   "with partial_success when some items were rejected",
                    "content": {"application/x-protobuf": {"schema": _BINARY},
                                "application/json": {"schema": _OBJECT}}},
            **_INGEST_ERRORS,
            "429": _error("the write queue is full; retry later", retry_after=True)},
    }


def _otlp_paths() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for signal, request in (("logs", "ExportLogsServiceRequest"),
                            ("traces", "ExportTraceServiceRequest"),
                            ("metrics", "ExportMetricsServiceRequest")):
        out[f"/v1/{signal}/"] = {"post": _otlp_operation(signal, request, False)}
        out[f"/api/{{project_id}}/integration/otlp/v1/{signal}/"] = {
            "post": _otlp_operation(signal, request, True)}
    return out


def _read(summary: str, operation_id: str, ok: dict[str, Any], *,
          parameters: list[dict[str, Any]] | None = None, not_found: bool = False,
          body: dict[str, Any] | None = None, status: str = "200",
          expensive: bool = False) -> dict[str, Any]:
    # Any parameter (even an undeclared one) holding NUL is a 400: lookout.http.
    responses: dict[str, Any] = {status: _json(ok, "OK"), **_READ_ERRORS,
                                 "400": _error("a parameter is invalid; the message names it")}
    if not_found:
        responses["404"] = _error("not found")
    if expensive:
        responses["422"] = _error("the search ran past LOOKOUT_SEARCH_TIME_BUDGET; narrow the "
                                  "time range or add filters")
    op: dict[str, Any] = {"summary": summary, "operationId": operation_id, "tags": ["read"],
                          "security": [{"bearer": []}, {"session": []}],
                          "parameters": parameters or [], "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


def _paths() -> dict[str, Any]:
    issue_id = _path_param("issue_id", {"type": "integer", "minimum": 1})
    alert_id = _path_param("alert_id", {"type": "integer", "minimum": 1})
    actor = {"type": "object", "properties": {"by": {"type": "string", "minLength": 1,
                                                     "maxLength": 100}}}
    alert_action = _json({"type": "object", "required": ["result", "message", "alert"],
                          "properties": {"result": {"type": "string"},
                                         "message": {"type": "string"},
                                         "alert": {"type": ["object", "null"]}}}, "OK")
    text = {"type": "string", "maxLength": 200}
    return {
        "/api/{project_id}/ingest": {"post": _ingest_operation()},
        "/api/{project_id}/envelope/": {"post": _sentry_operation(
            "sentryEnvelope", "Store a Sentry envelope (what current Sentry SDKs send)",
            {"application/x-sentry-envelope": {"schema": {"type": "string",
                                                          "format": "binary"}}})},
        "/api/{project_id}/store/": {"post": _sentry_operation(
            "sentryStore", "Store one Sentry event as JSON (legacy Sentry SDKs)",
            {"application/json": {"schema": {
                "type": "object", "description": "a Sentry event (fields as Sentry documents)"}}})},
        **_otlp_paths(),
        "/api/v1/requests/{request_id}": {"get": _read(
            "Every record with this request ID (or trace ID), oldest first, and the span "
            "waterfall of its trace when it has spans", "requestTimeline",
            {"type": "object", "required": ["request_id", "items"],
             "properties": {"request_id": {"type": "string"},
                            "trace_id": {"type": ["string", "null"]},
                            "items": {"type": "array", "items": _OBJECT},
                            "waterfall": {
                                "type": "object",
                                "required": ["spans", "total", "shown", "not_shown"],
                                "properties": {
                                    "spans": {"type": "array", "items": _OBJECT},
                                    "total": {"type": "integer"}, "shown": {"type": "integer"},
                                    "not_shown": {"type": "integer"}}}}},
            parameters=[_path_param("request_id", {"type": "string"})], not_found=True)},
        "/api/v1/logs": {"get": _read("Search logs, newest first", "searchLogs", _PAGE, parameters=[
            _query("q", {"type": "string"}, "the search box language (docs: Search)"),
            _query("level", _LEVEL, "minimum level"),
            _query("service", text, "exact service"),
            _query("environment", text, "exact environment"),
            _query("logger", text, "exact logger"),
            _query("request_id", text, "exact request ID"),
            _query("since", _TIME, "oldest time"), _query("until", _TIME, "newest time"),
            _LIMIT, _CURSOR], expensive=True)},
        "/api/v1/issues": {"get": _read("Issues, most recently seen first", "listIssues", _PAGE,
                                        parameters=[
            _query("status", {"type": "string", "enum": ["unresolved", "resolved", "ignored"]},
                   "only issues in this state"),
            _query("q", {"type": "string"}, "text in the title"),
            _query("project", {"type": "string", "pattern": "^[0-9]{1,12}$"}, "a project id"),
            _LIMIT, _CURSOR])},
        "/api/v1/issues/{issue_id}": {"get": _read(
            "One issue with its latest event", "getIssue", _OBJECT, parameters=[issue_id],
            not_found=True)},
        "/api/v1/issues/{issue_id}/events": {"get": _read(
            "An issue's events, newest first", "issueEvents", _PAGE, not_found=True,
            parameters=[issue_id, _query("limit", {"type": "integer", "minimum": 1,
                                                   "maximum": 500}, "page size (default 50)"),
                        _CURSOR])},
        "/api/v1/issues/{issue_id}/{action}": {"post": _read(
            "Resolve, ignore or reopen an issue", "changeIssue", _OBJECT, not_found=True,
            parameters=[issue_id, _path_param(
                "action", {"type": "string", "enum": ["resolve", "ignore", "reopen"]})])},
        "/api/v1/rules": {"get": _read(
            "Rules with their current state", "listRules",
            {"type": "object", "required": ["rules"],
             "properties": {"source": {"type": ["string", "null"]},
                            "rules": {"type": "array", "items": _OBJECT}}})},
        "/api/v1/alerts": {"get": _read("Alerts, newest first", "listAlerts", _ITEMS, parameters=[
            _query("state", {"type": "string", "enum": list(ALERT_STATES)}, "only this state"),
            _LIMIT])},
        "/api/v1/alerts/{alert_id}": {"get": _read(
            "One alert with its history", "getAlert", _OBJECT, parameters=[alert_id],
            not_found=True)},
        "/api/v1/alerts/{alert_id}/ack": {"post": {**_read(
            "Acknowledge an alert", "ackAlert", _OBJECT, parameters=[alert_id],
            not_found=True, body=actor), "responses": {
                "200": alert_action, **_READ_ERRORS, "400": _error("invalid body"),
                "404": _error("no such alert")}}},
        "/api/v1/alerts/{alert_id}/resolve": {"post": {**_read(
            "Resolve an alert", "resolveAlert", _OBJECT, parameters=[alert_id],
            not_found=True, body=actor), "responses": {
                "200": alert_action, **_READ_ERRORS, "400": _error("invalid body"),
                "404": _error("no such alert")}}},
        "/api/v1/silences": {
            "get": _read("Active silences (all with expired=true)", "listSilences", _ITEMS,
                         parameters=[_query("expired", {"type": "string",
                                                        "enum": ["1", "true", "yes"]},
                                            "include expired silences")]),
            "post": {**_read("Create a silence", "createSilence", _OBJECT, status="201",
                             body=_ref("SilenceIn")),
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": _ref("SilenceIn")}}}}},
        "/api/v1/silences/{silence_id}/expire": {"post": _read(
            "End a silence now", "expireSilence",
            {"type": "object", "required": ["result", "silence"],
             "properties": {"result": {"type": "string"}, "silence": _OBJECT}},
            parameters=[_path_param("silence_id", {"type": "integer", "minimum": 1})],
            not_found=True)},
        "/healthz": {"get": {"summary": "The process is alive", "operationId": "healthz",
                             "tags": ["operations"], "security": [],
                             "responses": {"200": _json(_OBJECT, "alive")}}},
        "/readyz": {"get": {"summary": "The database answers", "operationId": "readyz",
                            "tags": ["operations"], "security": [],
                            "responses": {"200": _json(_OBJECT, "ready"),
                                          "503": _error("database unreachable", True)}}},
    }


def _components() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        [ingest_schema.IngestBatch, *(getattr(ingest_schema, n) for n in _KINDS.values()),
         SilenceIn], ref_template=_REF)
    batch = schemas["IngestBatch"]["properties"]
    for field, name in _KINDS.items():
        # The struct keeps records undecoded (msgspec.Raw) so that one bad record does
        # not fail the batch; the document says what each record must be.
        batch[field] = {"type": "array", "items": _ref(name), "default": []}
    schemas["Error"] = {"type": "object", "required": ["error"],
                        "properties": {"error": {"type": "string", "minLength": 1}}}
    schemas["Rejected"] = {"type": "object", "required": ["kind", "index", "error"],
                           "properties": {"kind": {"type": "string"},
                                          "index": {"type": ["integer", "null"]},
                                          "error": {"type": "string"}}}
    return {
        "schemas": schemas,
        "securitySchemes": {
            "projectKey": {"type": "apiKey", "in": "header", "name": "X-Lookout-Key",
                           "description": "the public key of the project's DSN"},
            "sentryAuth": {"type": "apiKey", "in": "header", "name": "X-Sentry-Auth",
                           "description": "Sentry sentry_key=<DSN key>, sentry_version=7"},
            "sentryKey": {"type": "apiKey", "in": "query", "name": "sentry_key"},
            "projectBearer": {"type": "http", "scheme": "bearer",
                              "description": "the project's DSN key (OTLP exporters)"},
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "an API token from `lookout token create`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "lookout_session",
                        "description": "a UI login; unsafe methods also need X-CSRF-Token"},
        },
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per process)."""
    return {"openapi": "3.1.0",
            "info": {"title": "Lookout", "version": __version__,
                     "description": "Ingest (Lookout SDK, Sentry protocol, OTLP/HTTP) and read API."},
            "paths": _paths(), "components": _components()}


@cache
def _encoded(fmt: str) -> bytes:
    if fmt == "yaml":
        return yaml.safe_dump(document(), sort_keys=False, allow_unicode=True).encode()
    return msgspec.json.encode(document())


@get(PATH, sync_to_thread=False, include_in_schema=False)
def openapi_json() -> Response:
    """The document; no credentials needed (it describes the API, not any data)."""
    return Response(content=_encoded("json"), media_type="application/json")


@get(YAML_PATH, sync_to_thread=False, include_in_schema=False)
def openapi_yaml() -> Response:
    """The same document as YAML."""
    return Response(content=_encoded("yaml"), media_type="application/yaml")


routes = [openapi_json, openapi_yaml]
