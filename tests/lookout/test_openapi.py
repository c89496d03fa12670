"""The OpenAPI document: served without credentials, valid, and covering every API route."""

from __future__ import annotations

import re

import schemathesis
import yaml
from litestar import Litestar

from lookout.app import create_app
from lookout.openapi import PATH, YAML_PATH, document


def _api_routes(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every JSON API route the app serves (not HTML pages or /slack)."""
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        if not path.startswith("/api/"):
            continue
        for method in getattr(route, "methods", ()):
            if method not in ("HEAD", "OPTIONS"):
                out.add((method.lower(), path))
    return out


def test_every_api_route_is_documented(services):
    app = create_app(services=services, background_jobs=False)
    documented = {(m, p) for p, ops in document()["paths"].items() for m in ops}
    assert _api_routes(app.app) <= documented, _api_routes(app.app) - documented
    raw = {(("post"), pattern.pattern.replace("([^/]+)", "{project_id}").replace("/?", "/")
            .replace("()", ""))
           for pattern, _ in app.routes}
    assert raw and raw <= documented, raw - documented


def test_document_loads_and_names_auth_schemes():
    schema = schemathesis.openapi.from_dict(document())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 25
    by_label = {op.label: op for op in operations}
    ingest = by_label["POST /api/{project_id}/ingest"].definition.raw
    assert ingest["security"] == [{"projectKey": []}]
    assert document()["components"]["schemas"]["IngestBatch"]["properties"]["logs"]["items"] \
        == {"$ref": "#/components/schemas/LogIn"}
    assert by_label["GET /api/v1/logs"].definition.raw["security"] == [{"bearer": []},
                                                                       {"session": []}]


async def test_served_without_credentials(client):
    resp = await client.get(PATH)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["paths"]["/api/{project_id}/ingest"]["post"]["operationId"] == "ingest"
    as_yaml = await client.get(YAML_PATH)
    assert as_yaml.status_code == 200 and yaml.safe_load(as_yaml.text) == resp.json()
    # Litestar's own (incomplete) generated schema is not served alongside.
    assert (await client.get("/schema")).status_code == 404
