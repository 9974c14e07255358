"""What Linx reads from Procore, as typed records (the sync engine never sees raw JSON).

Each `from_api` takes one JSON object as Procore sends it, tolerates missing optional
keys and reads ids as int (they can exceed 32 bits). Keyword arguments to `from_api`
fill in what the request implied but the body may omit (e.g. the project of a sub job).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from integrations.http import (
    as_bool,
    as_date,
    as_datetime,
    as_decimal,
    as_float,
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

    id: int
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

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, is_active: bool = True) -> Self:
        return cls(
            id=_id(data),
            employee_id=as_opt_str(data.get("employee_id")),
            first_name=as_str(data.get("first_name")),
            last_name=as_str(data.get("last_name")),
            email_address=as_opt_str(data.get("email_address")),
            address=as_opt_str(data.get("address")),
            city=as_opt_str(data.get("city")),
            state_code=as_opt_str(data.get("state_code")),
            zip=as_opt_str(data.get("zip")),
            mobile_phone=as_opt_str(data.get("mobile_phone")),
            work_classification_id=_ref(data, "work_classification"),
            is_active=as_bool(data.get("is_active"), is_active),
            is_employee=as_bool(data.get("is_employee")),
            updated_at=as_datetime(data.get("updated_at")),
        )


@dataclass(frozen=True, kw_only=True)
class Project:
    id: int
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

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            id=_id(data),
            project_number=as_opt_str(data.get("project_number")),
            name=as_str(data.get("name")),
            address=as_opt_str(data.get("address")),
            city=as_opt_str(data.get("city")),
            state_code=as_opt_str(data.get("state_code")),
            zip=as_opt_str(data.get("zip")),
            phone=as_opt_str(data.get("phone")),
            start_date=as_date(data.get("start_date")),
            latitude=as_float(data.get("latitude")),
            longitude=as_float(data.get("longitude")),
            active=as_bool(data.get("active"), True),
            updated_at=as_datetime(data.get("updated_at")),
        )


@dataclass(frozen=True, kw_only=True)
class SubJob:
    id: int
    project_id: int | None
    code: str
    name: str
    active: bool = True
    updated_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, project_id: int | None = None) -> Self:
        return cls(
            id=_id(data),
            project_id=_ref(data, "project") or project_id,
            code=as_str(data.get("code")),
            name=as_str(data.get("name")),
            active=as_bool(data.get("active"), True),
            updated_at=as_datetime(data.get("updated_at")),
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

    id: int
    list_id: int | None
    code: str
    full_code: str
    name: str
    parent_id: int | None = None
    origin_id: str | None = None
    active: bool = True

    @property
    def is_division(self) -> bool:
        return self.parent_id is None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, list_id: int | None = None) -> Self:
        return cls(
            id=_id(data),
            list_id=as_int(data.get("standard_cost_code_list_id")) or list_id,
            code=as_str(data.get("code")),
            full_code=as_str(data.get("full_code") or data.get("code")),
            name=as_str(data.get("name")),
            parent_id=_ref(data, "parent"),
            origin_id=as_opt_str(data.get("origin_id")),
            active=as_bool(data.get("active"), True),
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
    id: int
    project_id: int | None
    name: str
    employee_ids: tuple[int, ...] = ()
    updated_at: datetime | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, project_id: int | None = None) -> Self:
        members = data.get("employees")
        if members is None:
            members = data.get("employee_ids")
        return cls(
            id=_id(data),
            project_id=_ref(data, "project") or project_id,
            name=as_str(data.get("name")),
            employee_ids=_ids(members),
            updated_at=as_datetime(data.get("updated_at")),
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
