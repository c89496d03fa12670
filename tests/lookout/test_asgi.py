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
        options = await client.options(path)
        assert options.status_code == 204
        assert options.headers["allow"] == "POST, OPTIONS"


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
        assert (await http.post("/other")).status_code == 418
