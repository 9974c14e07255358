"""The resilience suite's tables: each test adds its line, the session prints them at the end.

A test asks for the ``fault_table`` fixture and calls it with one line (a dict with the
table's columns). ``pytest_terminal_summary`` writes every table collected in the session
through pytest's terminal reporter, after the usual output, so it shows in CI logs and
under ``-q`` alike.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

#: The fault matrix's columns, in the order printed.
FAULT_COLUMNS = (
    "fault",
    "side",
    "runs",
    "rows processed",
    "rows lost",
    "duplicates created",
    "wrong values",
    "seconds",
)

#: Lines gathered in this session, in the order the tests ran.
_FAULT_LINES: list[dict] = []


@pytest.fixture
def fault_table() -> Callable[[dict], None]:
    """Add one line to the fault matrix's table (printed at the end of the session)."""

    def add(line: dict) -> None:
        missing = set(FAULT_COLUMNS) - set(line)
        assert not missing, f"a fault matrix line needs {sorted(missing)}"
        _FAULT_LINES.append(line)

    return add


def format_table(columns: tuple[str, ...], lines: list[dict]) -> list[str]:
    """Lines of a plain-text table: a header, a rule, then one row per line."""
    cells = [[str(line.get(column, "")) for column in columns] for line in lines]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def render(row):
        return "  ".join(
            value.ljust(width) if i < 2 else value.rjust(width)
            for i, (value, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [render(columns), render(["-" * width for width in widths]), *map(render, cells)]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the fault matrix (when any of it ran) under pytest's own summary."""
    if not _FAULT_LINES:
        return
    lost = sum(line["rows lost"] for line in _FAULT_LINES)
    doubled = sum(line["duplicates created"] for line in _FAULT_LINES)
    terminalreporter.write_sep("=", "fault matrix: end state of Procore and ExakTime")
    for text in format_table(FAULT_COLUMNS, _FAULT_LINES):
        terminalreporter.write_line(text)
    terminalreporter.write_line(
        f"{len(_FAULT_LINES)} combinations: rows lost {lost}, duplicates created {doubled}"
        + ("" if lost == doubled == 0 else "  <-- MUST BE 0 AND 0")
    )
