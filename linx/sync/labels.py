"""How Linx names an ExakTime record to people, in messages, row results and pages."""

from __future__ import annotations

from typing import Any


def exaktime_name(record: Any) -> str:
    """A location's, cost code's or group's name, an employee's first and last name."""
    name = getattr(record, "name", None)
    if name:
        return name
    return f"{getattr(record, 'first_name', '')} {getattr(record, 'last_name', '')}".strip()
