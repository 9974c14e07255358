"""What Linx reads from Procore, as typed records (the sync engine never sees raw JSON).

Each `from_api` takes one JSON object as Procore sends it, tolerates missing optional
keys and reads ids as int (they can exceed 32 bits). Keyword arguments to `from_api`
fill in what the request implied but the body may omit (e.g. the project of a sub job).

The records an import writes to ExakTime (workers, projects, sub jobs, company cost
codes, crews) are read strictly: a value of the wrong type (a list for a name, "north"
for a latitude, "31/12/2026" for a date) is never quietly read as None or as other text.
It is left out and named in the record's `problems`, and the import fails that record's
row with them; its id too, so that one unreadable record never stops the whole list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from integrations.values import Reader, whole

#: The fields of `_Address`, as Procore's keys.
_ADDRESS = ("address", "city", "state_code", "zip")
#: Custom field data types Linx can carry between the two systems.
SUPPORTED_CUSTOM_FIELD_TYPES = frozenset({"string", "date", "boolean", "lov_entry"})


def _reader(data: Mapping[str, Any]) -> Reader:
    return Reader(data if isinstance(data, Mapping) else {}, "Procore")


class _Listed:
    """Records whose fields mirror Procore's keys (`_KEYS` names those that do not),
    read leniently: a value Linx cannot read is read as absent, but not a missing id."""

    _KEYS: dict[str, str] = {}

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        read = _reader(data)
        return cls(**{**read.fields_of(cls, **cls._KEYS), "id": _id(read)})


def _id(read: Reader) -> int:
    """The id of a record read leniently, which is of no use without one."""
    value = read.id()
    if value is None:
        raise ValueError(f"Procore record without 'id': keys {sorted(read.data)}")
    return value


def created_id(data: Mapping[str, Any]) -> int:
    """The id of a record Procore answered a write with, read as `from_api` reads it."""
    return _id(_reader(data))


@dataclass(frozen=True, kw_only=True)
class _Address:
    """The postal address a worker and a project both carry, all optional."""

    address: str | None = None
    city: str | None = None
    state_code: str | None = None
    zip: str | None = None


@dataclass(frozen=True, kw_only=True)
class Company(_Listed):
    id: int
    name: str
    is_active: bool = True


@dataclass(frozen=True, kw_only=True)
class StandardCostCodeList(_Listed):
    id: int
    name: str


@dataclass(frozen=True, kw_only=True)
class WorkClassification(_Listed):
    id: int
    name: str
    abbreviation: str | None = None


@dataclass(frozen=True, kw_only=True)
class TimecardTimeType(_Listed):
    id: int
    time_type: str
    abbreviated_time_type: str
    global_: bool = False

    _KEYS = {"global_": "global"}


@dataclass(frozen=True, kw_only=True)
class Fieldset(_Listed):
    id: int
    name: str
    type: str
    field_ids: tuple[int, ...] = ()

    _KEYS = {"field_ids": "fields"}


@dataclass(frozen=True, kw_only=True)
class Worker(_Address):
    """A company user (a person in Procore's Directory)."""

    id: int | None  # None only with a problem saying why
    employee_id: str | None
    first_name: str
    last_name: str
    email_address: str | None = None
    mobile_phone: str | None = None
    work_classification_id: int | None = None
    is_active: bool = True
    is_employee: bool = False
    updated_at: datetime | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, is_active: bool = True) -> Self:
        read = _reader(data)
        return cls(
            id=read.id("id", required=True),
            employee_id=read.text("employee_id") or None,
            first_name=read.text("first_name") or "",
            last_name=read.text("last_name") or "",
            **read.optional_texts("email_address", "mobile_phone", *_ADDRESS),
            work_classification_id=read.ref("work_classification"),
            is_active=read.flag("is_active", is_active),
            is_employee=read.flag("is_employee", False),
            updated_at=read.moment("updated_at"),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class Project(_Address):
    id: int | None  # None only with a problem saying why
    project_number: str | None
    name: str
    phone: str | None = None
    start_date: date | None = None
    latitude: float | None = None
    longitude: float | None = None
    active: bool = True
    updated_at: datetime | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        read = _reader(data)
        return cls(
            id=read.id("id", required=True),
            project_number=read.text("project_number") or None,
            name=read.text("name") or "",
            **read.optional_texts("phone", *_ADDRESS),
            start_date=read.date("start_date"),
            latitude=read.number("latitude"),
            longitude=read.number("longitude"),
            active=read.flag("active", True),
            updated_at=read.moment("updated_at"),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class SubJob:
    id: int | None  # None only with a problem saying why
    project_id: int | None
    code: str
    name: str
    active: bool = True
    updated_at: datetime | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, project_id: int | None = None) -> Self:
        read = _reader(data)
        return cls(
            id=read.id("id", required=True),
            project_id=read.ref("project") or project_id,
            code=read.text("code") or "",
            name=read.text("name") or "",
            active=read.flag("active", True),
            updated_at=read.moment("updated_at"),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class StandardCostCode:
    """A company cost code; one without a parent is a division."""

    id: int | None  # None only with a problem saying why
    list_id: int | None
    code: str
    full_code: str
    name: str
    parent_id: int | None = None
    origin_id: str | None = None
    active: bool = True
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_division(self) -> bool:
        return self.parent_id is None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, list_id: int | None = None) -> Self:
        read = _reader(data)
        code = read.text("code") or ""
        return cls(
            id=read.id("id", required=True),
            list_id=read.id("standard_cost_code_list_id") or list_id,
            code=code,
            full_code=read.text("full_code") or code,
            name=read.text("name") or "",
            parent_id=read.ref("parent"),
            origin_id=read.text("origin_id") or None,
            active=read.flag("active", True),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class ProjectCostCode:
    """A cost code set up on one project (a deleted one is still listed)."""

    id: int
    project_id: int | None
    code: str
    full_code: str
    name: str
    parent_id: int | None = None
    standard_cost_code_id: int | None = None
    deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, project_id: int | None = None) -> Self:
        read = _reader(data)
        code = read.text("code") or ""
        return cls(
            id=_id(read),
            project_id=read.ref("project") or project_id,
            code=code,
            full_code=read.text("full_code") or code,
            name=read.text("name") or "",
            parent_id=read.ref("parent"),
            standard_cost_code_id=read.id("standard_cost_code_id"),
            deleted_at=read.moment("deleted_at"),
        )


@dataclass(frozen=True, kw_only=True)
class Crew:
    id: int | None  # None only with a problem saying why
    project_id: int | None
    name: str
    employee_ids: tuple[int, ...] = ()
    updated_at: datetime | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, project_id: int | None = None) -> Self:
        read = _reader(data)
        members = read.ids("employees")
        if members is None:
            members = read.ids("employee_ids")
        return cls(
            id=read.id("id", required=True),
            project_id=read.ref("project") or project_id,
            name=read.text("name") or "",
            employee_ids=members or (),
            updated_at=read.moment("updated_at"),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class LovEntry:
    """One option of a single-select (`lov_entry`) custom field."""

    id: int
    label: str


@dataclass(frozen=True, kw_only=True)
class CustomFieldDefinition:
    id: int
    label: str
    data_type: str
    active: bool = True
    options: tuple[LovEntry, ...] = ()

    @property
    def supported(self) -> bool:
        return self.data_type in SUPPORTED_CUSTOM_FIELD_TYPES

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        read = _reader(data)
        entries = (_reader(entry) for entry in data.get("custom_field_lov_entries") or ())
        options = tuple(
            LovEntry(id=entry.id(), label=entry.text("label") or "")
            for entry in entries
            if entry.id() is not None
        )
        return cls(
            id=_id(read),
            label=read.text("label") or "",
            data_type=read.text("data_type") or "",
            active=read.flag("active", True),
            options=options,
        )


def _custom_field_values(data: Mapping[str, Any]) -> dict[int, Any]:
    """Custom field values by definition id, from `custom_fields` or `custom_field_<id>` keys."""
    values: dict[int, Any] = {}
    nested = data.get("custom_fields")
    sources = [nested.items()] if isinstance(nested, Mapping) else []
    sources.append([(k, v) for k, v in data.items() if k.startswith("custom_field_")])
    for items in sources:
        for key, value in items:
            definition_id = whole(str(key).removeprefix("custom_field_"))
            if definition_id is None:
                continue
            # Procore answers {"custom_field_12": {"data_type": .., "value": ..}}.
            values[definition_id] = value.get("value") if isinstance(value, Mapping) else value
    return values


@dataclass(frozen=True, kw_only=True)
class TimecardEntry:
    id: int
    project_id: int | None
    party_id: int | None
    date: date | None
    hours: Decimal | None = None
    time_in: datetime | None = None
    time_out: datetime | None = None
    lunch_time: int | None = None
    cost_code_id: int | None = None
    sub_job_id: int | None = None
    timecard_time_type_id: int | None = None
    work_classification_id: int | None = None
    description: str | None = None
    origin_id: str | None = None
    origin_data: str | None = None
    custom_fields: dict[int, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        read = _reader(data)
        return cls(
            id=_id(read),
            project_id=read.ref("project"),
            party_id=read.ref("party"),
            date=read.date("date"),
            hours=read.decimal("hours"),
            time_in=read.moment("time_in"),
            time_out=read.moment("time_out"),
            lunch_time=read.count("lunch_time"),
            cost_code_id=read.ref("cost_code"),
            sub_job_id=read.ref("sub_job"),
            timecard_time_type_id=read.ref("timecard_time_type"),
            work_classification_id=read.ref("work_classification"),
            **read.optional_texts("description", "origin_id", "origin_data"),
            custom_fields=_custom_field_values(data),
        )
