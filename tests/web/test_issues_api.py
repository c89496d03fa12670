"""The issues read/write API through the real app (both databases)."""

from __future__ import annotations

import uuid

import msgspec


async def _send(client, project, errors: list[dict]) -> None:
    resp = await client.post(f"/api/{project.id}/ingest",
                             content=msgspec.json.encode({"errors": errors}),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text


def _exc(type_: str, value: str, function: str) -> dict:
    return {"event_id": uuid.uuid4().hex, "service": "api", "request_id": "req-9",
            "exception": [{"type": type_, "value": value, "frames": [
                {"module": "api.handlers", "function": function, "context_line": "do()",
                 "lineno": 7, "in_app": True}]}]}


async def test_list_filter_detail_and_status_changes(client, project, auth_headers):
    await _send(client, project, [_exc("TimeoutError", "db slow", "orders"),
                                  _exc("KeyError", "'sku'", "cart"),
                                  {"message": "quota at 91%", "level": "warning"}])
    api = "/api/v1/issues"
    items = (await client.get(api, headers=auth_headers)).json()["items"]
    assert len(items) == 3
    found = (await client.get(api, params={"q": "timeout"}, headers=auth_headers)).json()
    assert [i["title"] for i in found["items"]] == ["TimeoutError: db slow"]
    by_culprit = (await client.get(api, params={"q": "in cart"}, headers=auth_headers)).json()
    assert [i["culprit"] for i in by_culprit["items"]] == ["api.handlers in cart"]

    issue_id = found["items"][0]["id"]
    detail = (await client.get(f"{api}/{issue_id}", headers=auth_headers)).json()
    assert detail["grouping"] == {"method": "in_app_frames", "inputs": {
        "type": "TimeoutError", "frames": ["api.handlers | orders | do()"]}}
    event = detail["latest_event"]
    assert event["request_id"] == "req-9" and event["issue_id"] == issue_id
    assert event["exception"][0]["frames"][0]["function"] == "orders"
    assert detail["tags"]["service"][0] == {**detail["tags"]["service"][0], "value": "api",
                                            "count": 1}

    events = (await client.get(f"{api}/{issue_id}/events", headers=auth_headers)).json()
    assert [e["event_id"] for e in events["items"]] == [event["event_id"]]
    assert events["next_cursor"] is None

    for action, status in (("ignore", "ignored"), ("reopen", "unresolved"),
                           ("resolve", "resolved")):
        resp = await client.post(f"{api}/{issue_id}/{action}", headers=auth_headers)
        assert resp.status_code == 200 and resp.json()["status"] == status
    resolved = (await client.get(api, params={"status": "resolved"}, headers=auth_headers))
    assert [i["id"] for i in resolved.json()["items"]] == [issue_id]
    unresolved = (await client.get(api, params={"status": "unresolved"}, headers=auth_headers))
    assert len(unresolved.json()["items"]) == 2

    page = (await client.get(api, params={"limit": 2}, headers=auth_headers)).json()
    rest = (await client.get(api, params={"limit": 2, "cursor": page["next_cursor"]},
                             headers=auth_headers)).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {i["id"] for i in page["items"] + rest["items"]} == {i["id"] for i in items}


async def test_bad_requests_are_named(client, auth_headers):
    cases = [
        ("GET", "/api/v1/issues?status=open", 400, "status"),
        ("GET", "/api/v1/issues?limit=0", 400, "limit"),
        ("GET", "/api/v1/issues?cursor=zzz", 400, "cursor"),
        ("GET", "/api/v1/issues?project=x", 400, "project"),
        # Past the 32-bit project id column: once a 500 on PostgreSQL.
        ("GET", "/api/v1/issues?project=431705408316", 400, "project"),
        ("GET", "/api/v1/issues?project=%C2%B95", 400, "project"),  # "¹5": once a 500
        ("GET", "/api/v1/issues/%C2%B9", 404, "no issue"),
        ("GET", "/api/v1/issues/12345", 404, "no issue"),
        ("GET", "/api/v1/issues/abc", 404, "no issue"),
        ("POST", "/api/v1/issues/1/close", 404, "unknown action"),
        ("POST", "/api/v1/issues/999/resolve", 404, "no issue"),
        ("GET", "/api/v1/issues/999/events", 404, "no events"),
    ]
    for method, url, status, words in cases:
        resp = await client.request(method, url, headers=auth_headers)
        assert resp.status_code == status, (url, resp.text)
        assert words in resp.json()["error"], resp.json()
    resp = await client.get("/api/v1/issues")
    assert resp.status_code == 401 and "Bearer" in resp.json()["error"]
    resp = await client.post("/api/v1/issues/1/resolve")
    assert resp.status_code == 401


async def test_issue_events_pages(client, project, auth_headers):
    await _send(client, project, [_exc("KeyError", "'sku'", "cart") for _ in range(5)])
    (issue,) = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    url = f"/api/v1/issues/{issue['id']}/events"
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(url, params=params, headers=auth_headers)).json()
        seen += [e["event_id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5 == issue["count"]
    bad = await client.get(url, params={"cursor": "nope"}, headers=auth_headers)
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]
