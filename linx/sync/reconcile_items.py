"""A run of days' time records and timecard entries, held as compactly as the comparison
allows: a reconciliation's peak memory is one run (or its largest day), so each item of a
run is held once, small, and with its repeated values shared.

- A timecard entry becomes a `Held` tuple of just what the comparison and its lines read
  (the typed entry, its custom fields and the page's JSON are dropped as it is read).
- A time record stays a `TimeRecord` (planning reads all of it), but its repeated values
  (dates, clock times, hours, job and cost code ids) are one object per distinct value,
  `Interner`: a day of thousands of records holds a few hundred of them.

Values are shared only between equal values of the same type *and* the same written form
(`Decimal("8")` and `Decimal("8.0")`, or one instant at two UTC offsets, stay apart), so
nothing read, planned, compared or reported changes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from integrations.exaktime.records import TimeRecord
from integrations.procore.records import TimecardEntry

#: The custom fields of every record that has none: one read-only empty mapping.
NO_CUSTOM_FIELDS: Any = MappingProxyType({})


class Held(NamedTuple):
    """A Procore timecard entry as the comparison reads it (the names are the entry's)."""

    id: int
    date: date | None
    party_id: int | None
    project_id: int | None
    sub_job_id: int | None
    cost_code_id: int | None
    timecard_time_type_id: int | None
    hours: Decimal | None
    time_in: datetime | None
    time_out: datetime | None
    lunch_time: int | None
    origin_id: str | None


class Interner:
    """One object per distinct value of a run of days: equal values of the same type and
    written form are the first one seen."""

    def __init__(self) -> None:
        self.seen: dict[tuple, Any] = {}

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        kind = type(value)
        # Decimals and times equal in value may be written differently: keep each form.
        key = (kind, str(value)) if kind is Decimal or kind is datetime else (kind, value)
        return self.seen.setdefault(key, value)


def held(entry: TimecardEntry, intern: Interner) -> Held:
    """The entry as the comparison holds it (its id and origin are its own)."""
    return Held(
        entry.id,
        intern(entry.date),
        entry.party_id,
        intern(entry.project_id),
        intern(entry.sub_job_id),
        intern(entry.cost_code_id),
        intern(entry.timecard_time_type_id),
        intern(entry.hours),
        intern(entry.time_in),
        intern(entry.time_out),
        entry.lunch_time,
        entry.origin_id,
    )


def compact_record(record: TimeRecord, intern: Interner) -> TimeRecord:
    """The same record, its repeated values shared (its ids and times of change its own)."""
    return replace(
        record,
        job_id=intern(record.job_id),
        cost_code_id=intern(record.cost_code_id),
        work_date=intern(record.work_date),
        time_in=intern(record.time_in),
        time_out=intern(record.time_out),
        regular_hours=intern(record.regular_hours),
        ot1_hours=intern(record.ot1_hours),
        ot2_hours=intern(record.ot2_hours),
        custom_fields=record.custom_fields or NO_CUSTOM_FIELDS,
    )


class Entries:
    """A chunk's entries by origin id ("" for none), in the order read: an origin's only
    entry is held alone (most have one), several in a list."""

    def __init__(self) -> None:
        self.by_origin: dict[str, Held | list[Held]] = {}

    def add(self, origin: str, entry: Held) -> None:
        held = self.by_origin.get(origin)
        if held is None:
            self.by_origin[origin] = entry
        elif type(held) is list:
            held.append(entry)
        else:
            self.by_origin[origin] = [held, entry]

    def of(self, origin: str) -> list[Held]:
        held = self.by_origin.get(origin)
        if held is None:
            return []
        return held if type(held) is list else [held]

    def take(self, origin: str, preferred_id: int | None) -> Held | None:
        """The origin's entry whose id is ``preferred_id``, else its first; None if none."""
        found = self.of(origin)
        if not found:
            return None
        index = next(
            (i for i, e in enumerate(found) if preferred_id is not None and e.id == preferred_id),
            0,
        )
        entry = found.pop(index)
        if not found:
            del self.by_origin[origin]
        elif len(found) == 1:
            self.by_origin[origin] = found[0]
        return entry

    def left(self):
        """(origin, entry) for every entry not taken, in the order read."""
        for origin in self.by_origin:
            for entry in self.of(origin):
                yield origin, entry
