"""Real and hand-written Sentry payloads grouped and titled the way Sentry does it.

Every payload of ``tests/data/sentry`` (captured from real clients, or built
from the protocol docs: see ``tests/data/sentry/README.md``) goes through a
real ``lookout serve`` over HTTP, on SQLite and PostgreSQL, each directory into
a project of its own (new projects use the latest grouping version). The table
``cases.yaml`` names each payload's expected title, culprit and group: payloads
with the same group label must share an issue, and payloads with different
labels must not; a payload whose group is null must be in no issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import yaml

pytestmark = pytest.mark.e2e

DATA = Path(__file__).parents[2] / "data" / "sentry"
CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "cases.yaml").read_text())


def event_id_of(path: Path) -> str:
    body = path.read_bytes()
    if path.suffix == ".json":
        return msgspec.json.decode(body)["event_id"]
    lines = body.split(b"\n")
    for i, line in enumerate(lines[1:], 1):
        if b'"event"' in line and msgspec.json.decode(line).get("type") == "event":
            return msgspec.json.decode(lines[i + 1])["event_id"].replace("-", "")
    return msgspec.json.decode(lines[0])["event_id"]


def send(http: httpx.Client, project_id: str, key: str, path: Path) -> None:
    kind = "store" if path.suffix == ".json" else "envelope"
    resp = http.post(f"/api/{project_id}/{kind}/", content=path.read_bytes(),
                     headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"})
    assert resp.status_code == 200, (path.name, resp.text)


def issues_by_event(http: httpx.Client, project_id: str) -> dict[str, dict[str, Any]]:
    listing = http.get("/api/v1/issues", params={"project": project_id, "limit": 500})
    assert listing.status_code == 200, listing.text
    found = {}
    for issue in listing.json()["items"]:
        events = http.get(f"/api/v1/issues/{issue['id']}/events", params={"limit": 500})
        assert events.status_code == 200, events.text
        for event in events.json()["items"]:
            found[event["event_id"]] = issue
    return found


def test_corpus_files_are_all_in_the_table():
    listed = {c["file"] for c in CASES}
    on_disk = {str(p.relative_to(DATA)) for p in DATA.glob("*/*")
               if p.suffix in (".json", ".envelope")}
    assert listed == on_disk


def test_titles_culprits_and_groups(server_factory, db_url):
    server = server_factory(db_url=db_url)
    token = server.create_token()
    http = httpx.Client(base_url=server.url, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    projects: dict[str, tuple[str, str]] = {}
    for case in CASES:
        directory = case["file"].split("/", 1)[0]
        if directory not in projects:
            dsn = server.create_project(directory)
            projects[directory] = (dsn.rsplit("/", 1)[1], dsn.split("//", 1)[1].split("@")[0])
        project_id, key = projects[directory]
        send(http, project_id, key, DATA / case["file"])

    problems = []
    label_issue: dict[tuple[str, str], int] = {}
    issue_label: dict[int, tuple[str, str]] = {}
    lookup = {d: issues_by_event(http, p) for d, (p, _) in projects.items()}
    for case in CASES:
        directory = case["file"].split("/", 1)[0]
        issue = lookup[directory].get(event_id_of(DATA / case["file"]))
        if case["group"] is None:  # not an error: it must be in no issue
            if issue is not None:
                problems.append(f"{case['file']}: stored in issue {issue['title']!r}, "
                                "want no issue")
            continue
        if issue is None:
            problems.append(f"{case['file']}: stored in no issue")
            continue
        got = {"title": issue["title"], "culprit": issue["culprit"]}
        want = {"title": case["title"], "culprit": case["culprit"]}
        if got != want:
            problems.append(f"{case['file']}: got {got}, want {want}")
        label = (directory, case["group"])
        if label_issue.setdefault(label, issue["id"]) != issue["id"]:
            problems.append(f"{case['file']}: group {case['group']!r} is split over issues")
        if issue_label.setdefault(issue["id"], label) != label:
            problems.append(f"{case['file']}: groups {issue_label[issue['id']][1]!r} and "
                            f"{case['group']!r} share issue {issue['id']}")
    assert not problems, "\n".join(problems)
