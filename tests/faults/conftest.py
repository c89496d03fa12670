"""Fixtures for fault tests: several Lookout instances behind a real nginx, and the
rule-engine fixtures (fake clock, Slack mimic, settings, Alerting) reused from tests/rules.

nginx is required in CI (``CI=true``): a missing binary fails the tests there
instead of skipping them, so the suite cannot pass without having run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_ENV, PgDatabases
from tests.rules.conftest import alerting, clock, services, settings, slack  # noqa: F401
from tests.support.cluster import NGINX, Cluster
from tests.support.tools import require_tool


def require_nginx() -> None:
    require_tool(NGINX, "nginx", "cluster tests")


@pytest.fixture
async def pg_url(pg_databases: PgDatabases | None) -> AsyncIterator[str]:
    """A fresh migrated PostgreSQL database (several instances share one database)."""
    if pg_databases is None:
        pytest.skip(f"{PG_ENV} is not set; cluster tests need PostgreSQL")
    url = await pg_databases.create()
    yield url
    await pg_databases.drop(url)


@pytest.fixture
def cluster_factory(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Cluster]]:
    """``cluster_factory(n=2, env={...})`` starts instances + nginx; all stopped afterwards."""
    require_nginx()
    started: list[Cluster] = []

    def factory(n: int = 2, env: dict[str, str] | None = None) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster-{len(started)}", pg_url, n=n, env=env)
        started.append(cluster)
        return cluster.start()

    yield factory
    for cluster in started:
        cluster.close()


@pytest.fixture
def cluster(cluster_factory: Callable[..., Cluster]) -> Cluster:
    """Two instances on one PostgreSQL behind nginx."""
    return cluster_factory()
