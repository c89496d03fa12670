"""Security tests reuse the web fixtures: a UI user and a logged-in client."""

from tests.web.conftest import ui, user  # noqa: F401
