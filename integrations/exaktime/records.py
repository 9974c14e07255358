"""ExakTime's records as typed values (as Linx uses its API).

`from_api` reads one JSON object, tolerating missing optional keys; a value it cannot
read is read as absent (only `TimeRecord`, which an export writes from, keeps the
reader's problems to fail its row with). The writable
records also have `to_api()`: the whole object without its `id`, which is what a create
(POST) and an update (PUT, whole object) send. A new record has `id=None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Self

from integrations.values import Reader, whole

GroupType = Literal["employee", "location", "cost_code"]
FieldType = Literal["text", "date", "checkbox", "select"]


def wire_value(value: Any) -> Any:
    """A Python value as ExakTime's JSON carries it (dates as ISO text, decimals as text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [wire_value(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _reader(data: Mapping[str, Any]) -> Reader:
    return Reader(data if isinstance(data, Mapping) else {}, "ExakTime")


@dataclass(frozen=True, kw_only=True)
class _Contact:
    """The address and phone an employee and a location both carry."""

    address1: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    phone: str | None = None


class _Writable:
    """The records Linx creates and updates: their fields are ExakTime's keys.

    So `from_api` reads each field under its own name by its type, and `to_api` writes
    each one back.
    """

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(**_reader(data).fields_of(cls))

    def to_api(self) -> dict[str, Any]:
        """The whole object as ExakTime takes it in a POST or PUT body (no `id`)."""
        return {f.name: wire_value(getattr(self, f.name)) for f in fields(self) if f.name != "id"}


@dataclass(frozen=True, kw_only=True)
class Employee(_Writable, _Contact):
    id: int | None = None
    identifier: str
    first_name: str
    last_name: str
    email: str | None = None
    work_classification: str | None = None
    is_active: bool = True


@dataclass(frozen=True, kw_only=True)
class Location(_Writable, _Contact):
    """A job (`/v1/Time/Jobs`): a project, or a sub-job through `parent_job_id`."""

    id: int | None = None
    identifier: str
    name: str
    start_date: date | None = None
    latitude: float | None = None
    longitude: float | None = None
    is_active: bool = True
    parent_job_id: int | None = None
    category_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class CostCode(_Writable):
    id: int | None = None
    identifier: str
    name: str
    is_active: bool = True


@dataclass(frozen=True, kw_only=True)
class Group(_Writable):
    """A mobile group; employee groups are what ExakTime calls crews."""

    id: int | None = None
    name: str
    group_type: GroupType
    member_ids: tuple[int, ...] = ()
    show_in_mobile: bool = True


@dataclass(frozen=True, kw_only=True)
class LocationCategory(_Writable):
    id: int | None = None
    name: str


@dataclass(frozen=True, kw_only=True)
class CustomField(_Writable):
    id: int | None = None
    name: str
    field_type: FieldType
    max_length: int | None = None
    options: tuple[str, ...] = ()
    is_active: bool = True


def _custom_values(value: Any) -> dict[int | str, Any]:
    """`{"<custom field id>": value}` keyed by int id where the key is one."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[int | str, Any] = {}
    for key, item in value.items():
        number = whole(key)
        out[number if number is not None else str(key)] = item
    return out


@dataclass(frozen=True, kw_only=True)
class TimeRecord:
    """One punch pair from the field (read-only for Linx).

    Read strictly: a value Linx cannot read as ExakTime's contract has it (hours "eight",
    a work date "2026-11-31", a time without its UTC offset, no id) is never taken as
    zero, none or "still clocked in". It is left out and named in `problems`, and the
    export fails the record's row with them.
    """

    id: int | None  # None only with a problem saying why
    employee_id: int | None
    job_id: int | None
    cost_code_id: int | None
    work_date: date | None
    time_in: datetime | None
    time_out: datetime | None = None
    lunch_minutes: int = 0
    regular_hours: Decimal = Decimal(0)
    ot1_hours: Decimal = Decimal(0)
    ot2_hours: Decimal = Decimal(0)
    is_approved: bool = False
    custom_fields: dict[int | str, Any] = field(default_factory=dict, hash=False)
    modified_at: datetime | None = None
    is_deleted: bool = False
    revision: int = 0
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def total_hours(self) -> Decimal:
        return self.regular_hours + self.ot1_hours + self.ot2_hours

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        read = _reader(data)
        return cls(
            id=read.id("id", required=True),
            employee_id=read.id("employee_id", required=True),
            job_id=read.id("job_id", required=True),
            cost_code_id=read.id("cost_code_id"),
            work_date=read.date("work_date", required=True),
            time_in=read.moment("time_in", offset=True),
            time_out=read.moment("time_out", offset=True),
            lunch_minutes=read.count("lunch_minutes") or 0,
            regular_hours=read.decimal("regular_hours") or Decimal(0),
            ot1_hours=read.decimal("ot1_hours") or Decimal(0),
            ot2_hours=read.decimal("ot2_hours") or Decimal(0),
            is_approved=read.flag("is_approved", False),
            custom_fields=_custom_values(data.get("custom_fields")),
            modified_at=read.moment("modified_at"),
            is_deleted=read.flag("is_deleted", False),
            revision=read.count("revision") or 0,
            problems=tuple(read.problems),
        )
