"""Reconciliation against the sandboxes: does Procore hold exactly ExakTime's hours?

Time records are punched into the ExakTime sandbox, exported by a real export run, and
then changed on either side as people do (an entry edited or added by hand in Procore,
a record deleted or edited in ExakTime); each test reads what the reconciliation says.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.management import CommandError, call_command

from integrations.exaktime.sandbox import data as et
from integrations.procore.errors import ProcoreUnavailable
from integrations.procore.sandbox import data as pc
from linx.clients import procore_client
from linx.models import (
    EntityMapping,
    EntityType,
    Reconciliation,
    ReconciliationStatus,
    RunKind,
    RunSchedule,
    RunTrigger,
    ScheduleKind,
    TimeEntryMode,
)
from linx.sync.execute import execute
from linx.sync.reconcile import reconcile
from linx.sync.runs import create_run
from linx.sync.schedules import fire_due
from linx.tasks import reconcile_scheduled
from tests import test_export
from tests.test_export import DAY, exaktime_id, export, values

# The export tests' fixtures: an import's mappings, a punch, the custom fields.
linked, punch, weather = test_export.linked, test_export.punch, test_export.weather

FIRST, LAST = date(2026, 11, 16), date(2026, 11, 22)


def check(connection) -> Reconciliation:
    return reconcile(connection, FIRST, LAST)


def by_class(done: Reconciliation, cls: str) -> list[dict]:
    return [line for line in done.lines if line["class"] == cls]


def worker_of_linked_employee() -> int:
    return EntityMapping.objects.get(
        entity_type=EntityType.EMPLOYEE, exaktime_id=str(et.EMPLOYEE_LINKED)
    ).procore_id


# --- matched --------------------------------------------------------------------------


def test_an_exported_week_matches_with_totals_per_worker_project_and_day(punch, linked):
    punch()
    punch(work_date="2026-11-17", ot1_hours=0, ot2_hours=0)
    export(linked)
    done = check(linked)
    assert done.status == ReconciliationStatus.MATCHED
    assert done.lines == []
    totals = done.totals
    assert totals["matched"] == 4
    assert totals["exaktime_hours"] == totals["procore_hours"] == 19
    assert [(d["name"], d["exaktime_hours"], d["difference"]) for d in totals["by_day"]] == [
        ("2026-11-17", 8, 0),
        ("2026-11-18", 11, 0),
    ]
    (worker,) = totals["by_worker"]
    assert worker["procore_hours"] == 19 and worker["difference"] == 0
    (project,) = totals["by_project"]
    assert "PJA" in project["name"] and project["exaktime_hours"] == 19
    assert Reconciliation.objects.get().pk == done.pk  # recorded: who, when, range, totals
    assert (done.first_day, done.last_day, done.finished_at is not None) == (FIRST, LAST, True)


def test_a_range_with_no_data_matches_with_zero_totals(linked):
    done = check(linked)
    assert done.status == ReconciliationStatus.MATCHED
    assert done.totals["exaktime_hours"] == 0 and done.totals["procore_hours"] == 0
    assert done.totals["by_day"] == [] and done.lines == []


# --- missing in Procore ---------------------------------------------------------------


def test_a_record_never_exported_is_missing_in_procore(punch, linked):
    record = punch(ot1_hours=0, ot2_hours=0)
    done = check(linked)
    assert done.status == ReconciliationStatus.DIFFERENCES
    (line,) = by_class(done, "missing_in_procore")
    assert line["time_record_id"] == record["id"] and line["exaktime_hours"] == 8
    assert line["procore_hours"] is None and line["procore_worker_id"] is not None
    assert "Never exported" in line["message"]
    assert done.totals["by_worker"][0]["difference"] == -8


def test_a_record_whose_row_failed_says_which_run_and_why(punch, linked):
    bad = punch(
        cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR),
        ot1_hours=0,
        ot2_hours=0,
    )
    run = export(linked)
    (line,) = by_class(check(linked), "missing_in_procore")
    assert line["time_record_id"] == bad["id"]
    assert f"Its row failed in export run #{run.pk}" in line["message"]
    assert "Cost code 26-26010 is not set up on Procore project 200 'PJA'" in line["message"]


def test_an_entry_deleted_in_procore_after_export_is_missing(punch, linked):
    punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    done = check(linked)
    with procore_client(linked) as procore:
        (entry,) = procore.timecard_entries(FIRST, LAST)
        procore.delete_timecard_entry(entry.id)
    (line,) = by_class(check(linked), "missing_in_procore")
    assert f"Exported as entry {entry.id}" in line["message"]
    assert "deleted in Procore" in line["message"]
    assert done.status == ReconciliationStatus.MATCHED  # the earlier one keeps its result


# --- extra in Procore -----------------------------------------------------------------


def test_an_entry_entered_by_hand_is_extra_possible_double_pay(punch, linked):
    punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    with procore_client(linked) as procore:
        made = procore.create_timecard_entry(
            pc.PROJECT_PJA,
            {"party_id": worker_of_linked_employee(), "date": DAY, "hours": "4"},
        )
    done = check(linked)
    (line,) = done.lines
    assert line["class"] == "extra_in_procore" and line["timecard_entry_id"] == made.id
    assert line["procore_hours"] == 4 and line["exaktime_hours"] is None
    assert "entered by hand" in line["message"] and "double pay" in line["message"]
    assert done.totals["matched"] == 1 and done.totals["difference"] == 4


def test_an_entry_for_a_record_deleted_in_exaktime_is_extra(punch, linked, exaktime_sandbox):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    exaktime_sandbox.update("time_record", record["id"], is_deleted=True)
    (line,) = check(linked).lines
    assert line["class"] == "extra_in_procore" and line["time_record_id"] == record["id"]
    assert "Created by Linx" in line["message"] and "deleted in ExakTime" in line["message"]


def test_an_hour_kind_exaktime_no_longer_has_is_extra(punch, linked, exaktime_sandbox):
    record = punch()
    export(linked)
    exaktime_sandbox.update("time_record", record["id"], ot2_hours=0, revision=2)
    (line,) = check(linked).lines
    assert (line["class"], line["kind"], line["procore_hours"]) == ("extra_in_procore", "ot2", 1)
    assert "which ExakTime no longer has" in line["message"]


# --- different ------------------------------------------------------------------------


def test_an_entry_edited_in_procore_after_export_is_different(punch, linked):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    with procore_client(linked) as procore:
        (entry,) = procore.timecard_entries(FIRST, LAST)
        procore.update_timecard_entry(entry.id, {"hours": "7.5"})
    done = check(linked)
    (line,) = done.lines
    assert line["class"] == "different" and line["time_record_id"] == record["id"]
    assert (line["exaktime_hours"], line["procore_hours"]) == (8, 7.5)
    assert line["message"] == "hours differ: edited in Procore after export."
    assert done.totals["difference"] == -0.5


def test_a_record_changed_in_exaktime_since_export_is_different(punch, linked, exaktime_sandbox):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    other = exaktime_id(EntityType.COST_CODE, pc.STANDARD_ROUGH_CARPENTRY)
    exaktime_sandbox.update("time_record", record["id"], cost_code_id=other, revision=2)
    (line,) = check(linked).lines
    assert line["class"] == "different"
    assert line["message"].startswith("cost code differ")
    assert "changed in ExakTime since export" in line["message"]
    assert "edited in Procore" not in line["message"]


def test_custom_fields_are_ignored_for_matching(punch, linked, weather, exaktime_sandbox):
    rain = values(weather, **{f"cf_{pc.CF_WEATHER}": "Rain"})
    record = punch(custom_fields=rain, ot1_hours=0, ot2_hours=0)
    export(linked)
    sunny = values(weather, **{f"cf_{pc.CF_WEATHER}": "Sunny"})
    exaktime_sandbox.update("time_record", record["id"], custom_fields=sunny, revision=2)
    assert check(linked).status == ReconciliationStatus.MATCHED


# --- not approved ---------------------------------------------------------------------


def test_a_record_not_yet_approved_is_its_own_class(punch, linked):
    linked.export_approved_only = True
    linked.save()
    record = punch(is_approved=False, ot1_hours=0, ot2_hours=0)
    punch(work_date="2026-11-17", ot1_hours=0, ot2_hours=0)
    export(linked)
    done = check(linked)
    (line,) = done.lines
    assert line["class"] == "not_approved" and line["time_record_id"] == record["id"]
    assert line["exaktime_hours"] == 8 and line["procore_hours"] is None
    assert done.totals["not_approved"] == 1 and done.totals["matched"] == 1


# --- modes, time zones, connections ---------------------------------------------------


def test_start_stop_mode_matches_clock_times(punch, linked):
    linked.time_entry_mode = TimeEntryMode.START_STOP
    linked.save()
    punch()
    export(linked)
    done = check(linked)
    assert done.status == ReconciliationStatus.MATCHED
    assert done.totals["procore_hours"] == 11  # 06:00 to 17:30 less a 30-minute lunch


def test_a_shift_across_midnight_counts_on_its_work_date(punch, linked):
    """22:00 to 06:30 Pacific on the range's last day: the UTC dates are the next day,
    yet the whole shift belongs to the 22nd, inside the range."""
    linked.time_entry_mode = TimeEntryMode.START_STOP
    linked.time_zone = "America/Los_Angeles"
    linked.save()
    punch(
        work_date="2026-11-22",
        time_in="2026-11-22T22:00:00-08:00",
        time_out="2026-11-23T06:30:00-08:00",
        regular_hours=8,
        ot1_hours=0,
        ot2_hours=0,
    )
    export(linked)
    done = check(linked)
    assert done.status == ReconciliationStatus.MATCHED
    (day,) = done.totals["by_day"]
    assert (day["name"], day["exaktime_hours"], day["procore_hours"]) == ("2026-11-22", 8, 8)
    assert reconcile(linked, date(2026, 11, 23), date(2026, 11, 23)).totals["by_day"] == []


def test_a_connection_without_mappings_says_each_record_is_not_linked(
    sandbox_connection, exaktime_sandbox
):
    execute(create_run(sandbox_connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
    exaktime_sandbox.add(
        "time_record",
        {"employee_id": et.EMPLOYEE_LINKED, "job_id": 1, "work_date": DAY, "regular_hours": 8,
         "time_in": f"{DAY}T06:00:00-08:00", "time_out": f"{DAY}T14:00:00-08:00",
         "is_approved": True, "revision": 1},
        scope=1,
    )  # fmt: skip
    done = check(sandbox_connection)
    (line,) = done.lines
    assert line["class"] == "missing_in_procore" and line["procore_worker_id"] is None
    assert "Never exported, and it cannot be" in line["message"]
    assert "is not linked to a Procore worker" in line["message"]
    assert "ExakTime employee" in done.totals["by_worker"][0]["name"]


def test_a_connection_never_pre_imported_cannot_run_and_says_why(sandbox_connection):
    done = check(sandbox_connection)
    assert done.status == ReconciliationStatus.FAILED
    assert "run the pre-import" in done.message
    assert done.totals == {} and done.lines == []


def test_a_procore_read_failing_midway_fails_and_reports_nothing(punch, linked, monkeypatch):
    punch()
    export(linked)
    from integrations.procore.client import ProcoreClient

    def first_page_then_fail(self, *args, **kwargs):
        yield from list(real(self, *args, **kwargs))[:1]
        raise ProcoreUnavailable("Procore did not answer (HTTP 503).")

    real = ProcoreClient.timecard_entries
    monkeypatch.setattr(ProcoreClient, "timecard_entries", first_page_then_fail)
    done = check(linked)
    assert done.status == ReconciliationStatus.FAILED
    assert "could not read Procore's timecard entries" in done.message
    assert "503" in done.message
    assert done.totals == {} and done.lines == []


# --- the command (cron) ---------------------------------------------------------------


def reconcile_command(capsys, *args) -> tuple[int, dict | str, str]:
    """`linx_reconcile sandbox --from --to ARGS`: (exit code, its JSON or text, stderr)."""
    code = 0
    try:
        call_command("linx_reconcile", *args)
    except SystemExit as leave:
        code = leave.code
    except CommandError as refused:
        code = refused.returncode
    out, err = capsys.readouterr()
    return code, (json.loads(out) if "--json" in args else out), err


WEEK = ("sandbox", "--from", "2026-11-16", "--to", "2026-11-22")
CONTRACT_TOTALS = {
    "exaktime_hours", "procore_hours", "matched", "missing_in_procore", "extra_in_procore",
    "different", "not_approved",
}  # fmt: skip
CONTRACT_LINE = {
    "class", "date", "kind", "procore_worker_id", "exaktime_employee_id", "time_record_id",
    "timecard_entry_id", "exaktime_hours", "procore_hours", "message",
}  # fmt: skip


def test_command_exits_0_when_everything_matches(punch, linked, capsys):
    punch()
    export(linked)
    code, result, _ = reconcile_command(capsys, *WEEK, "--json")
    assert code == 0
    assert result["status"] == "matched" and result["lines"] == []
    assert result["reconciliation"] == Reconciliation.objects.get().pk
    assert (result["connection"], result["from"], result["to"]) == WEEK[0:1] + WEEK[2::2]
    assert set(result["totals"]) == CONTRACT_TOTALS
    assert result["totals"]["matched"] == 3 and result["totals"]["procore_hours"] == 11


def test_command_exits_1_with_the_differing_lines(punch, linked, capsys):
    record = punch(ot1_hours=0, ot2_hours=0)
    code, result, _ = reconcile_command(capsys, *WEEK, "--json")
    assert code == 1 and result["status"] == "differences"
    (line,) = result["lines"]
    assert set(line) == CONTRACT_LINE
    assert line["class"] == "missing_in_procore" and line["time_record_id"] == record["id"]
    assert line["exaktime_hours"] == 8 and line["date"] == DAY and line["kind"] == "regular"
    code, text, _ = reconcile_command(capsys, *WEEK)
    assert code == 1 and "differences found" in text and "missing in procore" in text


def test_command_lists_at_most_100_lines_the_record_keeps_all(punch, linked, capsys):
    for n in range(101):
        punch(ot1_hours=0, ot2_hours=0, regular_hours=1 + n / 100)
    code, result, _ = reconcile_command(capsys, *WEEK, "--json")
    assert code == 1 and len(result["lines"]) == 100
    assert result["totals"]["missing_in_procore"] == 101
    assert len(Reconciliation.objects.get(pk=result["reconciliation"]).lines) == 101


def test_command_exits_2_when_it_cannot_run(linked, capsys, monkeypatch):
    from integrations.procore.client import ProcoreClient

    def down(self, *args, **kwargs):
        raise ProcoreUnavailable("Procore did not answer (HTTP 503).")

    monkeypatch.setattr(ProcoreClient, "timecard_entries", down)
    code, result, err = reconcile_command(capsys, *WEEK, "--json")
    assert code == 2 and result["status"] == "failed" and result["lines"] == []
    assert "could not read Procore's timecard entries" in result["error"]
    assert set(result["totals"]) == CONTRACT_TOTALS and not any(result["totals"].values())
    assert result["error"] in err


def test_command_refuses_an_unknown_name_and_a_bad_date_with_one_object(db, capsys):
    code, result, _ = reconcile_command(capsys, *WEEK, "--json")
    assert code == 2 and result["reconciliation"] is None and result["status"] == "failed"
    assert "No connection named 'sandbox'" in result["error"]
    code, result, _ = reconcile_command(
        capsys, "x", "--from", "2026-13-01", "--to", "2026-11-22", "--json"
    )
    assert code == 2 and "not a date" in result["error"] and result["lines"] == []


# --- targeted exports from a reconciliation -------------------------------------------


def test_reapplying_a_record_overwrites_an_edit_in_procore_and_touches_nothing_else(punch, linked):
    record = punch(ot1_hours=0, ot2_hours=0)
    other = punch(work_date="2026-11-17", ot1_hours=0, ot2_hours=0)
    export(linked)
    with procore_client(linked) as procore:
        entries = {e.origin_id: e for e in procore.timecard_entries(FIRST, LAST)}
        for made in entries.values():
            procore.update_timecard_entry(made.id, {"hours": "7.5"})
        by_hand = procore.create_timecard_entry(
            pc.PROJECT_PJA, {"party_id": worker_of_linked_employee(), "date": DAY, "hours": "4"}
        )
    export(linked)  # a plain export trusts its ledger: nothing was sent again
    assert len(by_class(check(linked), "different")) == 2
    export(linked, only_time_records=[record["id"]], reapply=[record["id"]])
    with procore_client(linked) as procore:
        now = {e.id: e for e in procore.timecard_entries(FIRST, LAST)}
    assert now[entries[f"{record['id']}-regular"].id].hours == 8  # re-applied
    assert now[entries[f"{other['id']}-regular"].id].hours == Decimal("7.5")  # not chosen
    assert now[by_hand.id].hours == 4  # not Linx's: never touched
    (line,) = by_class(check(linked), "different")
    assert line["time_record_id"] == other["id"]


# --- from a schedule ------------------------------------------------------------------


def test_a_monday_schedule_reconciles_last_week_in_the_connections_zone(
    linked, django_capture_on_commit_callbacks, monkeypatch
):
    import time_machine
    from django_q import tasks as queue

    linked.time_zone = "America/Chicago"
    linked.save()
    schedule = RunSchedule.objects.create(
        connection=linked, kind=ScheduleKind.RECONCILE, cron="0 6 * * 1",
        days_back_from=7, days_back_to=1,
    )  # fmt: skip
    handed = []
    monkeypatch.setattr(queue, "async_task", lambda *args, **options: handed.append(args))
    with time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=False):
        fire_due()  # learns its next time: Monday 30 November, 06:00 in Chicago
    monday = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
    with (
        time_machine.travel(monday, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert fire_due() == []  # no sync run: a reconciliation is its own record
    assert handed == [("linx.tasks.reconcile_scheduled", schedule.pk, "2026-11-23", "2026-11-29")]


def test_a_scheduled_reconciliation_emails_a_summary_only_when_it_differs(
    punch, linked, mailoutbox
):
    linked.alert_emails = "payroll@example.com, ops@example.com"
    linked.save()
    schedule = RunSchedule.objects.create(
        connection=linked, kind=ScheduleKind.RECONCILE, cron="0 6 * * 1"
    )
    assert reconcile_scheduled(schedule.pk, "2026-11-16", "2026-11-22") == "matched"
    assert mailoutbox == []
    record = punch(ot1_hours=0, ot2_hours=0)
    assert reconcile_scheduled(schedule.pk, "2026-11-16", "2026-11-22") == "differences"
    (mail,) = mailoutbox
    assert mail.to == ["payroll@example.com", "ops@example.com"]
    assert "found 1 differing line(s)" in mail.subject
    assert f"time record {record['id']}" in mail.body and "Never exported" in mail.body
    done = Reconciliation.objects.latest("id")
    assert done.trigger == RunTrigger.SCHEDULE and f"/reconciliation/{done.pk}/" in mail.body


# --- the Procore sandbox: a person at Procore's screens -------------------------------


def test_the_sandbox_takes_a_hand_made_entry_and_an_edit_both_reconciled(
    punch, linked, procore_sandbox
):
    import requests

    punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    company = f"{procore_sandbox.url}/_sandbox/companies/{pc.COMPANY_ID}"
    (exported,) = procore_sandbox.records("timecard_entry")
    edited = requests.patch(
        f"{company}/timecard_entries/{exported['id']}", json={"hours": "6.5"}, timeout=10
    )
    assert edited.status_code == 200 and float(edited.json()["hours"]) == 6.5
    made = requests.post(
        f"{company}/hand_made_entries",
        json={"project_id": pc.PROJECT_PJA, "party_id": worker_of_linked_employee(),
              "date": DAY, "hours": "3", "origin_id": "forged"},
        timeout=10,
    )  # fmt: skip
    assert made.status_code == 201 and made.json()["origin_id"] is None
    refused = requests.post(f"{company}/hand_made_entries", json={"hours": "3"}, timeout=10)
    assert refused.status_code == 422
    done = check(linked)
    assert sorted(line["class"] for line in done.lines) == ["different", "extra_in_procore"]


# --- the demo's week ------------------------------------------------------------------


def test_the_demo_week_reconciles_to_one_extra_one_edited_and_one_failed_record(
    sandbox_connection,
):
    from datetime import timedelta

    from integrations.exaktime.sandbox import data as exaktime_data

    call_command("linx_demo_week", "sandbox")
    call_command("linx_demo_week", "sandbox")  # a second start of the demo adds nothing
    first = exaktime_data.last_week() - timedelta(days=7)  # the week before last
    done = reconcile(sandbox_connection, first, first + timedelta(days=6))
    assert done.totals["matched"] > 50
    by_kind = {line["class"]: line for line in done.lines}
    assert sorted(by_kind) == ["different", "extra_in_procore", "missing_in_procore"]
    assert len(done.lines) == 3
    assert "entered by hand" in by_kind["extra_in_procore"]["message"]
    assert "edited in Procore after export" in by_kind["different"]["message"]
    assert "Its row failed in export run" in by_kind["missing_in_procore"]["message"]
