"""What a run was asked to do: `SyncRun.parameters`, read and written by name.

The stored JSON keeps its shape (keys present only when set, ``from``/``to`` as
ISO dates, anything unknown carried through unchanged), so runs recorded before
read the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

#: Attribute → key in the stored JSON, where they differ (``from`` is a keyword).
_KEYS = {"first_day": "from", "last_day": "to"}


@dataclass
class RunParameters:
    """A run's parameters; None means "not given" (the key is absent)."""

    #: Import: which entities, in import order.
    entities: list[str] | None = None
    #: Import: a full pass instead of reading only what changed.
    full: bool | None = None
    #: Import: each entity's "changed since" point (ISO time, or None: all), kept so
    #: applying a preview reads what the preview read.
    since: dict[str, str | None] | None = None
    #: Re-run of an import: each entity's Procore ids to go through, or "all".
    only: dict[str, list[int] | str] | None = None
    #: Export: the work dates, as given (YYYY-MM-DD; the exporter checks them).
    first_day: str | None = None
    last_day: str | None = None
    #: Export: approved time records only (absent: the connection's setting).
    approved_only: bool | None = None
    #: Export: only these ExakTime employees.
    employees: list[int] | None = None
    #: Re-run of an export: only these time records.
    only_time_records: list[int] | None = None
    #: Export: these time records' entries are sent again even when Linx sent the same
    #: before, re-applying ExakTime's values over an edit made in Procore (only to
    #: entries Linx created: the ledger's).
    reapply: list[int] | None = None
    #: A scheduled run: the schedule's id.
    schedule: int | None = None
    #: Keys this version does not know, kept as they were.
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RunParameters:
        data = dict(data or {})
        known = {}
        for f in fields(cls):
            key = _KEYS.get(f.name, f.name)
            if f.name != "extra" and key in data:
                known[f.name] = data.pop(key)
        return cls(**known, extra=data)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.extra)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None:
                data[_KEYS.get(f.name, f.name)] = value
        return data
