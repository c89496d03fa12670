"""Numeric ids from URLs and query strings (pure).

``str.isdigit`` is true for superscripts and other Unicode digits that
``int()`` rejects (``"¹".isdigit()``), and ``int()`` accepts non-ASCII decimal
digits (``"٣"``) a URL should not: ids are ASCII digits only, within the
database column's range (a larger value makes PostgreSQL fail the query
rather than find nothing).
"""

from __future__ import annotations

import re

MAX_PROJECT_ID = 2**31 - 1  # projects.id is a 32-bit integer
MAX_ROW_ID = 2**63 - 1  # issues, alerts: 64-bit
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(text: str, maximum: int = MAX_ROW_ID) -> int | None:
    """The id ``text`` names (1..maximum), or None when it cannot be one."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= maximum else None
