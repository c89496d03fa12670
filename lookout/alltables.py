"""Imports every module's tables so the shared ``metadata`` knows them all.

Alembic and the tests use this; each module still owns (and alone queries)
its own tables. A new module with tables adds its import here.
"""

from __future__ import annotations

import collector.issue_tables
import collector.tables  # noqa: F401
import lookout.tables  # noqa: F401
import rules.tables  # noqa: F401
import web.tables  # noqa: F401
from lookout.db import metadata

__all__ = ["metadata"]
