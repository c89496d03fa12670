"""Grouping versions through the real ``lookout serve``, on SQLite and PostgreSQL.

A project grouped by version 1 switches to version 2 with ``lookout project
grouping``: during the transition its existing issues keep receiving their
events (nothing is split off silently), and the new fingerprints they picked
up stay with them after the transition ends. Payloads come from
``tests/data/sentry``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import msgspec
import pytest

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parents[1] / "data" / "sentry"
NATIVE = ["handwritten/native-segv-render.envelope", "handwritten/native-segv-parse.envelope"]
BROWSER = ["handwritten/browser-shop.envelope", "handwritten/browser-www-shop.envelope"]
CHAINED = ["sentry-python-2/elsewhere-pay-card.envelope",
           "sentry-python-2/elsewhere-pay-timeout.envelope"]


def with_new_event_id(name: str) -> bytes:
    """The payload as a new event (a fresh event id), its item lengths kept right."""
    event_id = uuid.uuid4().hex
    lines = (DATA / name).read_bytes().split(b"\n")
    out, i = [msgspec.json.encode({**msgspec.json.decode(lines[0]), "event_id": event_id})], 1
    while i < len(lines) - 1:
        header = msgspec.json.decode(lines[i])
        payload = lines[i + 1]
        if header.get("type") == "event":
            payload = msgspec.json.encode({**msgspec.json.decode(payload), "event_id": event_id})
            header["length"] = len(payload)
        out += [msgspec.json.encode(header), payload]
        i += 2
    return b"\n".join(out) + b"\n"


class Shop:
    def __init__(self, server) -> None:
        self.server = server
        dsn = server.create_project("shop")
        self.project_id = dsn.rsplit("/", 1)[1]
        self.key = dsn.split("//", 1)[1].split("@")[0]
        self.api = httpx.Client(base_url=server.url, timeout=30, headers={
            "Authorization": f"Bearer {server.create_token()}"})

    def grouping(self, *args: str) -> str:
        out = self.server.cli("project", "grouping", "shop", *args)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def restart(self) -> None:
        """Running servers pick a new version up within seconds; a restart, at once."""
        self.server.stop()
        self.server.start()

    def send(self, *names: str) -> None:
        for name in names:
            resp = httpx.post(f"{self.server.url}/api/{self.project_id}/envelope/",
                              content=with_new_event_id(name),
                              headers={"X-Sentry-Auth": f"Sentry sentry_key={self.key}"})
            assert resp.status_code == 200, (name, resp.text)

    def issues(self) -> dict[int, int]:
        resp = self.api.get("/api/v1/issues", params={"project": self.project_id, "limit": 500})
        assert resp.status_code == 200, resp.text
        return {i["id"]: i["count"] for i in resp.json()["items"]}


def test_switching_versions_keeps_existing_issues(server_factory, db_url):
    shop = Shop(server_factory(db_url=db_url))
    assert "grouping version 3" in shop.grouping()  # new projects get the latest version
    assert "grouping version 1" in shop.grouping("--set", "1")  # as projects made before
    shop.send(*NATIVE, *BROWSER, *CHAINED)
    v1 = shop.issues()
    # Version 1: both crashes one issue, the two hosts two issues, both causes one issue.
    assert sorted(v1.values()) == [1, 1, 2, 2]

    out = shop.grouping("--set", "2")
    assert "grouping version 2" in out and "fallback until: none" not in out
    shop.restart()
    shop.send(*NATIVE, *BROWSER, *CHAINED)
    during = shop.issues()
    assert set(during) == set(v1)  # no issue split off: every event found its old issue
    assert sum(during.values()) == 12

    shop.grouping("--set", "2", "--transition-days", "0")  # the transition is over
    shop.restart()
    shop.send(*NATIVE, *BROWSER, *CHAINED)
    after = shop.issues()
    assert set(after) == set(v1)  # the fingerprints picked up stay with their issues
    assert sum(after.values()) == 18
    shop.send("handwritten/native-segv-network.envelope")  # a crash never seen: its own issue
    assert len(shop.issues()) == len(v1) + 1


def test_without_a_transition_changed_groups_start_new_issues(server_factory, db_url):
    """The documented other way: no transition, so changed fingerprints start afresh."""
    shop = Shop(server_factory(db_url=db_url))
    shop.grouping("--set", "1")
    shop.send(*NATIVE)
    assert len(shop.issues()) == 1
    shop.grouping("--set", "2", "--transition-days", "0")
    shop.restart()
    shop.send(*NATIVE)
    assert len(shop.issues()) == 3


def test_cli_refuses_unknown_versions_and_projects(server_factory):
    server = server_factory()
    server.create_project("shop")
    bad = server.cli("project", "grouping", "shop", "--set", "9")
    assert bad.returncode != 0 and "grouping version must be one of 1, 2, 3" in bad.stderr
    missing = server.cli("project", "grouping", "nope")
    assert missing.returncode != 0 and "no project" in missing.stderr


def _drive(steps, answers):
    """Run a plan generator, answering each SELECT with the next of ``answers``."""
    asked, result = [], None
    try:
        while True:
            sql, params, _ = steps.send(result)
            asked.append((sql, params))
            result = answers.pop(0)
    except StopIteration as done:
        return done.value, asked


def test_grouping_config_is_cached_and_reread_after_the_ttl_or_a_clock_jump():
    from collector.issues import CONFIG_TTL, IdCache, _grouping_configs

    cache = IdCache()
    got, asked = _drive(_grouping_configs([7], 1000.0, cache), [[(7, 2, 5000.0)]])
    assert got == {7: (2, 5000.0)} and len(asked) == 1
    got, asked = _drive(_grouping_configs([7], 1000.0 + CONFIG_TTL / 2, cache), [])
    assert got == {7: (2, 5000.0)} and asked == []  # cached
    got, asked = _drive(_grouping_configs([7], 1000.0 + CONFIG_TTL + 1, cache), [[(7, 1, None)]])
    assert got == {7: (1, None)} and len(asked) == 1  # expired: read again
    got, asked = _drive(_grouping_configs([7], 10.0, cache), [[(7, 2, None)]])
    assert got == {7: (2, None)} and len(asked) == 1  # the clock went back: read again
    got, _ = _drive(_grouping_configs([8], 20.0, cache), [[]])
    assert got == {8: (1, None)}  # no such project row: version 1


STACKED = ["sentry-python-2/app-stack-message.envelope",
           "sentry-python-2/app-stack-message-elsewhere.envelope"]


def test_version_3_keeps_the_issues_of_versions_2_and_1(server_factory, db_url):
    """2 -> 3: messages sent with their stack (grouped on the message by version 2, on
    the stack by 3) keep their issue; 1 -> 3, skipping 2: crashes keep theirs too."""
    shop = Shop(server_factory(db_url=db_url))
    shop.grouping("--set", "2")
    shop.send(*STACKED)
    (merged,) = shop.issues()  # version 2: the same message from two places, one issue
    shop.grouping("--set", "3")
    shop.restart()
    shop.send(*STACKED)
    assert shop.issues() == {merged: 4}

    shop.grouping("--set", "1")
    shop.restart()
    shop.send(*NATIVE)
    (crashes,) = set(shop.issues()) - {merged}
    shop.grouping("--set", "3")
    shop.restart()
    shop.send(*NATIVE)
    assert shop.issues() == {merged: 4, crashes: 4}
    # A project that starts on version 3 keeps those apart.
    fresh = Shop.__new__(Shop)
    fresh.server, fresh.api = shop.server, shop.api
    dsn = shop.server.create_project("fresh")
    fresh.project_id, fresh.key = dsn.rsplit("/", 1)[1], dsn.split("//", 1)[1].split("@")[0]
    fresh.send(*STACKED, *NATIVE)
    assert sorted(fresh.issues().values()) == [1, 1, 1, 1]
