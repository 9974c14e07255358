"""Export (AccountLinx) against the sandboxes: SPEC.md's export rules, exactly once.

Time records are punched into the ExakTime sandbox by the tests themselves, for
employees, locations and cost codes a real import linked, and every assertion looks at
what Procore's sandbox holds afterwards.
"""

from __future__ import annotations

import pytest

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import (
    EntityMapping,
    EntityType,
    ExportLedgerLine,
    OpenFailure,
    Outcome,
    RunKind,
    RunStatus,
    RunTrigger,
    TimeEntryMode,
)
from linx.sync.execute import execute, rerun_failed
from linx.sync.runs import create_run

DAY = "2026-11-18"


def export(connection, **parameters):
    dry_run = parameters.pop("dry_run", False)
    parameters = {"from": "2026-11-16", "to": "2026-11-22", **parameters}
    return execute(
        create_run(
            connection,
            RunKind.EXPORT,
            trigger=RunTrigger.COMMAND,
            dry_run=dry_run,
            parameters=parameters,
        )
    )


def exaktime_id(kind, procore_id) -> int:
    return int(EntityMapping.objects.get(entity_type=kind, procore_id=procore_id).exaktime_id)


@pytest.fixture
def linked(sandbox_connection, exaktime_sandbox):
    """Employees, locations and cost codes imported: the mappings an export stands on."""
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                  parameters={"entities": ["employees", "locations", "cost_codes"]}))  # fmt: skip
    return sandbox_connection


@pytest.fixture
def punch(linked, exaktime_sandbox):
    """Add a time record in ExakTime (Alex Rivera at PJA, concrete labor, 8 + 2 + 1 hours)."""

    def add(**fields):
        record = {
            "employee_id": et.EMPLOYEE_LINKED,
            "job_id": exaktime_id(EntityType.LOCATION, pc.PROJECT_PJA),
            "cost_code_id": exaktime_id(EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR),
            "work_date": DAY,
            "time_in": f"{DAY}T06:00:00-08:00",
            "time_out": f"{DAY}T17:30:00-08:00",
            "lunch_minutes": 30,
            "regular_hours": 8.0,
            "ot1_hours": 2.0,
            "ot2_hours": 1.0,
            "is_approved": True,
            "custom_fields": {},
            "is_deleted": False,
            "revision": 1,
            **fields,
        }
        return exaktime_sandbox.add("time_record", record, scope=1)

    return add


def entries(procore_sandbox, **equal) -> list[dict]:
    """The timecard entries Procore holds (a deleted one is kept, marked, by the sandbox)."""
    return [
        e for e in procore_sandbox.records("timecard_entry", **equal) if not e.get("deleted_at")
    ]


def procore_writes(procore_sandbox) -> list[dict]:
    return [
        r for r in procore_sandbox.requests()
        if r["method"] in ("POST", "PATCH", "DELETE") and r["path"].startswith("/rest/")
    ]  # fmt: skip


def time_type(procore_sandbox, abbreviation) -> int:
    (found,) = [
        t["id"] for t in procore_sandbox.records("timecard_time_type", scope=pc.COMPANY_ID)
        if t["abbreviated_time_type"] == abbreviation
    ]  # fmt: skip
    return found


# --- what an entry carries -----------------------------------------------------------------


def test_one_entry_per_hour_kind_with_its_time_type_and_origin(punch, linked, procore_sandbox):
    record = punch()
    run = export(linked)
    assert run.status == RunStatus.SUCCEEDED
    made = {e["origin_id"]: e for e in entries(procore_sandbox)}
    assert set(made) == {f"{record['id']}-regular", f"{record['id']}-ot1", f"{record['id']}-ot2"}
    regular, ot1, ot2 = (made[f"{record['id']}-{k}"] for k in ("regular", "ot1", "ot2"))
    assert float(regular["hours"]) == 8 and float(ot1["hours"]) == 2 and float(ot2["hours"]) == 1
    assert regular["timecard_time_type_id"] == time_type(procore_sandbox, "REG")
    assert ot1["timecard_time_type_id"] == time_type(procore_sandbox, "OT")
    assert ot2["timecard_time_type_id"] == time_type(procore_sandbox, "DT")
    assert regular["origin_data"] == str(record["revision"])
    assert regular["project_id"] == pc.PROJECT_PJA
    assert regular["party_id"] == pc.WORKER_LINKED
    assert regular["cost_code_id"] == pc.PJA_COST_CODE_CONCRETE_LABOR  # the project's code
    worker = procore_sandbox.get("user", pc.WORKER_LINKED)
    assert regular["work_classification_id"] == worker["work_classification_id"]
    assert regular["date"] == DAY
    row = run.rows.get()
    assert (row.entity_type, row.outcome, row.exaktime_id) == (
        "time_record",
        Outcome.CREATED,
        str(record["id"]),
    )


def test_a_sub_job_location_books_the_project_and_the_sub_job(punch, linked, procore_sandbox):
    punch(job_id=exaktime_id(EntityType.SUB_JOB, pc.SUB_JOB_SJB), ot1_hours=0, ot2_hours=0)
    export(linked)
    (entry,) = entries(procore_sandbox)
    assert (entry["project_id"], entry["sub_job_id"]) == (pc.PROJECT_PJA, pc.SUB_JOB_SJB)


def test_a_cost_code_not_linked_by_id_is_found_by_its_full_code(punch, linked, procore_sandbox):
    punch(
        cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ROUGH_CARPENTRY),
        ot1_hours=0,
        ot2_hours=0,
    )
    export(linked)
    (entry,) = entries(procore_sandbox)
    assert entry["cost_code_id"] == pc.PJA_COST_CODE_ROUGH_CARPENTRY


def test_start_stop_mode_sends_times_and_lunch_instead_of_hours(punch, linked, procore_sandbox):
    linked.time_entry_mode = TimeEntryMode.START_STOP
    linked.save()
    punch()
    export(linked)
    (entry,) = entries(procore_sandbox)
    assert entry["time_in"].startswith(DAY) and entry["lunch_time"] == 30
    assert entry["time_out"] > entry["time_in"]


# --- rows that must fail alone ------------------------------------------------------------


def test_a_cost_code_not_set_up_on_the_project_fails_naming_both(punch, linked, procore_sandbox):
    bad = punch(cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR))
    good = punch(work_date="2026-11-17")
    run = export(linked)
    failed = run.rows.get(exaktime_id=str(bad["id"]))
    assert failed.outcome == Outcome.FAILED
    assert "Cost code 26-26010 is not set up on Procore project 200 'PJA'" in failed.message
    assert "Add it to the project's budget codes, then re-run the failed rows" in failed.message
    assert run.rows.get(exaktime_id=str(good["id"])).outcome == Outcome.CREATED
    assert run.status == RunStatus.PARTIAL
    assert all(e["origin_id"].startswith(f"{good['id']}-") for e in entries(procore_sandbox))


def test_a_deleted_project_cost_code_counts_as_not_set_up(punch, linked):
    bad = punch(cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_DRYWALL))
    failed = export(linked).rows.get(exaktime_id=str(bad["id"]))
    assert "is not set up on Procore project 200 'PJA'" in failed.message


def test_unlinked_employee_location_and_cost_code_fail_naming_what_to_fix(punch, linked):
    employee = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY)
    location = punch(job_id=et.JOB_SHOP)
    code = punch(cost_code_id=et.COST_CODE_OVERHEAD)
    run = export(linked)
    assert "employee 9001" in run.rows.get(exaktime_id=str(employee["id"])).message
    assert (
        "is not linked to a Procore worker" in run.rows.get(exaktime_id=str(employee["id"])).message
    )
    assert "location SHOP" in run.rows.get(exaktime_id=str(location["id"])).message
    assert "cost code OH" in run.rows.get(exaktime_id=str(code["id"])).message


def test_a_sub_job_no_longer_active_on_the_project_fails_naming_it(punch, linked, procore_sandbox):
    record = punch(job_id=exaktime_id(EntityType.SUB_JOB, pc.SUB_JOB_SJB))
    procore_sandbox.update("sub_job", pc.SUB_JOB_SJB, active=False)
    row = export(linked).rows.get(exaktime_id=str(record["id"]))
    assert row.outcome == Outcome.FAILED
    assert (
        "sub-job 'PJA.SJB' is not set up (or not active) on Procore project 200 'PJA'"
        in row.message
    )


def test_bad_hours_and_times_fail_on_their_own_rows(punch, linked, procore_sandbox):
    too_long = punch(regular_hours=25.0, ot1_hours=0, ot2_hours=0)
    backwards = punch(time_in=f"{DAY}T18:00:00-08:00", time_out=f"{DAY}T06:00:00-08:00")
    run = export(linked)
    assert "25" in run.rows.get(exaktime_id=str(too_long["id"])).message
    assert "at most 24" in run.rows.get(exaktime_id=str(too_long["id"])).message
    assert "clocks out" in run.rows.get(exaktime_id=str(backwards["id"])).message
    assert entries(procore_sandbox) == []


def test_approved_only_skips_unapproved_records(punch, linked, procore_sandbox):
    unapproved = punch(is_approved=False)
    run = export(linked, approved_only=True)
    row = run.rows.get(exaktime_id=str(unapproved["id"]))
    assert row.outcome == Outcome.SKIPPED and "not approved" in row.message
    assert entries(procore_sandbox) == []


def test_a_record_still_clocked_in_waits(punch, linked, procore_sandbox):
    open_shift = punch(time_out=None, regular_hours=0, ot1_hours=0, ot2_hours=0)
    row = export(linked).rows.get(exaktime_id=str(open_shift["id"]))
    assert row.outcome == Outcome.SKIPPED and "still clocked in" in row.message


def test_a_refused_bulk_batch_falls_back_so_only_bad_entries_fail(punch, linked, procore_sandbox):
    # A work classification deleted in Procore after the import: only Alex's entries are refused.
    mapping = EntityMapping.objects.get(
        entity_type=EntityType.EMPLOYEE, procore_id=pc.WORKER_LINKED
    )
    mapping.data = {**mapping.data, "work_classification_id": 9_199_999_999}
    mapping.save()
    other = (
        EntityMapping.objects.filter(entity_type=EntityType.EMPLOYEE).exclude(pk=mapping.pk).first()
    )
    bad = punch()
    good = punch(employee_id=int(other.exaktime_id))

    run = export(linked)

    assert run.rows.get(exaktime_id=str(bad["id"])).outcome == Outcome.FAILED
    assert "Work classification" in run.rows.get(exaktime_id=str(bad["id"])).message
    assert run.rows.get(exaktime_id=str(good["id"])).outcome == Outcome.CREATED
    assert {e["origin_id"].split("-")[0] for e in entries(procore_sandbox)} == {str(good["id"])}
    assert not ExportLedgerLine.objects.filter(origin_id__startswith=f"{bad['id']}-").exists()


# --- custom fields -----------------------------------------------------------------------


@pytest.fixture
def weather(linked, exaktime_sandbox):
    """The four supported custom fields of the timesheet fieldset, carried into ExakTime."""
    from linx.models import CustomField, Fieldset

    linked.select_fieldset(Fieldset.objects.get(procore_id=pc.FIELDSET_TIMESHEET))
    chosen = [pc.CF_EQUIPMENT, pc.CF_INSPECTION_DATE, pc.CF_PER_DIEM, pc.CF_WEATHER]
    linked.select_custom_fields(
        list(CustomField.objects.filter(procore_id__in=chosen).order_by("procore_id"))
    )
    execute(create_run(linked, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
    return {f.procore_id: f for f in CustomField.objects.filter(selected_slot__isnull=False)}


def values(fields: dict, **by_procore_id) -> dict[str, object]:
    """A time record's custom_fields, keyed by the ExakTime ids of the selected fields."""
    return {str(fields[int(k[3:])].exaktime_id): v for k, v in by_procore_id.items()}


def test_custom_values_are_sent_in_procores_types(punch, linked, weather, procore_sandbox):
    punch(
        custom_fields=values(
            weather,
            **{
                f"cf_{pc.CF_EQUIPMENT}": "Pump truck #4",
                f"cf_{pc.CF_INSPECTION_DATE}": "2026-11-20",
                f"cf_{pc.CF_PER_DIEM}": True,
                f"cf_{pc.CF_WEATHER}": "Rain",
            },
        ),
        ot1_hours=0,
        ot2_hours=0,
    )
    export(linked)
    (entry,) = entries(procore_sandbox)
    sent = {name: value["value"] for name, value in entry["custom_fields"].items()}
    assert sent[f"custom_field_{pc.CF_EQUIPMENT}"] == "Pump truck #4"  # plain text
    assert sent[f"custom_field_{pc.CF_INSPECTION_DATE}"] == "2026-11-20"  # ISO date
    assert sent[f"custom_field_{pc.CF_PER_DIEM}"] is True  # checkbox
    assert sent[f"custom_field_{pc.CF_WEATHER}"] == pc.LOV_RAIN  # the option's id


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("cf_EQUIPMENT", "x" * 256, "holds 256 characters; Procore takes at most 255"),
        ("cf_INSPECTION_DATE", "next Tuesday", "'next Tuesday', which is not a date"),
        ("cf_PER_DIEM", "maybe", "'maybe', which is not a checkbox value"),
    ],
)
def test_a_custom_value_that_does_not_fit_fails_its_row(
    punch, linked, weather, field, value, complaint
):
    procore_id = getattr(pc, field.replace("cf_", "CF_"))
    record = punch(custom_fields=values(weather, **{f"cf_{procore_id}": value}))
    row = export(linked).rows.get(exaktime_id=str(record["id"]))
    assert row.outcome == Outcome.FAILED
    assert complaint in row.message


def test_a_select_value_procore_does_not_offer_fails_its_row(
    punch, linked, weather, procore_sandbox
):
    select = weather[pc.CF_WEATHER]
    record = punch(custom_fields={str(select.exaktime_id): "Hail"})
    row = export(linked).rows.get(exaktime_id=str(record["id"]))
    assert row.outcome == Outcome.FAILED
    assert (
        "'Hail', which is not one of its Procore options (Sunny, Rain, Snow, Wind)" in row.message
    )


# --- exactly once --------------------------------------------------------------------------


def test_re_exporting_unchanged_records_sends_nothing(punch, linked, procore_sandbox):
    punch()
    punch(work_date="2026-11-17")
    export(linked)
    procore_sandbox.clear_requests()
    again = export(linked)
    assert procore_writes(procore_sandbox) == []
    assert again.counts == {"unchanged": 2}
    assert len(entries(procore_sandbox)) == 6


def test_a_changed_record_updates_its_entries_in_place(
    punch, linked, procore_sandbox, exaktime_sandbox
):
    record = punch()
    export(linked)
    ids = {e["origin_id"]: e["id"] for e in entries(procore_sandbox)}
    exaktime_sandbox.update("time_record", record["id"], regular_hours=7.5)

    run = export(linked)

    row = run.rows.get()
    assert row.outcome == Outcome.UPDATED
    assert row.changes["regular"]["hours"] == ["8.0", "7.5"]
    regular = next(
        e for e in entries(procore_sandbox) if e["origin_id"] == f"{record['id']}-regular"
    )
    assert regular["id"] == ids[f"{record['id']}-regular"]  # the same entry, patched
    assert float(regular["hours"]) == 7.5
    changed = exaktime_sandbox.get("time_record", record["id"])
    assert regular["origin_data"] == str(changed["revision"]) != str(record["revision"])
    assert len(entries(procore_sandbox)) == 3


def test_hours_that_disappear_delete_their_entry(punch, linked, procore_sandbox, exaktime_sandbox):
    record = punch()
    export(linked)
    exaktime_sandbox.update("time_record", record["id"], ot2_hours=0)
    run = export(linked)
    assert run.rows.get().outcome == Outcome.UPDATED
    assert {e["origin_id"] for e in entries(procore_sandbox)} == {
        f"{record['id']}-regular",
        f"{record['id']}-ot1",
    }


def test_a_record_deleted_in_exaktime_deletes_its_entries(
    punch, linked, procore_sandbox, exaktime_sandbox
):
    record = punch()
    export(linked)
    exaktime_sandbox.update("time_record", record["id"], is_deleted=True)
    run = export(linked)
    assert run.rows.get().outcome == Outcome.DELETED
    assert entries(procore_sandbox) == []
    assert not ExportLedgerLine.objects.all().exists()


def test_a_connection_dropped_after_the_bulk_write_creates_no_duplicate(
    punch, linked, procore_sandbox
):
    records = [punch(work_date=f"2026-11-{day}") for day in (16, 17, 18)]
    procore_sandbox.faults.set("drop_after_write", method="POST", path="/rest/v1.0/companies")

    run = export(linked)

    assert run.counts == {"created": 3}  # found by origin_id, not sent again
    made = [e["origin_id"] for e in entries(procore_sandbox)]
    assert len(made) == len(set(made)) == 9
    assert {m.split("-")[0] for m in made} == {str(r["id"]) for r in records}
    again = export(linked)
    assert again.counts == {"unchanged": 3}
    assert len(entries(procore_sandbox)) == 9


def test_a_worker_killed_after_sending_leaves_pending_lines_the_next_run_settles(
    punch, linked, procore_sandbox, monkeypatch
):
    """The create reached Procore, then the process died before recording the answer."""
    from integrations.procore.client import ProcoreClient

    punch()
    real_send = ProcoreClient.send_timecard_entries

    def send_then_die(self, batch):
        answer = real_send(self, batch)

        def die():
            answer()  # Procore created them
            raise KeyboardInterrupt  # the worker is gone: nothing after the answer ran

        return die

    monkeypatch.setattr(ProcoreClient, "send_timecard_entries", send_then_die)
    with pytest.raises(KeyboardInterrupt):
        export(linked)
    monkeypatch.undo()
    pending = ExportLedgerLine.objects.filter(procore_id__isnull=True)
    assert pending.count() == 3

    from linx.models import SyncRun

    SyncRun.objects.filter(status=RunStatus.RUNNING).update(status=RunStatus.FAILED)  # reaped
    run = export(linked)

    assert run.counts == {"unchanged": 1}
    assert len(entries(procore_sandbox)) == 3  # not 6
    assert not pending.exists()


def test_pending_lines_whose_create_never_arrived_are_created_once(punch, linked, procore_sandbox):
    record = punch(ot1_hours=0, ot2_hours=0)
    ExportLedgerLine.objects.create(
        connection=linked, origin_id=f"{record['id']}-regular", time_record_id=record["id"],
        kind="regular", work_date=DAY, party_id=pc.WORKER_LINKED,
    )  # fmt: skip
    run = export(linked)
    assert run.counts == {"created": 1}
    assert len(entries(procore_sandbox)) == 1


def test_a_dry_run_shows_the_entries_and_sends_nothing(punch, linked, procore_sandbox):
    punch()
    dry = export(linked, dry_run=True)
    assert dry.counts == {"created": 1}
    assert procore_writes(procore_sandbox) == []
    assert not ExportLedgerLine.objects.all().exists()


def test_an_export_that_finds_no_time_records_says_so_in_words(linked, procore_sandbox):
    for dry_run in (True, False):
        run = export(linked, dry_run=dry_run, approved_only=True)
        assert (run.status, run.counts) == (RunStatus.SUCCEEDED, {})
        assert run.message == (
            "ExakTime holds no approved time records dated 2026-11-16 to 2026-11-22: nothing "
            "to export. Check the dates, or whether the crews have punched that week yet."
        )
    assert procore_writes(procore_sandbox) == []


def test_an_export_that_finds_records_carries_no_such_note(punch, linked):
    punch()
    assert export(linked).message == ""


def test_re_running_failed_rows_exports_only_those_records(punch, linked, procore_sandbox):
    bad = punch(cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR))
    punch(work_date="2026-11-17")
    first = export(linked)
    procore_sandbox.add("cost_code", {
        "code": "26010", "full_code": "26-26010", "name": "Electrical Labor",
        "standard_cost_code_id": pc.STANDARD_ELECTRICAL_LABOR, "deleted_at": None,
    }, scope=pc.PROJECT_PJA)  # fmt: skip

    rerun = execute(rerun_failed(first, trigger=RunTrigger.RERUN))

    assert [r.exaktime_id for r in rerun.rows.all()] == [str(bad["id"])]
    assert rerun.counts == {"created": 1}


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "retry_after": 1, "count": 3},
        {"status": 503, "retry_after": 1, "count": 2},
        {"status": 502, "count": 2},
    ],
    ids=["429-storm", "503-retry-after", "502-burst"],
)
def test_rate_limit_and_overload_storms_are_ridden_out(punch, linked, procore_sandbox, fault):
    for day in (16, 17, 18):
        punch(work_date=f"2026-11-{day}")
    procore_sandbox.faults.set("status", path="/rest/v1.0/", **fault)

    run = export(linked)

    made = [e["origin_id"] for e in entries(procore_sandbox)]
    assert len(made) == len(set(made)) == 9
    assert run.counts in ({"created": 3}, {"created": 2, "failed": 1}, {"created": 1, "failed": 2})
    if run.counts != {"created": 3}:
        # A write Procore answered 5xx may or may not have been applied: the row says so
        # and the next run settles it from Procore's own list.
        again = execute(rerun_failed(run, trigger=RunTrigger.RERUN))
        assert again.counts.get("failed", 0) == 0
    assert len(entries(procore_sandbox)) == 9


# --- healing within the run: unknown outcomes are checked, then sent again ------------------

TIMESHEETS = f"/rest/v1.0/companies/{pc.COMPANY_ID}/timesheets"
ENTRIES = f"/rest/v1.0/companies/{pc.COMPANY_ID}/timecard_entries"


def sent(procore_sandbox, method, path) -> list[dict]:
    return [r for r in procore_sandbox.requests() if r["method"] == method and r["path"] == path]


def test_a_5xx_on_a_create_is_checked_then_sent_again_in_the_same_run(
    punch, linked, procore_sandbox, capsys
):
    """One 500 on the bulk create, then a 500, a 503 with Retry-After and a 429 while
    Linx lists what Procore holds: the export still ends succeeded, each entry once."""
    from django.core.management import call_command

    records = [punch(work_date=f"2026-11-{day}") for day in (16, 17)]
    faults = procore_sandbox.faults
    faults.set("status", status=500, method="POST", path=TIMESHEETS)
    faults.set("status", status=500, method="GET", path=ENTRIES)
    faults.set("status", status=503, retry_after=1, path=ENTRIES)
    faults.set("status", status=429, retry_after=1, path=ENTRIES)

    code = 0
    try:
        call_command("linx_export", "sandbox", "--from", "2026-11-16", "--to", "2026-11-22")
    except SystemExit as leave:
        code = leave.code

    assert code == 0
    assert faults.active() == []  # every fault was met
    (run,) = linked.runs.filter(kind=RunKind.EXPORT)
    assert run.status == RunStatus.SUCCEEDED and run.counts == {"created": 2}
    made = [e["origin_id"] for e in entries(procore_sandbox)]
    assert sorted(made) == sorted(
        f"{r['id']}-{k}" for r in records for k in ("regular", "ot1", "ot2")
    )
    posts = sent(procore_sandbox, "POST", TIMESHEETS)
    assert [p["status"] for p in posts] == [500, 201]  # sent again only once confirmed absent
    readings = [r for r in sent(procore_sandbox, "GET", ENTRIES) if r["status"] == 200]
    assert len(readings) == 2  # absence seen twice before the second send
    assert not ExportLedgerLine.objects.filter(procore_id__isnull=True).exists()


def test_a_create_that_landed_although_its_answer_was_a_5xx_is_not_sent_again(
    punch, linked, procore_sandbox, monkeypatch
):
    """Procore answered 500 but stored the entries a moment later: the second look finds them."""
    from linx.sync.export_send import Sender

    punch()
    procore_sandbox.faults.set("status", status=500, method="POST", path=TIMESHEETS)
    landed = []

    def meanwhile_they_land(exporter):
        if not landed:  # what the lost create would have stored, as Procore stores it
            exporter.procore.create_timecard_entries(
                [line.fields for line in ExportLedgerLine.objects.filter(procore_id__isnull=True)]
            )  # fmt: skip
            landed.append(True)

    monkeypatch.setattr(Sender, "pause", meanwhile_they_land)
    run = export(linked)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {"created": 1}
    assert len(entries(procore_sandbox)) == 3  # found by origin_id, never sent a third time
    assert [p["status"] for p in sent(procore_sandbox, "POST", TIMESHEETS)] == [500, 201]


def test_a_create_that_keeps_failing_is_sent_three_times_then_fails_its_row(
    punch, linked, procore_sandbox
):
    punch()
    procore_sandbox.faults.set("status", status=500, count=None, method="POST", path=TIMESHEETS)

    run = export(linked)

    assert run.counts == {"failed": 1}
    (failed,) = run.rows.all()
    assert failed.outcome == Outcome.FAILED and failed.retryable
    assert (
        "3 sends went unanswered" in failed.message and "re-run the failed rows" in failed.message
    )
    assert len(sent(procore_sandbox, "POST", TIMESHEETS)) == 3
    assert entries(procore_sandbox) == []
    procore_sandbox.faults.clear()
    again = execute(rerun_failed(run, trigger=RunTrigger.RERUN))
    assert again.counts == {"created": 1} and len(entries(procore_sandbox)) == 3


def test_a_5xx_on_an_update_is_checked_then_patched_again(
    punch, linked, procore_sandbox, exaktime_sandbox
):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    exaktime_sandbox.update("time_record", record["id"], regular_hours=7.5, revision=2)
    procore_sandbox.faults.set("status", status=500, method="PATCH", path=ENTRIES)

    run = export(linked)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {"updated": 1}
    (entry,) = entries(procore_sandbox)
    assert float(entry["hours"]) == 7.5
    assert [p["status"] for p in procore_sandbox.requests() if p["method"] == "PATCH"] == [500, 200]


def test_an_update_that_landed_although_its_answer_was_lost_is_not_sent_again(
    punch, linked, procore_sandbox, exaktime_sandbox
):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    exaktime_sandbox.update("time_record", record["id"], regular_hours=6, revision=2)
    procore_sandbox.faults.set("drop_after_write", method="PATCH", path=ENTRIES)

    run = export(linked)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {"updated": 1}
    (entry,) = entries(procore_sandbox)
    assert float(entry["hours"]) == 6
    assert len([p for p in procore_sandbox.requests() if p["method"] == "PATCH"]) == 1
    assert export(linked).counts == {"unchanged": 1}


def test_a_delete_that_keeps_failing_is_checked_gone_or_deleted_again(
    punch, linked, procore_sandbox, exaktime_sandbox, monkeypatch
):
    from linx.sync.export_send import Sender

    first = punch(ot1_hours=0, ot2_hours=0)
    second = punch(ot1_hours=0, ot2_hours=0, work_date="2026-11-17")
    export(linked)
    for record in (first, second):
        exaktime_sandbox.update("time_record", record["id"], is_deleted=True)
    # Every try of the first delete fails (the client's own retries included) ...
    procore_sandbox.faults.set("status", status=500, count=7, method="DELETE", path=ENTRIES)
    looked = []

    def pause(exporter):
        looked.append(True)

    monkeypatch.setattr(Sender, "pause", pause)
    run = export(linked)

    # ... so Linx looks: the entry is still there, and it is deleted again.
    assert run.status == RunStatus.SUCCEEDED and run.counts == {"deleted": 2}
    assert entries(procore_sandbox) == []
    assert looked
    assert not ExportLedgerLine.objects.all().exists()


def test_a_delete_whose_entry_is_found_gone_is_done(
    punch, linked, procore_sandbox, exaktime_sandbox, monkeypatch
):
    from linx.sync.export_send import Sender

    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    (entry,) = entries(procore_sandbox)
    exaktime_sandbox.update("time_record", record["id"], is_deleted=True)
    procore_sandbox.faults.set("status", status=500, count=None, method="DELETE", path=ENTRIES)

    def deleted_meanwhile(exporter):  # the failed delete had landed after all
        procore_sandbox.update("timecard_entry", entry["id"], deleted_at="2026-11-20T00:00:00Z")

    monkeypatch.setattr(Sender, "pause", deleted_meanwhile)
    run = export(linked)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {"deleted": 1}
    assert not ExportLedgerLine.objects.all().exists()


def test_the_ledger_is_read_in_slices_for_big_weeks(punch, linked, procore_sandbox, monkeypatch):
    from linx.sync import export_ledger

    monkeypatch.setattr(export_ledger, "LEDGER_SLICE", 2)  # SQLite caps the values of one IN (...)
    for day in (16, 17, 18):
        punch(work_date=f"2026-11-{day}")
    export(linked)
    assert export(linked).counts == {"unchanged": 3}  # every line found across the slices
    assert len(entries(procore_sandbox)) == 9


def test_an_entry_holds_an_update_only_when_every_sent_value_is_there():
    from decimal import Decimal

    from integrations.procore.records import TimecardEntry
    from linx.sync.export_send import holds

    entry = TimecardEntry.from_api({
        "id": 1, "project_id": 7, "party_id": 5, "date": DAY, "hours": "7.50",
        "timecard_time_type_id": 3, "origin_data": "2", "custom_field_12": {"value": "Sunny"},
    })  # fmt: skip
    sent = {"party_id": 5, "date": DAY, "hours": "7.5", "timecard_time_type_id": 3,
            "origin_data": "2", "custom_field_12": "Sunny", "billable": False}  # fmt: skip
    assert entry.hours == Decimal("7.5") and holds(entry, sent)
    assert not holds(entry, {**sent, "hours": "8"})
    assert not holds(entry, {**sent, "origin_data": "3"})
    assert not holds(entry, {**sent, "custom_field_12": "Rain"})
    assert not holds(entry, {**sent, "cost_code_id": 9})  # not there at all


def test_a_failed_time_record_stays_open_and_is_retried_by_the_next_export_of_its_range(
    punch, linked, exaktime_sandbox
):
    bad = punch(cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR))
    export(linked)
    failing = OpenFailure.objects.filter(connection=linked, kind=RunKind.EXPORT)
    assert list(failing.values_list("source_id", flat=True)) == [str(bad["id"])]

    # Not changed in ExakTime: the next export of a range that holds it tries it again.
    again = export(linked, **{"from": DAY, "to": DAY})
    assert again.rows.get(exaktime_id=str(bad["id"])).outcome == Outcome.FAILED
    assert failing.count() == 1

    exaktime_sandbox.update(
        "time_record",
        bad["id"],
        cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR),
        revision=2,
    )
    fixed = export(linked)
    assert fixed.rows.get(exaktime_id=str(bad["id"])).outcome == Outcome.CREATED
    assert not failing.exists()


def test_an_export_row_is_named_as_a_person_reads_it(punch, linked):
    punch()
    (row,) = export(linked, dry_run=True).rows.all()
    assert row.name == "Alex Rivera, 2026-11-18 · PJA · 03-3010 Concrete Labor"


def test_a_record_shown_again_on_the_next_page_is_exported_once_as_read_last(
    punch, linked, procore_sandbox, monkeypatch
):
    """A list that changes while its pages are read shows the record at the seam twice;
    the export plans as it reads, and still sends that record once, as last read."""
    from dataclasses import replace
    from decimal import Decimal

    from integrations.exaktime.client import ExakTimeClient

    seam, other = punch(), punch(employee_id=et.EMPLOYEE_LINKED, work_date="2026-11-17")
    reading = ExakTimeClient.time_records

    def shown_twice(self, *args, **kwargs):
        records = list(reading(self, *args, **kwargs))
        again = [replace(r, regular_hours=Decimal(7)) for r in records if r.id == seam["id"]]
        return iter([*records, *again])

    monkeypatch.setattr(ExakTimeClient, "time_records", shown_twice)
    run = export(linked)
    assert run.status == RunStatus.SUCCEEDED
    assert run.counts == {Outcome.CREATED: 2}
    made = [e for e in entries(procore_sandbox) if e["origin_id"] == f"{seam['id']}-regular"]
    assert [float(e["hours"]) for e in made] == [7]
    assert {e["origin_id"] for e in entries(procore_sandbox)} >= {f"{other['id']}-regular"}


def test_a_run_stopped_while_a_bulk_create_is_out_completes_its_ledger_and_duplicates_nothing(
    punch, linked, procore_sandbox, monkeypatch
):
    """A batch is out while the previous one's rows are recorded: when the run stops
    there (a cancel), the batch out is still completed in the ledger, and the next
    export creates only what is missing."""
    from linx.sync import export_send
    from linx.sync.exports import Exporter
    from linx.sync.runs import RunStopped

    records = [punch(work_date=f"2026-11-{day}") for day in (16, 17, 18)]  # 9 entries
    monkeypatch.setattr(export_send, "BULK", 2)
    recorded = Exporter.finish_record

    def stop_at_first_row(self, result):
        monkeypatch.setattr(Exporter, "finish_record", recorded)
        raise RunStopped("Cancelled by an operator.")

    monkeypatch.setattr(Exporter, "finish_record", stop_at_first_row)
    stopped = export(linked)
    assert stopped.status == RunStatus.CANCELLED
    held = entries(procore_sandbox)
    assert 0 < len(held) < 9  # up to the batch out when the run stopped
    lines = ExportLedgerLine.objects.filter(connection=linked)
    assert not lines.filter(procore_id__isnull=True).exists()  # none left pending
    assert sorted(line.procore_id for line in lines) == sorted(e["id"] for e in held)
    monkeypatch.setattr(Exporter, "finish_record", recorded)
    again = export(linked)
    assert again.status == RunStatus.SUCCEEDED
    origins = [e["origin_id"] for e in entries(procore_sandbox)]
    assert sorted(origins) == sorted(
        f"{r['id']}-{k}" for r in records for k in ("regular", "ot1", "ot2")
    )


def test_a_refusal_that_ends_the_run_sends_no_batch_after_it_and_leaves_nothing_pending(
    punch, linked, procore_sandbox, monkeypatch
):
    """The next batch is handed over before the one out is answered; when that answer
    ends the run (Procore no longer accepts the connection's sign-in), the next never goes out, and its
    ledger lines are dropped, not left pending for the next export to look for."""
    from integrations.procore.client import ProcoreClient
    from integrations.procore.errors import ProcoreAuthError
    from linx.sync import export_send

    for day in (16, 17, 18):
        punch(work_date=f"2026-11-{day}")  # 9 entries: 5 batches of 2
    monkeypatch.setattr(export_send, "BULK", 2)
    tried = []

    def refuse(self, batch):
        tried.append(len(batch))

        def refused():
            raise ProcoreAuthError("The refresh token was revoked.", status=401)

        return refused

    monkeypatch.setattr(ProcoreClient, "send_timecard_entries", refuse)
    run = export(linked)
    assert run.status == RunStatus.FAILED
    assert "The refresh token was revoked." in run.message
    assert tried == [2]  # the batch handed over behind it never went out
    assert not ExportLedgerLine.objects.filter(connection=linked).exists()
    assert entries(procore_sandbox) == []
