import pytest
from lookout_sdk._batch import Batch, build_body, compress
from lookout_sdk.errors import TransportError
from lookout_sdk.transport import HTTPTransport, MockTransport, Request, Response

from tests.sdk.conftest import Peer


def _request(peer: Peer) -> Request:
    body = compress(build_body(Batch([("logs", b'{"message":"m"}')]), {}))
    return Request(
        f"http://127.0.0.1:{peer.port}/api/7/ingest",
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        body,
    )


def test_keeps_one_connection_alive(peer: Peer) -> None:
    transport = HTTPTransport(timeout=2)
    for _ in range(3):
        assert transport.send(_request(peer)).status == 202
    assert peer.connections == 1 and len(peer.records("logs")) == 3
    transport.close()


def test_reconnects_once_when_the_idle_connection_was_closed(peer: Peer) -> None:
    peer.script = ["202-close"]
    transport = HTTPTransport(timeout=2)
    assert transport.send(_request(peer)).status == 202
    assert transport.send(_request(peer)).status == 202  # stale socket: fresh one, no error
    assert peer.connections == 2 and len(peer.records("logs")) == 2


def test_response_status_headers_and_body(peer: Peer) -> None:
    peer.script = [(503, {"Retry-After": "7"})]
    response = HTTPTransport(timeout=2).send(_request(peer))
    assert response.status == 503 and response.headers["retry-after"] == "7"
    assert response.body == b'{"error":"no"}'


@pytest.mark.parametrize("action", ["garbage", "reset", "hang"])
def test_hostile_answers_become_transport_errors(peer: Peer, action: str) -> None:
    peer.default = action
    with pytest.raises(TransportError):
        HTTPTransport(timeout=0.5).send(_request(peer))


def test_connection_refused_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="Connection"):
        HTTPTransport(timeout=1).send(Request("http://127.0.0.1:9/api/1/ingest", {}, b""))


def test_mock_transport_calls_handler() -> None:
    seen = []
    transport = MockTransport(lambda r: seen.append(r) or Response(202))
    assert transport.send(Request("u", {}, b"x")).status == 202 and seen[0].body == b"x"
