"""Bad input from ExakTime, fed to exports through the sandbox (issue 8's bad-input corpus).

Each case punches one ExakTime time record holding one bad or unusual value (next to a
good record of the same employee), exports, and holds Linx to SPEC.md's rule. The case
ends either

- **written**: Procore's timecard entry holds the value exactly as ExakTime gave it (the
  same hours, date, text byte for byte), or
- **failed**: the record's own row failed with a message naming the field and the value,
  and nothing reached Procore or the ledger for it (or **skipped** where ExakTime's own
  data says there is nothing to export);

never a crashed run, and the good record beside it is exported all the same.

Time records are stored into the sandbox as given (as a field device's sync might send
them), so values ExakTime's API would refuse on its way in still reach Linx here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import (
    CustomField,
    EntityMapping,
    EntityType,
    ExportLedgerLine,
    Fieldset,
    Outcome,
    RunKind,
    RunStatus,
    RunTrigger,
    TimeEntryMode,
)
from linx.sync.execute import execute
from linx.sync.runs import create_run

DAY = "2026-11-18"
NEIGHBOUR_DAY = "2026-11-17"
#: Wide enough for the far past and future cases; only the records punched here fall in it.
RANGE = {"from": "1900-01-01", "to": "2999-12-31"}

EQUIPMENT = f"custom_field_{pc.CF_EQUIPMENT}"  # plain text
INSPECTION = f"custom_field_{pc.CF_INSPECTION_DATE}"  # date
PER_DIEM = f"custom_field_{pc.CF_PER_DIEM}"  # checkbox
WEATHER = f"custom_field_{pc.CF_WEATHER}"  # single select
CUSTOM = {EQUIPMENT: pc.CF_EQUIPMENT, INSPECTION: pc.CF_INSPECTION_DATE,
          PER_DIEM: pc.CF_PER_DIEM, WEATHER: pc.CF_WEATHER}  # fmt: skip
MISSING = object()  # the key is left out of the record ExakTime sends


@dataclass(frozen=True)
class Expect:
    outcome: str  # "written" | "failed" | "skipped"
    values: dict[str, Any] = field(default_factory=dict)  # written: the regular entry's
    says: tuple[str, ...] = ()  # failed/skipped: what the row's message must contain


def written(**values: Any) -> Expect:
    return Expect("written", values=values)


def failed(*says: str) -> Expect:
    return Expect("failed", says=says)


def skipped(*says: str) -> Expect:
    return Expect("skipped", says=says)


ONLY_REGULAR = {"ot1_hours": 0, "ot2_hours": 0}
ARABIC = "مضخة خرسانة رقم ٤"
EMOJI = "Pump 🚧👷🏽\u200d♀️"
SCRIPT = "<script>alert(1)</script>"
MIXED = "Pump مضخة #4 \u202eRTL"  # left-to-right and right-to-left text, an override
DECOMPOSED = "Jose\u0301's truck"  # a combining accent, not normalised


def case(fields: dict[str, Any], expected: Expect, name: str, *, mode: str = "hours", **run):
    return pytest.param(fields, expected, mode, run, id=f"{name}--{expected.outcome}")


def custom(key: str, value: Any) -> dict[str, Any]:
    return {"custom_fields": {key: value}, **ONLY_REGULAR}


CASES = [
    # --- hours and times -----------------------------------------------------------------
    case({"time_in": f"{DAY}T18:00:00-08:00", "time_out": f"{DAY}T06:00:00-08:00"},
         failed("clocks out (2026-11-18 06:00) before it clocks in (2026-11-18 18:00)"),
         "time-out-before-time-in"),
    case({"regular_hours": 25, **ONLY_REGULAR},
         failed("25 regular hours", "at most 24"), "regular-hours-over-24"),
    case({"regular_hours": 10, "ot1_hours": 10, "ot2_hours": 10},
         failed("30 hours", "regular 10, OT1 10, OT2 10", "at most 24"),
         "hours-adding-up-to-more-than-24"),
    case({"time_in": f"{DAY}T06:00:00-08:00", "time_out": "2026-11-19T12:00:00-08:00",
          "lunch_minutes": 0},
         failed("30 hours", "2026-11-18 06:00", "2026-11-19 12:00", "at most 24"),
         "start-stop-shift-longer-than-24-hours", mode=TimeEntryMode.START_STOP),
    case({"regular_hours": -8, **ONLY_REGULAR}, failed("-8 regular hours", "negative"),
         "negative-regular-hours"),
    case({"ot1_hours": -1}, failed("-1 OT1 hours", "negative"),
         "negative-overtime-beside-good-regular-hours"),
    case({"regular_hours": "eight"}, failed("regular_hours", "'eight'", "not a number"),
         "hours-as-words"),
    case({"regular_hours": True}, failed("regular_hours", "True", "not a number"),
         "hours-as-boolean"),
    case({"regular_hours": "NaN"}, failed("regular_hours", "'NaN'", "not a number"),
         "hours-nan"),
    case({"ot2_hours": "Infinity"}, failed("ot2_hours", "'Infinity'", "not a number"),
         "hours-infinite"),
    case({"regular_hours": "8.5", **ONLY_REGULAR}, written(hours="8.5"), "hours-as-text"),
    case({"regular_hours": 7.25, **ONLY_REGULAR}, written(hours="7.25"), "hours-as-decimal"),
    case({"regular_hours": None, "ot1_hours": None, "ot2_hours": None},
         skipped("no hours to export"), "hours-missing"),
    case({"lunch_minutes": "thirty"}, failed("lunch_minutes", "'thirty'", "not a whole number"),
         "lunch-as-words"),
    case({"lunch_minutes": -30}, failed("lunch", "-30", "negative"),
         "negative-lunch-start-stop", mode=TimeEntryMode.START_STOP),
    case({"time_in": "6am"}, failed("time_in", "'6am'", "ISO 8601"), "time-in-malformed"),
    case({"time_out": "later"}, failed("time_out", "'later'", "ISO 8601"),
         "time-out-malformed-is-not-still-clocked-in"),
    case({"time_out": f"{DAY}T17:30:00"}, failed("time_out", "UTC offset"),
         "time-out-without-offset"),
    # --- dates -----------------------------------------------------------------------------
    case({"work_date": "1900-01-05", **ONLY_REGULAR}, written(date="1900-01-05"),
         "work-date-1900"),
    case({"work_date": "2999-12-31", **ONLY_REGULAR}, written(date="2999-12-31"),
         "work-date-2999"),
    case({"work_date": "2026-11-31"}, failed("work_date", "'2026-11-31'", "not a date"),
         "work-date-impossible"),
    case({"work_date": "2026-11-18 noon"}, failed("work_date", "'2026-11-18 noon'", "not a date"),
         "work-date-with-junk"),
    # --- ids and flags ---------------------------------------------------------------------
    case({"id": "<string id>", **ONLY_REGULAR}, written(party_id=pc.WORKER_LINKED),
         "record-id-as-string"),
    case({"id": MISSING}, failed("has no id"), "record-id-missing"),
    case({"employee_id": str(et.EMPLOYEE_LINKED), **ONLY_REGULAR},
         written(party_id=pc.WORKER_LINKED), "employee-id-as-string"),
    case({"employee_id": "alex"}, failed("employee_id", "'alex'", "not an id"),
         "employee-id-not-a-number"),
    case({"employee_id": None}, failed("has no employee_id"), "employee-id-missing"),
    case({"job_id": "<PJA as string>", **ONLY_REGULAR}, written(project_id=pc.PROJECT_PJA),
         "job-id-as-string"),
    case({"cost_code_id": True}, failed("cost_code_id", "True", "not an id"),
         "cost-code-id-as-boolean"),
    case({"is_approved": "false"}, skipped("not approved"), "approved-false-as-text",
         approved_only=True),
    case({"is_approved": "maybe"}, failed("is_approved", "'maybe'", "true or false"),
         "approved-not-a-boolean"),
    case({"is_deleted": "true"}, skipped("deleted in ExakTime"), "deleted-true-as-text"),
    # --- custom field values ---------------------------------------------------------------
    case(custom(EQUIPMENT, ARABIC), written(**{EQUIPMENT: ARABIC}), "custom-text-arabic"),
    case(custom(EQUIPMENT, EMOJI), written(**{EQUIPMENT: EMOJI}), "custom-text-emoji"),
    case(custom(EQUIPMENT, SCRIPT), written(**{EQUIPMENT: SCRIPT}),
         "custom-text-script-tag-sent-as-is"),
    case(custom(EQUIPMENT, MIXED), written(**{EQUIPMENT: MIXED}), "custom-text-bidi"),
    case(custom(EQUIPMENT, DECOMPOSED), written(**{EQUIPMENT: DECOMPOSED}),
         "custom-text-combining-accent"),
    case(custom(EQUIPMENT, 42), written(**{EQUIPMENT: "42"}), "custom-text-as-number"),
    case(custom(EQUIPMENT, "Pump\x00 4"), failed("'Equipment Used'", r"'Pump\x00 4'", "null"),
         "custom-text-null-byte"),
    case(custom(EQUIPMENT, "Pump \ud83d"), failed("'Equipment Used'", r"'Pump \ud83d'", "Unicode"),
         "custom-text-lone-surrogate"),
    case(custom(EQUIPMENT, {"name": "Pump"}), failed("'Equipment Used'", "{'name': 'Pump'}",
                                                     "not text"), "custom-text-as-object"),
    case(custom(INSPECTION, "1900-01-01"), written(**{INSPECTION: "1900-01-01"}),
         "custom-date-1900"),
    case(custom(INSPECTION, "2026-11-20T08:00:00-08:00"), written(**{INSPECTION: "2026-11-20"}),
         "custom-date-as-timestamp-keeps-its-date"),
    case(custom(INSPECTION, "2026-11-20junk"), failed("'Inspection Date'", "'2026-11-20junk'"),
         "custom-date-with-junk"),
    case(custom(PER_DIEM, "TRUE"), written(**{PER_DIEM: True}), "custom-checkbox-as-text"),
    case(custom(PER_DIEM, "yes"), failed("'Per Diem'", "'yes'", "true or false"),
         "custom-checkbox-not-a-boolean"),
    case(custom(WEATHER, "rain"), failed("'Weather'", "'rain'", "not one of its Procore options"),
         "custom-select-other-case"),
]  # fmt: skip


# --- running a case --------------------------------------------------------------------


def exaktime_id(connection, kind, procore_id) -> int:
    mapping = EntityMapping.objects.get(connection=connection, entity_type=kind,
                                        procore_id=procore_id)  # fmt: skip
    return int(mapping.exaktime_id)


@pytest.fixture
def linked(sandbox_connection):
    """Alex Rivera, project PJA and concrete labor imported: what the punches stand on."""
    only = {EntityType.EMPLOYEE: [pc.WORKER_LINKED], EntityType.LOCATION: [pc.PROJECT_PJA],
            EntityType.COST_CODE: [pc.STANDARD_CONCRETE_LABOR]}  # fmt: skip
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                  parameters={"entities": ["employees", "locations", "cost_codes"],
                              "only": only}))  # fmt: skip
    return sandbox_connection


def select_custom_fields(connection) -> dict[int, CustomField]:
    connection.select_fieldset(Fieldset.objects.get(procore_id=pc.FIELDSET_TIMESHEET))
    connection.select_custom_fields(
        list(CustomField.objects.filter(procore_id__in=CUSTOM.values()).order_by("procore_id"))
    )
    execute(create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
    return {f.procore_id: f for f in CustomField.objects.filter(selected_slot__isnull=False)}


def punch(exaktime_sandbox, connection, fields: dict[str, Any], custom_fields=None) -> dict:
    """A time record as ExakTime's sandbox stores it; an ``id`` is written into it raw."""
    values = {k: v for k, v in fields.items() if k != "id"}
    if values.get("job_id") == "<PJA as string>":
        values["job_id"] = str(exaktime_id(connection, EntityType.LOCATION, pc.PROJECT_PJA))
    if "custom_fields" in values:
        values["custom_fields"] = {
            str(custom_fields[CUSTOM[key]].exaktime_id): value
            for key, value in values["custom_fields"].items()
        }
    record = exaktime_sandbox.add("time_record", {
        "employee_id": et.EMPLOYEE_LINKED,
        "job_id": exaktime_id(connection, EntityType.LOCATION, pc.PROJECT_PJA),
        "cost_code_id": exaktime_id(connection, EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR),
        "work_date": DAY, "time_in": f"{DAY}T06:00:00-08:00", "time_out": f"{DAY}T17:30:00-08:00",
        "lunch_minutes": 30, "regular_hours": 8.0, "ot1_hours": 2.0, "ot2_hours": 1.0,
        "is_approved": True, "custom_fields": {}, "is_deleted": False, **values,
    }, scope=1)  # fmt: skip
    if "id" in fields:
        raw = dict(record)
        if fields["id"] is MISSING:
            del raw["id"]
        else:
            raw["id"] = str(record["id"])
        exaktime_sandbox.store.execute(
            "UPDATE records SET body = ? WHERE kind = 'time_record' AND id = ?",
            (json.dumps(raw), record["id"]),
        )
    return record


from tests.resilience.test_bad_input_import import BAD_INPUT, BAD_INPUT_COLUMNS  # noqa: E402


def entries(procore_sandbox, record_id: int) -> list[dict]:
    return [
        e for e in procore_sandbox.records("timecard_entry")
        if not e.get("deleted_at") and str(e.get("origin_id", "")).startswith(f"{record_id}-")
    ]  # fmt: skip


@pytest.mark.parametrize(("fields", "expected", "mode", "parameters"), CASES)
def test_bad_exaktime_input(
    fields,
    expected,
    mode,
    parameters,
    linked,
    procore_sandbox,
    exaktime_sandbox,
    request,
    resilience_table,
):
    linked.time_entry_mode = mode
    linked.save()
    custom_fields = select_custom_fields(linked) if "custom_fields" in fields else None
    neighbour = punch(exaktime_sandbox, linked, {"work_date": NEIGHBOUR_DAY})
    record = punch(exaktime_sandbox, linked, fields, custom_fields)

    run = execute(create_run(linked, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
                        parameters={**RANGE, **parameters}))  # fmt: skip

    # Never a crashed run, and the good record beside the bad one goes through.
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    assert run.rows.get(exaktime_id=str(neighbour["id"])).outcome == Outcome.CREATED
    assert entries(procore_sandbox, neighbour["id"])
    (row,) = run.rows.exclude(exaktime_id=str(neighbour["id"]))
    resilience_table(
        BAD_INPUT,
        BAD_INPUT_COLUMNS,
        {"side": "export", "case": request.node.callspec.id, "outcome": row.outcome,
         "run": run.status},
    )  # fmt: skip
    made = entries(procore_sandbox, record["id"])
    ledger = ExportLedgerLine.objects.filter(origin_id__startswith=f"{record['id']}-")

    if expected.outcome == "written":
        assert (row.outcome, row.message) == (Outcome.CREATED, "")
        (regular,) = [e for e in made if e["origin_id"] == f"{record['id']}-regular"]
        for name, value in expected.values.items():
            sent = regular["custom_fields"][name]["value"] if name in CUSTOM else regular[name]
            # Exactly as ExakTime has it: equal and of the same type.
            assert (type(sent), sent) == (type(value), value), name
        return
    wanted = Outcome.FAILED if expected.outcome == "failed" else Outcome.SKIPPED
    assert row.outcome == wanted, row.message
    for fragment in expected.says:
        assert fragment in row.message
    assert made == [] and not ledger.exists()  # nothing reached Procore or the ledger
