"""SIGTERM under load: the instance drains, exits 0, and nothing the SDK took is lost.

Requests in flight when the signal arrives are finished (each answered only
after its rows are committed); batches that find the instance gone are
retried by the SDK until the instance is back, and stored once.
"""

from __future__ import annotations

import signal

import pytest

from tests.support.sdk_load import SdkLoad, stored_counts

pytestmark = pytest.mark.e2e


def test_sigterm_drains_and_the_sdk_delivers_to_the_restarted_instance(db_url, server_factory):
    server = server_factory(db_url=db_url)
    with SdkLoad(server.create_project(), "sigterm", threads=4) as load:
        load.wait_emitted(1000)
        server.signal(signal.SIGTERM)
        assert server.wait(60) == 0, server.log()
        mark = len(load.transport.since(0))
        load.wait_emitted(300)  # the app goes on logging while no instance is up
        server.start()  # the same port, as a process supervisor would
        load.wait_for(lambda: any(e.status == 202 for e in load.transport.since(mark)),
                      "a batch stored by the restarted instance")
        load.wait_emitted(300)
        emitted = load.finish()
        exchanges = load.transport.since(0)

    assert stored_counts(db_url, "sigterm") == (emitted, emitted)
    assert {e.status for e in exchanges} <= {202, 503, "connection error"}
    assert "Traceback" not in server.log()
