"""The seed product's mapping tables, as data: Procore record → ExakTime fields.

One place holds each rule: which Procore attribute fills which ExakTime field, and
what ExakTime accepts (lengths, required fields, coordinate ranges). `check` turns a
broken limit into a message naming the field, the value and the limit; values are
never truncated or altered to fit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from integrations.procore.records import Project, StandardCostCode, SubJob, Worker


@dataclass(frozen=True)
class Field:
    """One line of a mapping table: ExakTime ``target`` ← Procore ``source``."""

    target: str
    source: str | Callable[[Any, Mapping[str, Any]], Any]
    label: str  # the Procore attribute, in the users' words, for messages


#: Employee ← active Procore worker (`is_employee`).
EMPLOYEE = (
    Field("identifier", "employee_id", "Employee ID"),
    Field("first_name", "first_name", "first name"),
    Field("last_name", "last_name", "last name"),
    Field("email", "email_address", "email address"),
    Field("address1", "address", "address"),
    Field("city", "city", "city"),
    Field("state", "state_code", "state"),
    Field("zip", "zip", "ZIP code"),
    Field("phone", "mobile_phone", "mobile phone"),
    Field(
        "work_classification",
        lambda worker, ctx: ctx["work_classifications"].get(worker.work_classification_id),
        "work classification",
    ),
    Field("is_active", "is_active", "active"),
)

#: Location ← active Procore project.
LOCATION = (
    Field("identifier", "project_number", "project number"),
    Field("name", "name", "project name"),
    Field("address1", "address", "address"),
    Field("city", "city", "city"),
    Field("state", "state_code", "state"),
    Field("zip", "zip", "ZIP code"),
    Field("phone", "phone", "phone"),
    Field("start_date", "start_date", "start date"),
    Field("latitude", "latitude", "latitude"),
    Field("longitude", "longitude", "longitude"),
    Field("is_active", "active", "active"),
)


def _dotted(first: str | None, second: str | None) -> str | None:
    """`<first>.<second>`; None (so the required field fails) when either part is missing,
    rather than an ID or name made up of "None" or a bare dot."""
    return f"{first}.{second}" if first and second else None


#: Location ← Procore sub-job: `<project number>.<code>`, `<project name>.<name>`.
SUB_JOB = (
    Field(
        "identifier",
        lambda sub_job, ctx: _dotted(ctx["project"].project_number, sub_job.code),
        "project number and sub-job code",
    ),
    Field(
        "name",
        lambda sub_job, ctx: _dotted(ctx["project"].name, sub_job.name),
        "project and sub-job name",
    ),
    Field("is_active", lambda sub_job, ctx: sub_job.active and ctx["project"].active, "active"),
)

#: Cost code ← company (standard) cost code under a division.
COST_CODE = (
    Field("identifier", "code", "cost code"),
    Field("name", "name", "cost code name"),
    Field("is_active", "active", "active"),
)


@dataclass(frozen=True)
class Limit:
    max_length: int | None = None
    required: bool = False
    range: tuple[float, float] | None = None


#: What ExakTime accepts (contracts/exaktime.md). Location address lengths are not
#: stated there; they are taken to match the employee's (modelled).
LIMITS: dict[str, dict[str, Limit]] = {
    "employee": {
        "identifier": Limit(30, required=True),
        "first_name": Limit(50),
        "last_name": Limit(50),
        "email": Limit(100),
        "address1": Limit(100),
        "city": Limit(50),
        "state": Limit(2),
        "zip": Limit(10),
        "phone": Limit(20),
        "work_classification": Limit(50),
    },
    "location": {
        "identifier": Limit(30, required=True),
        "name": Limit(100, required=True),
        "address1": Limit(100),
        "city": Limit(50),
        "state": Limit(2),
        "zip": Limit(10),
        "phone": Limit(20),
        "latitude": Limit(range=(-90.0, 90.0)),
        "longitude": Limit(range=(-180.0, 180.0)),
    },
    "cost_code": {"identifier": Limit(30, required=True), "name": Limit(100, required=True)},
    "crew": {"name": Limit(50, required=True)},
    "location_group": {"name": Limit(50, required=True)},
    "location_category": {"name": Limit(50, required=True)},
    "custom_field": {"name": Limit(50, required=True)},
}


def apply(table: tuple[Field, ...], record: Any, context: Mapping[str, Any]) -> dict[str, Any]:
    """The ExakTime fields for ``record`` by ``table``."""
    fields = {}
    for line in table:
        if callable(line.source):
            value = line.source(record, context)
        else:
            value = getattr(record, line.source)
        # An empty string is "no value"; anything else goes through exactly as Procore has it.
        fields[line.target] = None if value == "" else value
    return fields


def labels(table: tuple[Field, ...]) -> dict[str, str]:
    return {line.target: line.label for line in table}


def check(entity_type: str, fields: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    """Every way ``fields`` breaks ExakTime's limits, as messages naming field and value."""
    problems = []
    for target, limit in LIMITS.get(entity_type, {}).items():
        value = fields.get(target)
        label = names.get(target, target)
        if value is None or value == "":
            if limit.required:
                problems.append(f"its {label} is empty; ExakTime needs one")
            continue
        if isinstance(value, str) and "\x00" in value:
            problems.append(f"its {label} {value!r} contains a null character")
        if isinstance(value, str) and _SURROGATE.search(value):
            problems.append(
                f"its {label} {value!r} is not valid Unicode text (half of a character pair)"
            )
        if limit.max_length is not None and len(str(value)) > limit.max_length:
            problems.append(
                f"its {label} {value!r} is {len(str(value))} characters long; ExakTime "
                f"allows at most {limit.max_length}"
            )
        if limit.range is not None:
            low, high = limit.range
            if not low <= float(value) <= high:
                problems.append(f"its {label} {value} is outside {low:g} to {high:g}")
    return problems


#: A lone UTF-16 surrogate: JSON can carry one ("\\ud83d"), UTF-8 and databases cannot.
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def safe_label(text: str) -> str:
    """``text`` as a row or mapping name a database can store: a null character or a lone
    surrogate shows as U+FFFD. For labels only; values are checked, never altered."""
    return _UNSTORABLE.sub("\ufffd", text)


def fingerprint(fields: Mapping[str, Any]) -> str:
    """A stable hash of what Linx writes; equal fingerprints mean nothing to write."""
    canonical = json.dumps(fields, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    return str(value)


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for fields whose value differs, JSON-ready."""
    out = {}
    for key, new in after.items():
        old = before.get(key)
        if _comparable(old) != _comparable(new):
            out[key] = [_json_ready(old), _json_ready(new)]
    return out


def _comparable(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return sorted(value)
    if isinstance(value, float):
        return round(value, 7)
    if isinstance(value, date):
        return value.isoformat()
    return value


def json_ready(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with dates as ISO text and collections as sorted lists (for JSON)."""
    return {key: _json_ready(value) for key, value in fields.items()}


def _json_ready(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (tuple, set, frozenset)):
        return sorted(value)
    return value


def person_name(worker: Worker) -> str:
    return f"{worker.first_name} {worker.last_name}".strip() or f"worker {worker.id}"


def sub_job_name(project: Project, sub_job: SubJob) -> str:
    return f"{project.name}.{sub_job.name}"


def cost_code_name(code: StandardCostCode) -> str:
    return f"{code.full_code or code.code} {code.name}".strip()
