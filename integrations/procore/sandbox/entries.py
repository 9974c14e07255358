"""Timecard entries in the Procore sandbox: what a client may send, checked as Procore would.

`build_entry` turns the fields of a create, a bulk create or an update into the entry the
store keeps, or raises `Invalid` naming the field Procore would refuse.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from integrations.sandbox import Abort, Store, iso_z, utc_now

ENTRY_FIELDS = {  # what a timecard entry may carry, besides custom_field_<id>
    "project_id", "party_id", "date", "hours", "time_in", "time_out", "lunch_time",
    "cost_code_id", "sub_job_id", "timecard_time_type_id", "work_classification_id",
    "description", "billable", "approval_status", "origin_id", "origin_data", "crew_id",
    "line_item_type_id", "user_id", "login_information_id", "timesheet_id", "location_id",
}  # fmt: skip
APPROVAL_STATUSES = {"pending", "reviewed", "approved", "completed"}


class Invalid(Exception):
    """A timecard entry Procore would refuse: 422 naming the field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def build_entry(store: Store, company: dict, fields: Any, existing: dict | None = None) -> dict:
    """The entry to store from the fields a client sent, checked as Procore would."""
    _check_names(fields)
    cid = company["id"]
    project, party, day = _placing(store, cid, fields)
    where = f"project {project['project_number']} {project['name']}"
    cost_code = _cost_code(store, project, fields, where)
    sub_job = _sub_job(store, company, project, fields, where)
    time_type = _time_type(store, cid, fields)
    classification_id = _classification(store, cid, fields)
    approval = fields.get("approval_status") or "pending"
    if approval not in APPROVAL_STATUSES:
        raise Invalid("approval_status", f"approval_status must be one of "
                                         f"{', '.join(sorted(APPROVAL_STATUSES))}")  # fmt: skip
    now = iso_z(utc_now())
    entry = {
        "id": existing["id"] if existing else None,
        "project_id": project["id"],
        "party_id": party["id"],
        "date": day.isoformat(),
        **_hours(fields),
        "cost_code_id": cost_code and cost_code["id"],
        "sub_job_id": sub_job and sub_job["id"],
        "timecard_time_type_id": time_type and time_type["id"],
        "work_classification_id": classification_id,
        "description": fields.get("description"),
        "billable": _boolean(fields.get("billable", False), "billable"),
        "approval_status": approval,
        "origin_id": fields.get("origin_id"),  # as sent: Procore does not check uniqueness
        "origin_data": fields.get("origin_data"),
        "custom_fields": _custom_values(store, cid, fields),
        "project": {"id": project["id"], "name": project["name"]},
        "party": {"id": party["id"], "name": party["name"]},
        "cost_code": cost_code and {k: cost_code[k] for k in ("id", "name", "full_code")},
        "sub_job": sub_job and {k: sub_job[k] for k in ("id", "name", "code")},
        "timecard_time_type": time_type and public(time_type),
        "created_at": existing["created_at"] if existing else now,
        "updated_at": now,
        "deleted_at": None,
    }
    extra = {name: fields[name] for name in ("crew_id", "line_item_type_id") if name in fields}
    return {**entry, **extra}


def _check_names(fields: Any) -> None:
    if not isinstance(fields, dict):
        raise Invalid("base", "A timecard entry must be a JSON object")
    for name in fields:
        if name not in ENTRY_FIELDS and not _custom_field_id(name):
            raise Invalid(name, f"unknown attribute '{name}' for TimecardEntry")


def _placing(store: Store, cid: int, fields: dict) -> tuple[dict, dict, date]:
    """Where, who and when: the project, the worker (party) and the day, all required."""
    project_id = _id(fields, "project_id", required=True)
    project = store.get("project", project_id, scope=cid)
    if project is None:
        raise Invalid("project_id", f"Project {project_id} does not exist in this company")
    party_id = _id(fields, "party_id", required=True)
    party = store.get("user", party_id, scope=cid)
    if party is None:
        raise Invalid("party_id", f"Party {party_id} is not in this company's directory")
    day = parse_date(fields.get("date"), "date", invalid=Invalid)
    if day is None:
        raise Invalid("date", "date is required (YYYY-MM-DD)")
    return project, party, day


def _cost_code(store: Store, project: dict, fields: dict, where: str) -> dict | None:
    if (cost_code_id := _id(fields, "cost_code_id")) is None:
        return None
    cost_code = store.get("cost_code", cost_code_id, scope=project["id"])
    if cost_code is None:
        raise Invalid("cost_code_id", f"Cost code {cost_code_id} is not set up on {where}")
    if cost_code["deleted_at"]:
        raise Invalid("cost_code_id", f"Cost code {cost_code['full_code']} "
                                      f"{cost_code['name']} was deleted from {where}")  # fmt: skip
    return cost_code


def _sub_job(store: Store, company: dict, project: dict, fields: dict, where: str) -> dict | None:
    if (sub_job_id := _id(fields, "sub_job_id")) is None:
        return None
    if not company["features"]["sub_jobs"]:
        raise Invalid("sub_job_id", "Sub Jobs are not enabled for this company")
    sub_job = store.get("sub_job", sub_job_id, scope=project["id"])
    if sub_job is None:
        raise Invalid("sub_job_id", f"Sub job {sub_job_id} is not set up on {where}")
    if not sub_job.get("active", True):
        raise Invalid("sub_job_id", f"Sub job {sub_job['code']} {sub_job['name']} "
                                    f"is inactive on {where}")  # fmt: skip
    return sub_job


def _time_type(store: Store, cid: int, fields: dict) -> dict | None:
    time_type_id = _id(fields, "timecard_time_type_id")
    time_type = time_type_id and store.get("timecard_time_type", time_type_id, scope=cid)
    if time_type_id is not None and not time_type:
        raise Invalid("timecard_time_type_id", f"Timecard time type {time_type_id} "
                                               "does not exist")  # fmt: skip
    return time_type


def _classification(store: Store, cid: int, fields: dict) -> int | None:
    classification_id = _id(fields, "work_classification_id")
    if classification_id is not None and not store.get(
        "work_classification", classification_id, scope=cid
    ):
        raise Invalid("work_classification_id",
                      f"Work classification {classification_id} does not exist")  # fmt: skip
    return classification_id


def _custom_values(store: Store, cid: int, fields: dict) -> dict:
    values = {}
    for name, value in fields.items():
        if (definition_id := _custom_field_id(name)) is None:
            continue
        definition = store.get("custom_field_definition", definition_id, scope=cid)
        if not definition or not definition["active"]:
            raise Invalid(name, f"Custom field {definition_id} is not an active custom field")
        values[name] = {"data_type": definition["data_type"],
                        "value": _custom_value(definition, name, value)}  # fmt: skip
    return values


def public(body: dict) -> dict:
    """A record as the wire shows it: fields starting with "_" are the sandbox's own."""
    return {name: value for name, value in body.items() if not name.startswith("_")}


def entry_inputs(entry: dict) -> dict:
    """The fields a client would send to recreate a stored entry (for PATCH)."""
    inputs = {name: entry[name] for name in ENTRY_FIELDS if entry.get(name) is not None}
    inputs.update({name: value["value"] for name, value in entry["custom_fields"].items()})
    if inputs.get("time_in"):
        inputs.pop("hours", None)  # recomputed from the times
    return inputs


def _custom_field_id(name: str) -> int | None:
    prefix, _, number = name.partition("custom_field_")
    return int(number) if not prefix and number.isdigit() else None


def _id(fields: dict, name: str, *, required: bool = False) -> int | None:
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise Invalid(name, f"{name} is required")
        return None
    if isinstance(value, bool) or not str(value).isdigit():
        raise Invalid(name, f"{name} must be an id, got {value!r}")
    return int(value)


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise Invalid(name, f"{name} must be true or false")


def _hours(fields: dict) -> dict:
    """hours (Total Hours mode) or time_in/time_out/lunch_time (Start/Stop), at most 24."""
    lunch = fields.get("lunch_time") or 0
    if isinstance(lunch, bool) or not isinstance(lunch, int | float) or lunch < 0:
        raise Invalid("lunch_time", "lunch_time must be a number of minutes")
    time_in, time_out = fields.get("time_in"), fields.get("time_out")
    if time_in or time_out:
        start = _moment(time_in, "time_in")
        stop = _moment(time_out, "time_out")
        if stop <= start:
            raise Invalid("time_out", "time_out must be after time_in")
        worked = Decimal((stop - start).total_seconds()) / 3600 - Decimal(lunch) / 60
        hours = worked if fields.get("hours") is None else fields["hours"]
    elif fields.get("hours") is not None:
        hours = fields["hours"]
    else:
        raise Invalid("hours", "Send hours, or time_in and time_out")
    try:
        amount = Decimal(str(hours)).quantize(Decimal("0.0001"))
    except InvalidOperation:
        raise Invalid("hours", f"hours must be a number, got {hours!r}") from None
    if isinstance(hours, bool) or not 0 <= amount <= 24:
        raise Invalid("hours", "hours must be between 0 and 24")
    text = format(amount.normalize(), "f")
    return {
        "hours": text if "." in text else text + ".0",  # Procore shows "8.0"
        "time_in": time_in,
        "time_out": time_out,
        "lunch_time": lunch if (time_in or "lunch_time" in fields) else None,
    }


def _moment(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(name, f"{name} must be an ISO 8601 time, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _custom_value(definition: dict, name: str, value: Any) -> Any:
    kind = definition["data_type"]
    if kind == "string" and not (isinstance(value, str) and len(value) <= 255):
        raise Invalid(name, f"{definition['label']} must be text of at most 255 characters")
    if kind == "date":
        parse_date(value, name, invalid=Invalid)
    if kind == "boolean":
        return _boolean(value, name)
    if kind == "lov_entry":
        choices = {entry["id"] for entry in definition["custom_field_lov_entries"]}
        if not str(value).isdigit() or int(value) not in choices:
            raise Invalid(name, f"{value!r} is not an option of {definition['label']}")
        return int(value)
    return value


def parse_date(value: Any, name: str, *, invalid=None) -> date | None:
    """A YYYY-MM-DD date, None when absent; 400 (or `invalid`) when malformed."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        message = f"{name} must be a date (YYYY-MM-DD), got {value!r}"
        raise (invalid(name, message) if invalid else Abort(400, message)) from None
