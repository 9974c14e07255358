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

from integrations.values import (
    Reader,
    as_bool,
    as_date,
    as_datetime,
    as_decimal,
    as_int,
    as_opt_str,
    as_str,
)

#: Custom field data types Linx can carry between the two systems.
SUPPORTED_CUSTOM_FIELD_TYPES = frozenset({"string", "date", "boolean", "lov_entry"})


def _id(data: Mapping[str, Any], key: str = "id") -> int:
    value = as_int(data.get(key))
    if value is None:
        raise ValueError(f"Procore record without {key!r}: keys {sorted(data)}")
    return value


def _ref(data: Mapping[str, Any], key: str) -> int | None:
    """`<key>_id`, or the id of a nested `<key>` object (Procore sends either)."""
    flat = as_int(data.get(f"{key}_id"))
    return flat if flat is not None else as_int(data.get(key))


def _reader(data: Mapping[str, Any]) -> Reader:
    return Reader(data if isinstance(data, Mapping) else {}, "Procore")


def _ids(values: Any) -> tuple[int, ...]:
    return tuple(i for i in (as_int(v) for v in values or ()) if i is not None)


@dataclass(frozen=True, kw_only=True)
class Company:
    id: int
    name: str
    is_active: bool = True

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=_id(data),
            name=as_str(data.get("name")),
            is_active=as_bool(data.get("is_active"), True),
        )


@dataclass(frozen=True, kw_only=True)
class Worker:
    """A company user (a person in Procore's Directory)."""

    id: int | None  # None only with a problem saying why
    employee_id: str | None
    first_name: str
    last_name: str
    email_address: str | None = None
    address: str | None = None
    city: str | None = None
    state_code: str | None = None
    zip: str | None = None
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
            email_address=read.text("email_address") or None,
            address=read.text("address") or None,
            city=read.text("city") or None,
            state_code=read.text("state_code") or None,
            zip=read.text("zip") or None,
            mobile_phone=read.text("mobile_phone") or None,
            work_classification_id=read.ref("work_classification"),
            is_active=read.flag("is_active", is_active),
            is_employee=read.flag("is_employee", False),
            updated_at=as_datetime(data.get("updated_at")),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class Project:
    id: int | None  # None only with a problem saying why
    project_number: str | None
    name: str
    address: str | None = None
    city: str | None = None
    state_code: str | None = None
    zip: str | None = None
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
            address=read.text("address") or None,
            city=read.text("city") or None,
            state_code=read.text("state_code") or None,
            zip=read.text("zip") or None,
            phone=read.text("phone") or None,
            start_date=read.date("start_date"),
            latitude=read.number("latitude"),
            longitude=read.number("longitude"),
            active=read.flag("active", True),
            updated_at=as_datetime(data.get("updated_at")),
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
            updated_at=as_datetime(data.get("updated_at")),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class StandardCostCodeList:
    id: int
    name: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(id=_id(data), name=as_str(data.get("name")))


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
        return cls(
            id=_id(data),
            project_id=_ref(data, "project") or project_id,
            code=as_str(data.get("code")),
            full_code=as_str(data.get("full_code") or data.get("code")),
            name=as_str(data.get("name")),
            parent_id=_ref(data, "parent"),
            standard_cost_code_id=as_int(data.get("standard_cost_code_id")),
            deleted_at=as_datetime(data.get("deleted_at")),
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
            updated_at=as_datetime(data.get("updated_at")),
            problems=tuple(read.problems),
        )


@dataclass(frozen=True, kw_only=True)
class WorkClassification:
    id: int
    name: str
    abbreviation: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=_id(data),
            name=as_str(data.get("name")),
            abbreviation=as_opt_str(data.get("abbreviation")),
        )


@dataclass(frozen=True, kw_only=True)
class TimecardTimeType:
    id: int
    time_type: str
    abbreviated_time_type: str
    global_: bool = False

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=_id(data),
            time_type=as_str(data.get("time_type")),
            abbreviated_time_type=as_str(data.get("abbreviated_time_type")),
            global_=as_bool(data.get("global")),
        )


@dataclass(frozen=True, kw_only=True)
class Fieldset:
    id: int
    name: str
    type: str
    field_ids: tuple[int, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=_id(data),
            name=as_str(data.get("name")),
            type=as_str(data.get("type")),
            field_ids=_ids(data.get("fields")),
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
        options = tuple(
            LovEntry(id=_id(entry), label=as_str(entry.get("label")))
            for entry in data.get("custom_field_lov_entries") or ()
            if isinstance(entry, Mapping) and as_int(entry.get("id")) is not None
        )
        return cls(
            id=_id(data),
            label=as_str(data.get("label")),
            data_type=as_str(data.get("data_type")),
            active=as_bool(data.get("active"), True),
            options=options,
        )


def _custom_field_values(data: Mapping[str, Any]) -> dict[int, Any]:
    """Custom field values by definition id, from `custom_fields` or `custom_field_<id>` keys."""
    values: dict[int, Any] = {}
    nested = data.get("custom_fields")
    sources = [nested.items()] if isinstance(nested, Mapping) else []
    sources.append((k, v) for k, v in data.items() if k.startswith("custom_field_"))
    for items in sources:
        for key, value in items:
            definition_id = as_int(str(key).removeprefix("custom_field_"))
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
        return cls(
            id=_id(data),
            project_id=_ref(data, "project"),
            party_id=_ref(data, "party"),
            date=as_date(data.get("date")),
            hours=as_decimal(data.get("hours")),
            time_in=as_datetime(data.get("time_in")),
            time_out=as_datetime(data.get("time_out")),
            lunch_time=as_int(data.get("lunch_time")),
            cost_code_id=_ref(data, "cost_code"),
            sub_job_id=_ref(data, "sub_job"),
            timecard_time_type_id=_ref(data, "timecard_time_type"),
            work_classification_id=_ref(data, "work_classification"),
            description=as_opt_str(data.get("description")),
            origin_id=as_opt_str(data.get("origin_id")),
            origin_data=as_opt_str(data.get("origin_data")),
            custom_fields=_custom_field_values(data),
        )
