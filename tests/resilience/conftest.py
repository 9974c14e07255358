"""The resilience suite's tables: each test adds its line, the session prints them at the end.

A test asks for ``fault_table`` (the fault matrix) or ``resilience_table`` (any other
table, by title) and adds one line, a dict keyed by the table's columns.
``pytest_terminal_summary`` writes every table filled in the session through pytest's
terminal reporter, after pytest's own summary, so it shows in CI logs and under ``-q``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

FAULT_MATRIX = "fault matrix: end state of Procore and ExakTime"
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
#: Columns that must add up to 0: the totals line says so under a table that has them.
MUST_BE_ZERO = ("rows lost", "duplicates created")

#: Tables filled in this session: title → (columns, lines in the order the tests ran).
_TABLES: dict[str, tuple[tuple[str, ...], list[dict]]] = {}


def add_line(title: str, columns: tuple[str, ...], line: dict) -> None:
    missing = set(columns) - set(line)
    assert not missing, f"a line of {title!r} needs {sorted(missing)}"
    known, lines = _TABLES.setdefault(title, (tuple(columns), []))
    assert known == tuple(columns), f"{title!r} has the columns {known}"
    lines.append(line)


@pytest.fixture
def resilience_table() -> Callable[[str, tuple[str, ...], dict], None]:
    """``resilience_table(title, columns, line)``: one line of a table printed at the end."""
    return add_line


@pytest.fixture
def fault_table() -> Callable[[dict], None]:
    """Add one line to the fault matrix's table (printed at the end of the session)."""
    return lambda line: add_line(FAULT_MATRIX, FAULT_COLUMNS, line)


def format_table(columns: tuple[str, ...], lines: list[dict]) -> list[str]:
    """A plain-text table: a header, a rule, one row per line; numbers to the right."""
    cells = [[str(line.get(column, "")) for column in columns] for line in lines]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(_number(row[i]) for row in cells) for i in range(len(columns))]

    def render(row):
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()

    return [render(columns), render(["-" * width for width in widths]), *map(render, cells)]


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print each table filled in the session under pytest's own summary."""
    for title, (columns, lines) in _TABLES.items():
        terminalreporter.write_sep("=", title)
        for text in format_table(columns, lines):
            terminalreporter.write_line(text)
        zero = [c for c in MUST_BE_ZERO if c in columns]
        if zero:
            sums = {c: sum(int(line[c]) for line in lines) for c in zero}
            terminalreporter.write_line(
                f"{len(lines)} combinations: "
                + ", ".join(f"{c} {n}" for c, n in sums.items())
                + ("" if not any(sums.values()) else f"  <-- MUST BE 0 ({', '.join(zero)})")
            )
