"""``kill -9`` of one of two instances behind nginx, under load from the real SDK.

A killed instance cuts its requests mid-flight: some were committed and never
answered, some never committed. nginx does not replay a POST it already sent
(deploy/nginx.conf), so the SDK sees 502 or a reset and retries the batch
with the same id through nginx to the live instance. Either way every record
the SDK took is stored exactly once.
"""

from __future__ import annotations

import pytest

from tests.support.cluster import Cluster
from tests.support.sdk_load import SdkLoad, stored_counts

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def test_kill_9_of_an_instance_loses_and_duplicates_no_sdk_record(cluster: Cluster, pg_url):
    with SdkLoad(cluster.create_project(), "kill9", threads=4, pause=0.001) as load:
        load.wait_emitted(1000)
        for victim in (1, 0):  # each instance dies once, mid-load, and comes back
            cluster.kill(victim)
            mark = len(load.transport.since(0))
            load.wait_emitted(500)
            load.wait_for(lambda m=mark: any(e.status == 202 for e in load.transport.since(m)),
                          "a batch stored by the surviving instance")
            cluster.restart(victim)
            load.wait_emitted(500)
        emitted = load.finish()
        exchanges = load.transport.since(0)

    assert stored_counts(pg_url, "kill9") == (emitted, emitted)
    statuses = {e.status for e in exchanges}
    assert statuses <= {202, 502, 503, 504, "connection error"}, statuses
