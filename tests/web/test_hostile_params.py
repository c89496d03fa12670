"""Every UI page and API route, walked with hostile parameter values: never a 5xx.

The routes come from the app itself, so a new route is walked without anyone
remembering to add it. Each path parameter gets huge, negative and odd values;
each query parameter the route's module reads gets NaN, infinities, far dates,
odd offsets, huge numbers. Once ``/alerts/99999999999999999999``,
``/search?range=custom&from=nan`` and ``/?range=custom&from=nan&to=nan``
answered 500. The database holds records, so pages render charts and lists
rather than the getting-started page.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from lookout.app import create_app
from lookout.projects import Project
from lookout.services import Services
from lookout.settings import Settings
from tests.web.conftest import csrf_from, ingest, login

HUGE = "99999999999999999999"
VALUES = [HUGE, "-" + HUGE, "9223372036854775808", "-1", "0", "nan", "NaN", "inf", "-inf",
          "1e308", "1e999", "-1e999", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
          "0001-01-01", "9999-12-31T23:59:59.999999", "2026-13-45T25:61:61",
          "999999999999999999w", "1e400d", "custom", "", " ", "../../etc/passwd", "%ff%fe",
          "' OR 1=1 --", "<script>x</script>", "\u202e\ufeff", "x" * 3000]
# Each query parameter alone gets these; all of them at once get every value.
PER_NAME = [HUGE, "-1", "nan", "-inf", "1e999", "0001-01-01T00:00:00+23:59", "x" * 3000]
# Read through helpers rather than literally in the route's module.
COMMON_QUERY = {"range", "from", "to"}
SKIP = {"/logout", "/logout/everywhere"}  # would end the walking client's session
RULES = """
rules:
  - name: checkout-errors
    kind: error_rate
    window: 1m
    for: 0s
    thresholds: {critical: 0.05}
"""


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    return Settings(database_url=db_url, secret_key="test-secret", rules_file=str(rules))


def _query_names(route_handler: object) -> set[str]:
    """Query parameters the handler's module reads (``p.get("since")`` and the like)."""
    fn = getattr(route_handler, "fn", None)
    module = inspect.getmodule(fn) if fn else None
    source = inspect.getsource(module) if module else ""
    return set(re.findall(r"""(?:query_params|\bp)\.get\(["'](\w+)["']""", source)) | COMMON_QUERY


def walk(services: Services) -> Iterator[tuple[str, str]]:
    """(method, url) pairs: every route with hostile path and query values."""
    fast = create_app(services=services, background_jobs=False)
    for value in VALUES:  # the raw ingest endpoints in front of Litestar
        for pattern, _handler in fast.routes:
            yield "POST", pattern.pattern.replace("([^/]+)", quote(value or "x", safe=""), 1
                                                  ).replace("/?", "/")
    app = fast.app
    for route in app.routes:
        if route.path in SKIP or route.path.startswith("/static"):
            continue
        for method in sorted(set(route.methods) - {"OPTIONS", "HEAD"}):
            handler = route.route_handler_map[method][0]
            names = sorted(_query_names(handler))
            fmt = route.path_format
            params = list(route.path_parameters)
            path_values = VALUES if params else [""]
            for value in path_values:
                path = fmt
                for name in params:
                    segment = quote(value or "x", safe="")
                    path = path.replace("{" + name + "}", segment)
                yield method, path
            plain = fmt
            for name in params:
                plain = plain.replace("{" + name + "}", "1")
            for value in VALUES:
                yield method, plain + "?" + urlencode({n: value for n in names})
                yield method, plain + "?" + urlencode({"range": "custom", "from": value,
                                                       "to": value})
            for value in PER_NAME:
                for name in names:
                    yield method, plain + "?" + urlencode({name: value})


def _records(now: float) -> dict:
    return {
        "resource": {"service": "checkout"},
        "logs": [{"ts": now - i, "level": "error", "message": f"failed {i}",
                  "request_id": f"tenant/7/req-{i}"} for i in range(5)],
        "errors": [{"ts": now - 1, "exception": [{"type": "ValueError", "value": "bad"}]}],
        "requests": [{"ts": now - i, "request_id": f"tenant/7/req-{i}", "method": "GET",
                      "route": "/pay", "status": 500 if i % 2 else 200, "duration_ms": 12.5}
                     for i in range(5)],
    }


async def test_no_route_answers_5xx_to_hostile_parameters(client, services, user,
                                                          project: Project, auth_headers):
    await ingest(client, project, _records(time.time()))
    assert (await login(client)).status_code == 303
    csrf = csrf_from((await client.get("/")).text)
    failures: list[str] = []
    seen = 0
    for method, url in walk(services):
        if method == "GET":
            resp = await client.get(url, headers=auth_headers if url.startswith("/api/") else {})
        else:  # pages need the form's CSRF token, the API a Bearer token
            resp = await client.request(method, url, data={"_csrf": csrf},
                                        headers=auth_headers if url.startswith("/api/") else {})
        seen += 1
        if resp.status_code >= 500:
            failures.append(f"{resp.status_code} {method} {url[:200]}")
    assert seen > 1000
    assert not failures, "\n".join(failures[:40])
    # The session survived the walk, and the named cases answer what they should.
    assert (await client.get("/")).status_code == 200
    assert (await client.get("/alerts/" + HUGE)).status_code == 404
    for url in ("/search?range=custom&from=nan", "/?range=custom&from=nan&to=nan",
                "/?range=custom&from=" + quote("0001-01-01T00:00:00+23:59")):
        resp = await client.get(url)
        assert resp.status_code == 400 and "between 1970 and 9999" in resp.text, url
    expire = await client.post(f"/silences/{HUGE}/expire", data={"_csrf": csrf})
    assert expire.status_code == 404


async def test_request_ids_with_slashes_have_a_timeline(client, ui, project: Project,
                                                        auth_headers):
    await ingest(client, project, _records(time.time()))
    search = await ui.get("/search?q=failed")
    assert search.status_code == 200
    link = "/requests/" + quote("tenant/7/req-1", safe="")
    assert f'href="{link}"' in search.text  # the link encodes the "/"
    for url in (link, "/requests/tenant/7/req-1"):
        page = await ui.get(url)
        assert page.status_code == 200 and "failed 1" in page.text, url
    api = await ui.get("/api/v1/requests/tenant/7/req-1", headers=auth_headers)
    assert api.status_code == 200 and api.json()["request_id"] == "tenant/7/req-1"
    assert {item["kind"] for item in api.json()["items"]} == {"log", "request"}
    found = await ui.get("/search?q=tenant/7/req-2", follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == "/requests/" + quote("tenant/7/req-2", safe="")
