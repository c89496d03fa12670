"""PostgreSQL restarted, then down for a while, under load from the real SDK.

Runs on a private PostgreSQL cluster (tests/support/pg_cluster.py), never on
the shared server at :5432: restarting that one (``pg_ctlcluster``) would cut
every other test and CI job using it.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.pg_cluster import PgCluster, pg_bin
from tests.support.sdk_load import SdkLoad, stored_counts
from tests.support.server import LookoutServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    bindir = pg_bin()
    if bindir is None:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("PostgreSQL's initdb is missing in CI")
        pytest.skip("PostgreSQL server binaries are not installed")
    with PgCluster(bindir) as cluster:
        yield cluster


def readyz(server: LookoutServer) -> int:
    try:
        with urllib.request.urlopen(server.url + "/readyz", timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_postgres_restart_and_outage_lose_and_duplicate_nothing(pg_cluster, server_factory):
    db_url = pg_cluster.create_database("lookout")
    server = server_factory(db_url=db_url)
    with SdkLoad(server.create_project(), "pgrestart", threads=4) as load:
        load.wait_emitted(500)
        mark = len(load.transport.since(0))
        pg_cluster.restart()  # pg_ctl restart -m fast: every connection cut mid-load
        load.wait_emitted(500)
        load.wait_for(lambda: any(e.status == 202 for e in load.transport.since(mark)),
                      "a batch stored after the restart")

        mark = len(load.transport.since(0))
        pg_cluster.stop()
        load.wait_for(lambda: any(e.status == 503 for e in load.transport.since(mark)),
                      "a 503 while PostgreSQL is down")
        assert readyz(server) == 503
        pg_cluster.resume()
        load.wait_for(lambda: readyz(server) == 200, "/readyz recovering")
        load.wait_emitted(500)
        emitted = load.finish()
        exchanges = load.transport.since(0)

    assert stored_counts(db_url, "pgrestart") == (emitted, emitted)
    statuses = {e.status for e in exchanges}
    assert statuses <= {202, 503}, statuses  # never a 500, never a dropped connection
    assert all(e.retry_after for e in exchanges if e.status == 503)
    assert "Traceback" not in server.log()
