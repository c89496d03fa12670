"""lookout.asgi.FastPaths: the raw ingest handlers in front of the Litestar app."""

from __future__ import annotations

import re

import httpx

from lookout.asgi import FastPaths, Reply


async def test_other_methods_on_ingest_paths_answer_like_litestar(client, project):
    for path in (f"/api/{project.id}/envelope/", f"/api/{project.id}/store",
                 f"/api/{project.id}/ingest"):
        resp = await client.get(path)
        assert resp.status_code == 405, path
        assert resp.json() == {"error": "Method Not Allowed"}
        assert resp.headers["allow"] == "POST, OPTIONS"
        assert resp.headers["access-control-allow-origin"] == "*"
        options = await client.options(path)
        assert options.status_code == 204
        assert options.headers["allow"] == "POST, OPTIONS"


async def test_cors_preflight_allows_any_origin_to_post_with_the_sdk_headers(client, project):
    asked = ["content-type", "x-sentry-auth", "sentry-trace", "baggage", "content-encoding",
             "x-lookout-key"]
    for path in (f"/api/{project.id}/envelope/", f"/api/{project.id}/store/",
                 f"/api/{project.id}/ingest"):
        resp = await client.options(path, headers={
            "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ", ".join(asked)})
        assert resp.status_code == 204, path
        assert resp.content == b""
        assert resp.headers["access-control-allow-origin"] == "*"
        assert "POST" in resp.headers["access-control-allow-methods"].split(", ")
        allowed = resp.headers["access-control-allow-headers"].split(", ")
        assert set(asked) <= set(allowed), set(asked) - set(allowed)
        assert int(resp.headers["access-control-max-age"]) > 0


async def test_every_ingest_answer_carries_cors_headers(client, project):
    origin = {"Origin": "https://shop.example"}
    envelope = b'{}\n{"type":"event"}\n{"message":"from a browser"}\n'
    answers = [
        await client.post(f"/api/{project.id}/envelope/?sentry_key={project.public_key}",
                          content=envelope, headers=origin),
        await client.post(f"/api/{project.id}/envelope/", content=envelope, headers=origin),
        await client.post(f"/api/{project.id}/store/?sentry_key={project.public_key}",
                          content=b"not json", headers=origin),
        await client.post(f"/api/{project.id}/ingest", json={"logs": []},
                          headers={**origin, "X-Lookout-Key": project.public_key}),
    ]
    assert [a.status_code for a in answers] == [200, 401, 400, 202]
    for answer in answers:
        assert answer.headers["access-control-allow-origin"] == "*"
        exposed = answer.headers["access-control-expose-headers"].lower().split(", ")
        assert {"x-sentry-rate-limits", "retry-after"} <= set(exposed)


async def test_other_paths_reach_litestar(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    missing = await client.post("/api/1/envelope/extra")
    assert missing.status_code == 404
    assert "error" in missing.json()


async def test_a_crashing_handler_gets_a_json_500_and_the_app_keeps_serving(services):
    calls: list[str] = []

    async def crashes(_svc, project_id, _scope, _receive) -> Reply:
        calls.append(project_id)
        raise RuntimeError("bug")

    async def fine(_svc, project_id, _scope, _receive) -> Reply:
        return Reply(202, {"project": project_id}, {"X-Extra": "1"})

    async def fallback(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = FastPaths(fallback, services, [(re.compile(r"/crash/([^/]+)"), crashes),
                                         (re.compile(r"/fine/([^/]+)"), fine)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        crashed = await http.post("/crash/7")
        assert crashed.status_code == 500
        assert crashed.json() == {"error": "internal error; see the server log"}
        assert calls == ["7"]
        ok = await http.post("/fine/9")
        assert (ok.status_code, ok.json(), ok.headers["x-extra"]) == (202, {"project": "9"}, "1")
        assert ok.headers["content-type"] == "application/json"
        assert crashed.headers["access-control-allow-origin"] == "*"
        assert (await http.post("/other")).status_code == 418
