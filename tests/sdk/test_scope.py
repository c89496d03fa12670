"""Users, tags and contexts, nested request contexts, clean traces and messages.

Through a real Flask app served over HTTP (wsgiref in a thread) with the WSGI
middleware, and a real Litestar app with the ASGI middleware.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import lookout_sdk
import pytest
from flask import Flask
from litestar import Litestar, get
from litestar.testing import TestClient
from lookout_sdk.asgi import LookoutMiddleware as AsgiMiddleware
from lookout_sdk.asgi import litestar_after_exception
from lookout_sdk.wsgi import LookoutMiddleware as WsgiMiddleware

from tests.sdk.conftest import Recorder, wait_for

log = logging.getLogger("shop")


def _flask_app() -> Flask:
    app = Flask("shop")

    @app.get("/nested")
    def nested() -> str:
        log.warning("outer line")
        with lookout_sdk.request_context(user="42", step="pay"):
            log.warning("inner line")
            with lookout_sdk.request_context(step="charge"):
                log.warning("innermost line")
        return "ok"

    @app.get("/checkout")
    def checkout() -> str:
        lookout_sdk.set_user(id="42", email="ann@example.com")
        lookout_sdk.set_tag("plan", "pro")
        lookout_sdk.set_context("order", {"id": 7})
        raise KeyError("kiwi")

    @app.get("/thread")
    def in_thread() -> str:
        def work() -> None:
            raise ValueError("in a worker thread")

        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
        return "ok"

    @app.get("/colour")
    def colour() -> str:
        log.warning('\x1b[31m"GET /x HTTP/1.1"\x1b[0m \x1b[1;33m500\x1b[0m -')
        return "ok"

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> tuple[str, int]:
        # Flask answers the error itself; the view has returned when this runs.
        lookout_sdk.capture_exception(exc)
        return "sorry", 500

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flask_url(root_info: None) -> Iterator[str]:
    httpd = make_server("127.0.0.1", 0, WsgiMiddleware(_flask_app()), server_class=WSGIServer,
                        handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def root_info() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


def _get(url: str, request_id: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"X-Request-ID": request_id} if request_id else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers["X-Request-ID"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["X-Request-ID"]


def test_nested_request_context_inherits_the_request_id_and_attributes(
        sdk: Recorder, flask_url: str) -> None:
    status, rid = _get(f"{flask_url}/nested", "req-nested-1")
    assert (status, rid) == (200, "req-nested-1")
    logs = wait_for(lambda: [r for r in sdk.records("logs") if r["logger"] == "shop"]
                    if len(sdk.records("logs")) >= 3 else None)
    by_message = {r["message"]: r for r in logs}
    assert {r["request_id"] for r in logs} == {"req-nested-1"}
    assert by_message["inner line"]["attributes"]["user"] == "42"
    innermost = by_message["innermost line"]["attributes"]
    assert innermost["user"] == "42" and innermost["step"] == "charge"
    assert "user" not in by_message["outer line"].get("attributes", {})


def test_outer_request_context_id_is_kept_by_an_inner_one(sdk: Recorder) -> None:
    with lookout_sdk.request_context(request_id="abc123", tenant="t1"):
        with lookout_sdk.request_context(user="7"):
            log.error("inside both")
        with lookout_sdk.request_context(request_id="other-id"):
            log.error("inner sets its own id")
    assert lookout_sdk.flush(5)
    records = {r["message"]: r for r in sdk.records("logs")}
    assert records["inside both"]["request_id"] == "abc123"
    assert records["inside both"]["attributes"] == {"tenant": "t1", "user": "7"}
    assert records["inner sets its own id"]["request_id"] == "other-id"
    assert records["inner sets its own id"]["attributes"]["tenant"] == "t1"


def test_user_tags_and_contexts_reach_an_error_captured_after_the_view_returned(
        sdk: Recorder, flask_url: str) -> None:
    status, rid = _get(f"{flask_url}/checkout")
    assert status == 500
    error = wait_for(lambda: sdk.records("errors"))[0]
    assert error["request_id"] == rid
    assert error["attributes"]["user"] == {"id": "42", "email": "ann@example.com"}
    assert error["attributes"]["contexts"] == {"order": {"id": 7}}
    assert error["tags"] == {"plan": "pro"}
    assert error["exception"][-1]["type"] == "KeyError"
    # The next request starts clean: scope belongs to the request that set it.
    _get(f"{flask_url}/checkout-missing")
    lookout_sdk.capture_message("outside any request")
    assert lookout_sdk.flush(5)
    outside = [e for e in sdk.records("errors") if e.get("message") == "outside any request"]
    assert outside and "user" not in outside[0].get("attributes", {})
    assert "tags" not in outside[0]


def test_global_scope_applies_outside_and_seeds_each_request(sdk: Recorder) -> None:
    lookout_sdk.set_tag("region", "eu")
    lookout_sdk.set_user(id="batch-job")
    try:
        lookout_sdk.capture_message("global one")
        with lookout_sdk.request_context(request_id="r-1"):
            lookout_sdk.set_tag("plan", "pro")
            lookout_sdk.capture_message("in request")
        lookout_sdk.capture_message("global two")
        assert lookout_sdk.flush(5)
        got = {e["message"]: e for e in sdk.records("errors")}
        assert got["global one"]["tags"] == {"region": "eu"}
        assert got["global one"]["attributes"]["user"] == {"id": "batch-job"}
        assert got["in request"]["tags"] == {"region": "eu", "plan": "pro"}
        assert got["global two"]["tags"] == {"region": "eu"}  # the request's tag stayed in it
    finally:
        lookout_sdk.set_user()
        lookout_sdk._context.global_scope.tags.clear()


def test_set_functions_never_raise(sdk: Recorder) -> None:
    class Nasty:
        def __str__(self) -> str:
            raise RuntimeError("no")

        __repr__ = __str__

    lookout_sdk.set_tag(Nasty(), Nasty())
    lookout_sdk.set_user(id=Nasty())
    lookout_sdk.set_context("x", Nasty())  # type: ignore[arg-type]
    lookout_sdk.set_user()
    lookout_sdk._context.global_scope.tags.clear()
    lookout_sdk._context.global_scope.contexts.clear()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_sdk_wrapper_frames_are_not_in_stack_traces(sdk: Recorder, flask_url: str) -> None:
    status, rid = _get(f"{flask_url}/thread")
    assert status == 200
    error = wait_for(lambda: sdk.records("errors"))[0]
    assert error["request_id"] == rid  # the thread ran in the request's context
    frames = error["exception"][-1]["frames"]
    assert frames[-1]["function"] == "work"
    assert not [f for f in frames if "lookout_sdk" in (f.get("abs_path") or "")], frames


def test_ansi_colour_codes_are_stripped_from_log_messages(sdk: Recorder, flask_url: str) -> None:
    _get(f"{flask_url}/colour")
    line = wait_for(lambda: [r for r in sdk.records("logs") if r["logger"] == "shop"])[0]
    assert line["message"] == '"GET /x HTTP/1.1" 500 -'


@get("/pay")
async def pay() -> None:
    lookout_sdk.set_user(id="u-9")
    lookout_sdk.set_tag("plan", "free")
    raise RuntimeError("card declined")


def test_asgi_unhandled_exception_carries_the_user(sdk: Recorder) -> None:
    app = AsgiMiddleware(Litestar([pay], after_exception=[litestar_after_exception]))
    with TestClient(app) as client:
        resp = client.get("/pay")
    assert resp.status_code == 500
    error = wait_for(lambda: sdk.records("errors"))[0]
    assert error["request_id"] == resp.headers["X-Request-ID"]
    assert error["attributes"]["user"] == {"id": "u-9"}
    assert error["tags"] == {"plan": "free"}
    assert not [f for f in error["exception"][-1]["frames"]
                if "lookout_sdk" in (f.get("abs_path") or "")]
