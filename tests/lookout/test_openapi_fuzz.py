"""Schemathesis against a real ``lookout serve``, from the schema it serves, on both databases.

Every operation of ``/schema/openapi.json`` gets generated requests (valid ones,
then invalid ones) with real credentials (project key, Sentry auth, bearer
token). Checked for each answer: no 5xx, the status is documented, the body
matches the documented schema and content type, and it arrives within a
per-request timeout (a hang fails the test). Derandomized, so CI runs the same
cases every time; ``LOOKOUT_FUZZ_EXAMPLES`` raises the count for a longer hunt.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lookout.openapi import PATH

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("LOOKOUT_FUZZ_EXAMPLES", "50"))  # per operation and mode
REQUEST_TIMEOUT = 20.0  # seconds; generous for a loaded machine, still catches a hang
# An envelope is bytes on the wire, sent as they are generated.
schemathesis.serializer.alias("application/x-sentry-envelope", "application/octet-stream")
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _run(operation, mode: GenerationMode, base_url: str, headers: dict[str, str],
         path_parameters: dict[str, str] | None, session: requests.Session) -> set[int]:
    """Run the generated cases; the statuses seen (to show the credentials worked)."""
    statuses: set[int] = set()

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=True)
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case) -> None:
        response = case.call_and_validate(base_url=base_url, session=session, headers=headers,
                                          checks=CHECKS, timeout=REQUEST_TIMEOUT)
        statuses.add(response.status_code)

    run()
    return statuses


def _has_inputs(operation) -> bool:
    """Whether there is anything to make invalid (else negative generation is impossible)."""
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody"))


def test_every_operation_conforms(server_factory, db_url):
    server = server_factory(db_url=db_url)
    dsn = urlsplit(server.create_project())
    key, project_id = dsn.username, dsn.path.strip("/")
    token = server.create_token()
    headers = {"X-Lookout-Key": key, "X-Sentry-Auth": f"Sentry sentry_key={key}",
               "Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(server.url + PATH, timeout=30)
    failures: list[str] = []
    valid_statuses: dict[str, set[int]] = {}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            uses_project = "{project_id}" in operation.path
            modes = [GenerationMode.POSITIVE]
            if _has_inputs(operation):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                # Valid cases go to the real project (else nearly all are 401s).
                fixed = {"project_id": project_id} if uses_project and mode.is_positive else None
                try:
                    seen = _run(operation, mode, server.url, headers, fixed, session)
                except Exception as exc:  # noqa: BLE001 - collect every operation's failure
                    failures.append(f"{operation.label} [{mode.value}]: {exc}"[:3000])
                    continue
                if mode.is_positive:
                    valid_statuses[operation.label] = seen
    with requests.Session() as session:
        assert session.get(server.url + "/healthz", timeout=10).status_code == 200
    assert not failures, "\n\n".join(failures)
    # The injected credentials were accepted: valid requests are never 401, and the
    # ingest endpoints stored some of what was generated.
    assert not [label for label, seen in valid_statuses.items() if 401 in seen], valid_statuses
    for label in ("POST /api/{project_id}/ingest", "POST /api/{project_id}/store/"):
        assert valid_statuses[label] & {200, 202}, (label, valid_statuses[label])
