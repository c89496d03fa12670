"""ASGI middleware under a real Litestar app (and a bare ASGI app for re-raising)."""

import asyncio
import logging

import lookout_sdk
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from litestar.testing import TestClient
from lookout_sdk.asgi import LookoutMiddleware, litestar_after_exception

from tests.sdk.conftest import Recorder


@get("/orders/{order_id:int}")
async def order(order_id: FromPath[int]) -> dict:
    logging.getLogger("shop").warning("looking up order", extra={"order_id": order_id})

    async def background() -> None:
        logging.getLogger("shop").warning("from a task")

    await asyncio.create_task(background())
    return {"order": order_id}


@get("/boom")
async def boom() -> None:
    raise RuntimeError("kaboom")


def _litestar(as_litestar_middleware: bool) -> object:
    if as_litestar_middleware:
        return Litestar(
            [order, boom],
            middleware=[LookoutMiddleware],
            after_exception=[litestar_after_exception],
        )
    return LookoutMiddleware(Litestar([order, boom], after_exception=[litestar_after_exception]))


@pytest.fixture
def root_info():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@pytest.mark.parametrize("inside", [False, True], ids=["wrapping", "litestar-middleware"])
def test_request_id_in_and_out_route_template_and_record(
    sdk: Recorder, root_info, inside: bool
) -> None:
    with TestClient(_litestar(inside)) as client:
        resp = client.get("/orders/42", headers={"X-Request-ID": "client-id-1"})
        generated = client.get("/orders/7", headers={"X-Request-ID": "bad id with spaces"})
        missing = client.get("/nowhere")
    assert resp.status_code == 200 and resp.headers["x-request-id"] == "client-id-1"
    new_id = generated.headers["x-request-id"]
    assert len(new_id) == 32 and new_id != "bad id with spaces"
    assert lookout_sdk.flush(5)
    requests = {r["request_id"]: r for r in sdk.records("requests")}
    rec = requests["client-id-1"]
    assert (rec["method"], rec["route"], rec["status"], rec["unhandled"]) == (
        "GET",
        "/orders/{order_id}",
        200,
        False,
    )
    assert 0 < rec["duration_ms"] < 5000
    assert requests[new_id]["route"] == "/orders/{order_id}"
    if not inside:  # unknown paths never reach middleware registered inside Litestar
        assert requests[missing.headers["x-request-id"]]["status"] == 404
    logs = [(r["message"], r.get("request_id")) for r in sdk.records("logs")]
    assert ("looking up order", "client-id-1") in logs and ("from a task", "client-id-1") in logs


@pytest.mark.parametrize("inside", [False, True], ids=["wrapping", "litestar-middleware"])
def test_litestar_server_error_is_captured_via_after_exception(sdk: Recorder, inside: bool) -> None:
    with TestClient(_litestar(inside)) as client:
        resp = client.get("/boom", headers={"X-Request-ID": "req-boom"})
    assert resp.status_code == 500 and resp.headers["x-request-id"] == "req-boom"
    assert lookout_sdk.flush(5)
    (err,) = sdk.records("errors")
    assert err["request_id"] == "req-boom" and err["exception"][-1]["value"] == "kaboom"
    assert err["exception"][-1]["mechanism"] == {"type": "asgi", "handled": False}
    assert err["attributes"]["http.path"] == "/boom"
    (rec,) = sdk.records("requests")
    assert rec["status"] == 500 and rec["unhandled"] is True and rec["route"] == "/boom"


async def test_exception_from_bare_asgi_app_is_captured_and_reraised(sdk: Recorder) -> None:
    async def app(scope, receive, send):
        raise ValueError("raw failure")

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/raw",
        "headers": [(b"x-request-id", b"raw-1"), (b"authorization", b"Bearer s3cret")],
    }
    with pytest.raises(ValueError, match="raw failure"):
        await LookoutMiddleware(app)(scope, receive, send)
    assert lookout_sdk.flush(5)
    (err,) = sdk.records("errors")
    assert err["request_id"] == "raw-1"
    assert err["attributes"]["http.headers"]["authorization"] == "[redacted]"
    (rec,) = sdk.records("requests")
    assert (rec["method"], rec["route"], rec["status"], rec["unhandled"]) == (
        "POST",
        "/raw",
        500,
        True,
    )


async def test_response_header_replaced_not_duplicated_and_non_http_passthrough(
    sdk: Recorder,
) -> None:
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"x-request-id", b"from-app"), (b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"ok"})

    sent = []

    async def send(message):
        sent.append(message)

    await LookoutMiddleware(app)({"type": "lifespan"}, None, send)
    await LookoutMiddleware(app)(
        {"type": "http", "method": "GET", "path": "/x", "headers": []}, None, send
    )
    headers = sent[0]["headers"]
    assert [v for k, v in headers if k == b"x-request-id"] != [b"from-app"]
    assert len([1 for k, _ in headers if k == b"x-request-id"]) == 1
    assert lookout_sdk.flush(5)
    assert [r["status"] for r in sdk.records("requests")] == [201]


async def test_disabled_sdk_is_a_passthrough() -> None:
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["type"])

    await LookoutMiddleware(app)({"type": "http", "headers": []}, None, None)
    assert calls == ["http"]
