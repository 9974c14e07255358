"""The seed product's mapping tables, as data: every rule of what Linx writes where.

Index (each name is defined in this module; search for it):

  Import, Procore record → ExakTime fields (a tuple of `Field` lines, run by `apply`):
    EMPLOYEE          employee ← active Procore worker
    LOCATION          location ← active Procore project
    SUB_JOB           location ← sub-job: `<project name>.<name>`, `<number>.<code>`
    COST_CODE         cost code ← company cost code; `under_division` is the division rule
    CREW              employee group ← crews of one name, holding their employees
    PROJECT_GROUP     location group ← project, holding its sub-job locations
    PROJECT_CATEGORY  location category ← project, given to its sub-jobs
    LIMITS            what ExakTime accepts (lengths, required, ranges); `check` applies them
  Pre-import, Procore custom field → ExakTime custom field:
    EXAKTIME_FIELD_TYPES, exaktime_custom_field
    MAX_TEXT          a plain text custom field's length (255), in ExakTime and Procore
  Export, ExakTime time record → Procore timecard entries:
    HOURS             the hour kinds (regular, OT1, OT2): hours attribute, name, time type;
                      HOUR_KINDS, HOURS_FIELD, KIND_NAMES, HOUR_HEADINGS look them up by key
    MAX_HOURS         what one time record and one timecard entry hold (24)
    CUSTOM_VALUES     a custom value → Procore's type, or `Refused`; run by `custom_value`

`check` and `custom_value` turn a broken rule into a message naming the field, the
value and the limit; values are never truncated or altered to fit.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from integrations.procore.records import Project, StandardCostCode, SubJob, Worker
from integrations.values import parse_iso_date
from linx.models import CustomField, CustomFieldType


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


def divisions(codes: Iterable[StandardCostCode]) -> dict[int, StandardCostCode]:
    """The divisions among one cost code list's codes, by id (a division has no parent)."""
    return {code.id: code for code in codes if code.is_division}


def under_division(code: StandardCostCode, divisions: Mapping[int, StandardCostCode]) -> bool:
    """The seed's division rule: only a cost code that belongs to a division of its list
    is imported; the divisions themselves never are."""
    return code.parent_id in divisions


def _always(value: Any) -> Callable[[Any, Mapping[str, Any]], Any]:
    """A field every record of a table gets the same value in."""
    return lambda record, context: value


def _members(record: Any, context: Mapping[str, Any]) -> list[int]:
    return sorted(context["member_ids"])


#: Employee group ← the crews of one name on any project (the first of them), holding
#: their employees' ExakTime ids (``context["member_ids"]``).
CREW = (
    Field("name", "name", "crew name"),
    Field("group_type", _always("employee"), "group type"),
    Field("member_ids", _members, "members"),
    Field("show_in_mobile", _always(True), "shown in the mobile app"),
)

#: Location group ← project, holding its sub-job locations (``context["member_ids"]``).
PROJECT_GROUP = (
    Field("name", "name", "project name"),
    Field("group_type", _always("location"), "group type"),
    Field("member_ids", _members, "members"),
    Field("show_in_mobile", _always(True), "shown in the mobile app"),
)

#: Location category ← project; its sub-job locations are given it.
PROJECT_CATEGORY = (Field("name", "name", "project name"),)


@dataclass(frozen=True)
class Limit:
    max_length: int | None = None
    required: bool = False
    range: tuple[float, float] | None = None


#: What ExakTime accepts (as Linx uses its API). Location address lengths are not
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


def labels(table: tuple[Field, ...]) -> Mapping[str, str]:
    """Each target's label (read-only: made once per table, not once per record).

    Found by the table's identity: a cache keyed by the table itself hashed each of its
    fields on every call, once per record an import goes through."""
    found = _LABELS.get(id(table))
    if found is None or found[0] is not table:
        found = _LABELS[id(table)] = (table, MappingProxyType({f.target: f.label for f in table}))
    return found[1]


_LABELS: dict[int, tuple[tuple[Field, ...], Mapping[str, str]]] = {}


def check(entity_type: str, fields: Mapping[str, Any], names: Mapping[str, str]) -> list[str]:
    """Every way ``fields`` breaks ExakTime's limits, as messages naming field and value."""
    problems = []
    for target, limit in LIMITS.get(entity_type, {}).items():
        value = fields.get(target)
        if value is None or value == "":
            if limit.required:
                problems.append(f"its {names.get(target, target)} is empty; ExakTime needs one")
            continue
        text = isinstance(value, str)
        fits = limit.max_length is None or (text and len(value) <= limit.max_length)
        if fits and text and limit.range is None and _UNSTORABLE.search(value) is None:
            continue  # nearly every value: text that fits, checked by its length alone
        label = names.get(target, target)
        if text and "\x00" in value:
            problems.append(f"its {label} {value!r} contains a null character")
        if text and _SURROGATE.search(value):
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


# --- pre-import: custom fields ---------------------------------------------------------

#: Characters a plain text custom field holds at most ("Plain Text (short) 255 characters"),
#: in ExakTime and in Procore.
MAX_TEXT = 255

#: Procore custom field type → the ExakTime custom field Linx creates for it.
EXAKTIME_FIELD_TYPES = {
    CustomFieldType.TEXT: {"field_type": "text", "max_length": MAX_TEXT},
    CustomFieldType.DATE: {"field_type": "date"},
    CustomFieldType.CHECKBOX: {"field_type": "checkbox"},
    CustomFieldType.SELECT: {"field_type": "select"},
}


def exaktime_custom_field(field: CustomField) -> dict[str, Any]:
    """The ExakTime custom field for a selected Procore one (named by its label)."""
    fields: dict[str, Any] = {"name": field.label, **EXAKTIME_FIELD_TYPES[field.data_type]}
    if field.data_type == CustomFieldType.SELECT:
        fields["options"] = [option["label"] for option in field.options]
    fields["is_active"] = field.active and not field.gone_from_procore
    return fields


# --- export: hour kinds, limits, custom values -----------------------------------------


@dataclass(frozen=True)
class HourKind:
    """One kind of hours on an ExakTime time record; each becomes its own Procore entry."""

    key: str  # in origin ids: `<time record id>-<key>`
    hours: str  # the ExakTime time record attribute holding its hours
    name: str  # in messages: "3 OT1 hours"
    time_type: str  # the connection's setting: the Procore time type it is booked as

    @property
    def heading(self) -> str:
        return f"{self.name[:1].upper()}{self.name[1:]} hours"


HOURS = (
    HourKind("regular", "regular_hours", "regular", "time_type_regular"),
    HourKind("ot1", "ot1_hours", "OT1", "time_type_ot1"),
    HourKind("ot2", "ot2_hours", "OT2", "time_type_ot2"),
)
#: The same kinds by key, in the order above.
HOUR_KINDS = {kind.key: kind.time_type for kind in HOURS}
HOURS_FIELD = {kind.key: kind.hours for kind in HOURS}
KIND_NAMES = {kind.key: kind.name for kind in HOURS}
HOUR_HEADINGS = {kind.key: kind.heading for kind in HOURS}

#: Hours one time record, and so one Procore timecard entry, holds at most.
MAX_HOURS = Decimal(24)


class Refused(ValueError):
    """A custom value Procore's type cannot take. ``problem`` reads after "custom field
    'Label' "; ``fix`` says what to do and leads into the caller's "then re-run ..."."""

    def __init__(self, problem: str, fix: str = "Correct it in ExakTime,") -> None:
        super().__init__(f"{problem}. {fix}")
        self.problem = problem
        self.fix = fix


def _text(value: Any, options: Sequence[Mapping[str, Any]]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused(f"holds {value!r}, which is not text")
    text = str(value)
    if "\x00" in text or _SURROGATE.search(text):
        why = "contains a null character" if "\x00" in text else "is not valid Unicode"
        raise Refused(f"holds {text!r}, which {why}")
    if len(text) > MAX_TEXT:
        raise Refused(
            f"holds {len(text)} characters; Procore takes at most {MAX_TEXT}",
            "Shorten it in ExakTime,",
        )
    return text


def _date(value: Any, options: Sequence[Mapping[str, Any]]) -> str:
    day = parse_iso_date(value) if isinstance(value, str) else None
    if day is None:
        raise Refused(f"holds {value!r}, which is not a date")
    return day.isoformat()


def _checkbox(value: Any, options: Sequence[Mapping[str, Any]]) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in {"true", "false"}:
        return str(value).lower() == "true"
    raise Refused(f"holds {value!r}, which is not a checkbox value (true or false)")


def _select(value: Any, options: Sequence[Mapping[str, Any]]) -> Any:
    """A select value is sent as the id of the Procore option with that label."""
    ids = {option["label"]: option["id"] for option in options}
    # A label is text: a list or mapping from ExakTime is refused, not looked up (unhashable).
    if not isinstance(value, str) or value not in ids:
        raise Refused(
            f"holds {value!r}, which is not one of its Procore options "
            f"({', '.join(ids) or 'none'})",
            "Add the option in Procore and re-run the pre-import, or correct the record;",
        )
    return ids[value]


#: Procore custom field type → how a time record's value becomes that type.
CUSTOM_VALUES: dict[str, Callable[[Any, Sequence[Mapping[str, Any]]], Any]] = {
    CustomFieldType.TEXT: _text,
    CustomFieldType.DATE: _date,
    CustomFieldType.CHECKBOX: _checkbox,
    CustomFieldType.SELECT: _select,
}


def custom_value(data_type: str, value: Any, options: Sequence[Mapping[str, Any]] = ()) -> Any:
    """``value`` in Procore's ``data_type`` (checked, never altered); `Refused` if it is not."""
    return CUSTOM_VALUES[data_type](value, options)


# --- labels, fingerprints, changes -----------------------------------------------------

#: A lone UTF-16 surrogate: JSON can carry one ("\\ud83d"), UTF-8 and databases cannot.
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def safe_label(text: str) -> str:
    """``text`` as a row or mapping name a database can store: a null character or a lone
    surrogate shows as U+FFFD. For labels only; values are checked, never altered."""
    return _UNSTORABLE.sub("\ufffd", text)


def fingerprint(fields: Mapping[str, Any]) -> str:
    """A stable hash of what Linx writes; equal fingerprints mean nothing to write."""
    return digest(canonical(fields))


def canonical(fields: Mapping[str, Any]) -> str:
    """``fields`` as JSON text with sorted keys (what `fingerprint` hashes): decoded, it
    is `json_ready(fields)`."""
    return _CANONICAL.encode(fields)


def digest(canonical_text: str) -> str:
    """The fingerprint of fields given as their `canonical` text."""
    return hashlib.sha256(canonical_text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    return str(value)


#: ``json.dumps(fields, sort_keys=True, default=_plain, separators=(",", ":"))``, the
#: encoder made once (``dumps`` with options makes one per call).
_CANONICAL = json.JSONEncoder(sort_keys=True, default=_plain, separators=(",", ":"))


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [before, after]}`` for fields whose value differs, JSON-ready."""
    out = {}
    for key, new in after.items():
        old = before.get(key)
        if _comparable(old) != _comparable(new):
            out[key] = [_json_ready(old), _json_ready(new)]
    return out


def created_changes(after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``changes({}, after)`` for a record just created, without comparing each value
    with nothing: every field that has a value, ``[None, value]``."""
    return {key: [None, _json_ready(new)] for key, new in after.items() if new is not None}


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


#: Types that are JSON-ready as they are (most values of every record): no check further.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _json_ready(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
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
