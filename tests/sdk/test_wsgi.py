"""WSGI middleware under a real WSGI server (wsgiref in a thread, real HTTP)."""

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import lookout_sdk
import pytest
from lookout_sdk.wsgi import LookoutMiddleware

from tests.sdk.conftest import Recorder, wait_for


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/users/"):
        lookout_sdk.set_route("/users/<user_id>")  # what a Flask before_request hook does
        logging.getLogger("web").warning("showing user")
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-ID", "app-set")])

        def body() -> Iterator[bytes]:
            logging.getLogger("web").warning("streaming")
            yield b"hello"

        return body()
    if path == "/crash":
        raise KeyError("no such thing")
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"nope"]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = make_server(
        "127.0.0.1", 0, LookoutMiddleware(app), server_class=WSGIServer, handler_class=QuietHandler
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _get(url: str, request_id: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"X-Request-ID": request_id} if request_id else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.headers["X-Request-ID"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["X-Request-ID"]


def test_request_id_route_status_and_logs(sdk: Recorder, server: str) -> None:
    status, rid = _get(server + "/users/5", "wsgi-req-1")
    assert (status, rid) == (200, "wsgi-req-1")  # the app's own value is replaced
    status, generated = _get(server + "/missing", "bad\x01id")
    assert status == 404 and len(generated) == 32
    # The record is emitted when the server closes the response, just after the client got it.
    wait_for(lambda: lookout_sdk.flush(5) and len(sdk.records("requests")) == 2)
    requests = {r["request_id"]: r for r in sdk.records("requests")}
    assert (requests["wsgi-req-1"]["route"], requests["wsgi-req-1"]["status"]) == (
        "/users/<user_id>",
        200,
    )
    assert (requests[generated]["route"], requests[generated]["status"]) == ("/missing", 404)
    assert {(r["message"], r.get("request_id")) for r in sdk.records("logs")} == {
        ("showing user", "wsgi-req-1"),
        ("streaming", "wsgi-req-1"),
    }


def test_unhandled_exception_captured_and_reraised_to_the_server(
    sdk: Recorder, server: str
) -> None:
    status, _ = _get(server + "/crash", "wsgi-crash")
    assert status == 500  # wsgiref turned the re-raised exception into its 500 page
    wait_for(lambda: lookout_sdk.flush(5) and sdk.records("requests"))
    (err,) = sdk.records("errors")
    assert err["request_id"] == "wsgi-crash" and err["exception"][-1]["type"] == "KeyError"
    assert err["exception"][-1]["mechanism"] == {"type": "wsgi", "handled": False}
    assert err["attributes"]["http.path"] == "/crash"
    (rec,) = sdk.records("requests")
    assert (rec["status"], rec["unhandled"], rec["method"]) == (500, True, "GET")
