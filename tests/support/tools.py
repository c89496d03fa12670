"""Optional tools some tests need (Chromium, nginx): skip without them, fail in CI.

Skip reasons start with :data:`MISSING_TOOL` so the session summary
(``tests/conftest.py``) can count them in one line saying how to enable them.
Under ``CI=true`` a missing tool is a failure: CI installs them, so a run cannot
pass without having run those tests.
"""

from __future__ import annotations

import os

import pytest

MISSING_TOOL = "missing tool:"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_tool(path: str, package: str, what: str) -> None:
    """Skip (fail in CI) unless the executable ``path`` exists."""
    if os.access(path, os.X_OK):
        return
    message = f"{path} is missing (apt-get install -y {package}, or run ./run-tests as root)"
    if in_ci():
        pytest.fail(f"{message}; CI needs it for the {what}")
    pytest.skip(f"{MISSING_TOOL} {package} — {what} skipped: {message}")
