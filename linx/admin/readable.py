"""A run's rows as a person reads them: field labels and names, not API names and ids.

An export row's changes hold Procore's fields (``project_id → 7000000001``); an import
row's hold ExakTime's (``first_name``). Here each field gets its label, and each id its
name from the connection's mappings and custom fields, looked up once for a page of rows.
The raw fields stay available, for the details toggle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from linx.admin.code_names import code_labels
from linx.models import Connection, CustomField, EntityMapping, EntityType
from linx.sync.rules import HOUR_HEADINGS

VALUE_MAX = 300  # characters of one before/after value shown on a page

#: Fields whose value is a Procore id, and the mappings that name it.
NAMED_BY = {
    "project_id": EntityType.LOCATION,
    "sub_job_id": EntityType.SUB_JOB,
    "party_id": EntityType.EMPLOYEE,
    "timecard_time_type_id": EntityType.TIME_TYPE,
    "work_classification_id": EntityType.WORK_CLASSIFICATION,
}
LABELS = {
    # Procore timecard entries (exports)
    "project_id": "Project",
    "sub_job_id": "Sub-job",
    "party_id": "Worker",
    "cost_code_id": "Cost code",
    "timecard_time_type_id": "Time type",
    "work_classification_id": "Classification",
    "date": "Date",
    "hours": "Hours",
    "time_in": "Clock in",
    "time_out": "Clock out",
    "lunch_time": "Lunch (minutes)",
    "billable": "Billable",
    "description": "Description",
    "entry": "Timecard entry",
    # ExakTime records (imports)
    "identifier": "ID",
    "is_active": "Active",
    "parent_job_id": "Project (parent location)",
    "category_id": "Location category",
    "member_ids": "Members",
    "show_in_mobile": "Shown in the mobile app",
    "group_type": "Group of",
    "address1": "Address",
    "zip": "ZIP code",
    "work_classification": "Classification",
    "field_type": "Type",
    "max_length": "Longest value",
    "options": "Choices",
    "lov_entries": "Choices",
    "data_type": "Type",
}
#: Bookkeeping a person never needs to read: shown only in the details toggle.
TECHNICAL = frozenset({"origin_id", "origin_data"})
CUSTOM_FIELD = "custom_field_"
MEMBERS = "member_ids"
#: Clock times, sent as ISO date-times with their offset: shown as the day and the time.
CLOCK_TIMES = frozenset({"time_in", "time_out"})
#: A project's own cost code: named from the project's kept cost code list.
PROJECT_CODE = "cost_code_id"


def shown(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = ", ".join(value)  # a select's choices, as a person lists them
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_MAX else text[: VALUE_MAX - 1] + "…"


@dataclass
class Change:
    field: str
    before: str | None
    after: str | None


@dataclass
class ChangeGroup:
    label: str  # "" for an import's flat {"field": [before, after]}
    changes: list[Change]
    raw: list[Change] = field(default_factory=list)  # the same, as Procore or ExakTime has it


def _pairs(changes: dict) -> list[tuple[str, Any, Any]]:
    return [
        (name, *value)
        if isinstance(value, list | tuple) and len(value) == 2
        else (name, None, value)
        for name, value in changes.items()
    ]


def _clock_time(raw: str) -> str | None:
    """ "2026-11-18T06:00:00-08:00" as "2026-11-18 06:00" (the time where it was punched)."""
    try:
        return datetime.fromisoformat(raw).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return shown(raw)


def _custom_id(name: str) -> int | None:
    """The Procore id of the custom field a change is to (``custom_field_9400000004``)."""
    if name.startswith(CUSTOM_FIELD) and name[len(CUSTOM_FIELD) :].isdigit():
        return int(name[len(CUSTOM_FIELD) :])
    return None


def _ids_by_field(changes: list[dict]) -> dict[str, set[int]]:
    """Every field of these rows' changes, with the ids (integers) it holds before or after."""
    found: dict[str, set[int]] = {}
    for row in changes:
        for group in row.values():
            for name, before, after in _pairs(group) if isinstance(group, dict) else ():
                ids = found.setdefault(name, set())
                ids.update(v for v in (before, after) if isinstance(v, int))
    return found


class Names:
    """Labels and names for the fields and ids of some rows of one connection."""

    def __init__(self, connection: Connection | None, changes: list[dict]) -> None:
        wanted: dict[str, set[int]] = {}
        custom: set[int] = set()
        for name, values in _ids_by_field(changes).items():
            if name in NAMED_BY or name == PROJECT_CODE:
                wanted.setdefault(NAMED_BY.get(name, PROJECT_CODE), set()).update(values)
            elif _custom_id(name) is not None:
                custom.add(_custom_id(name))
        self.names: dict[tuple[str, int], str] = {}
        self.custom_labels: dict[int, str] = {}
        self.custom_options: dict[int, dict[int, str]] = {}
        if connection is None:
            return
        for entity, ids in wanted.items():
            if entity == PROJECT_CODE:
                continue
            for procore_id, name in EntityMapping.objects.filter(
                connection=connection, entity_type=entity, procore_id__in=ids
            ).values_list("procore_id", "name"):
                self.names[entity, procore_id] = name
        projects = wanted.get(EntityType.LOCATION, set())
        for code_id, label in code_labels(
            connection, wanted.get(PROJECT_CODE, ()), projects
        ).items():
            self.names[PROJECT_CODE, code_id] = label
        for procore_id, label, options in CustomField.objects.filter(
            connection=connection, procore_id__in=custom
        ).values_list("procore_id", "label", "options"):
            self.custom_labels[procore_id] = label
            self.custom_options[procore_id] = {
                o["id"]: o.get("label") for o in options or () if isinstance(o, dict) and "id" in o
            }

    def label(self, name: str) -> str:
        if (custom := _custom_id(name)) is not None:
            return self.custom_labels.get(custom, "Custom field")
        return LABELS.get(name) or name.replace("_", " ").capitalize()

    def value(self, name: str, raw: Any) -> str | None:
        if name in CLOCK_TIMES and isinstance(raw, str):
            return _clock_time(raw)
        if name == MEMBERS and isinstance(raw, list):  # ExakTime ids: how many, not which
            return f"{len(raw)} member{'s' if len(raw) != 1 else ''}" if raw else "none"
        if isinstance(raw, int) and not isinstance(raw, bool):
            if name in NAMED_BY or name == PROJECT_CODE:
                return self.names.get((NAMED_BY.get(name, PROJECT_CODE), raw)) or shown(raw)
            if (custom := _custom_id(name)) is not None:  # a single select's option
                return self.custom_options.get(custom, {}).get(raw) or shown(raw)
        return shown(raw)

    def group(self, label: str, changes: dict) -> ChangeGroup:
        pairs = _pairs(changes)
        return ChangeGroup(
            label,
            [
                Change(self.label(n), self.value(n, b), self.value(n, a))
                for n, b, a in pairs
                if n not in TECHNICAL
            ],
            [Change(n, shown(b), shown(a)) for n, b, a in pairs],
        )


def change_groups(changes: dict | None, names: Names) -> list[ChangeGroup]:
    """A row's changes, readable: ``{"field": [before, after]}`` as one group, and an
    export's ``{"regular": {"hours": [a, b]}, ...}`` as one group per hour kind."""
    flat = {k: v for k, v in (changes or {}).items() if not isinstance(v, dict)}
    groups = [names.group("", flat)] if flat else []
    return groups + [
        names.group(HOUR_HEADINGS.get(key, key), value)
        for key, value in (changes or {}).items()
        if isinstance(value, dict)
    ]
