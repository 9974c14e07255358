"""A reconciliation reads its range a run of days at a time, and reuses kept lists.

Memory is bounded by a run of days, not the range: each run's time records and entries
are compared and dropped before the next is read. What a run cannot settle on its own
(a record and its entry on different days) is compared once every run has been read, so
the report is the same as if the range had been read whole. Project lists kept by an
export are reused, as an export reuses them: reconciling an exported week reads none.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import ExakTimeUnavailable
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import ProcoreUnavailable
from integrations.procore.sandbox import data as pc
from linx.clients import procore_client
from linx.models import EntityType, ReconciliationStatus, TimeEntryMode
from linx.sync import reconcile as reconcile_module
from linx.sync import reconcile_compare
from tests import test_export
from tests.test_export import exaktime_id, export
from tests.test_export_reference import age_kept_lists, list_reads
from tests.test_reconcile import FIRST, LAST, check, worker_of_linked_employee

linked, punch = test_export.linked, test_export.punch


@pytest.fixture
def day_by_day(monkeypatch):
    """Every run of days is a single day (as in a company whose days are each large)."""
    monkeypatch.setattr(reconcile_module, "CHUNK_ENTRIES", 1)


def entry_reads(procore_sandbox) -> list[tuple[str, str]]:
    """The (start_date, end_date) of each timecard entry list request since the log was
    cleared."""
    return [
        (r["query"]["start_date"][0], r["query"]["end_date"][0])
        for r in procore_sandbox.requests()
        if r["method"] == "GET" and r["path"].endswith("/timecard_entries")
    ]


def record_reads(exaktime_sandbox) -> list[tuple[str, str]]:
    return [
        (r["query"]["start_date"][0], r["query"]["end_date"][0])
        for r in exaktime_sandbox.requests()
        if r["method"] == "GET" and r["path"].endswith("/TimeRecords")
    ]


def report(done) -> tuple[dict, list]:
    return done.totals, sorted(done.lines, key=lambda line: sorted(map(str, line.items())))


def a_week_with_differences(punch, linked):
    """Three days exported, then an entry edited and one entered by hand in Procore."""
    punch(work_date="2026-11-16", ot1_hours=0, ot2_hours=0)
    punch(work_date="2026-11-17")
    punch()
    punch(work_date="2026-11-20", ot1_hours=0, ot2_hours=0, is_approved=False)
    linked.export_approved_only = True
    linked.save()
    export(linked)
    with procore_client(linked) as procore:
        entry = next(
            e for e in procore.timecard_entries(FIRST, LAST) if str(e.date) == "2026-11-17"
        )
        procore.update_timecard_entry(entry.id, {"hours": "6"})
        procore.create_timecard_entry(
            pc.PROJECT_PJA,
            {"party_id": worker_of_linked_employee(), "date": "2026-11-19", "hours": "4"},
        )


def test_read_a_day_at_a_time_the_report_is_the_same_as_the_week_read_whole(
    punch, linked, procore_sandbox, exaktime_sandbox, monkeypatch
):
    a_week_with_differences(punch, linked)
    procore_sandbox.clear_requests()
    whole = check(linked)
    assert entry_reads(procore_sandbox) == [(str(FIRST), str(LAST))]  # one page: one request
    monkeypatch.setattr(reconcile_module, "CHUNK_ENTRIES", 1)
    procore_sandbox.clear_requests()
    exaktime_sandbox.clear_requests()
    daily = check(linked)
    days = [str(FIRST + timedelta(days=n)) for n in range(7)]
    assert entry_reads(procore_sandbox) == [(day, day) for day in days]
    assert record_reads(exaktime_sandbox) == [(day, day) for day in days]
    assert whole.status == daily.status == ReconciliationStatus.DIFFERENCES
    assert report(daily) == report(whole)
    counts = {c: whole.totals[c] for c in ("matched", "different", "extra_in_procore")}
    assert counts == {"matched": 6, "different": 1, "extra_in_procore": 1}
    assert whole.totals["not_approved"] == 1


def test_records_compared_one_ledger_read_at_a_time_report_the_same_lines_in_the_same_order(
    punch, linked, monkeypatch
):
    """A day's records are compared a batch at a time, each batch with its own ledger
    lines, and each line is counted as it is made: the report is the same, line for line."""
    a_week_with_differences(punch, linked)
    punch(work_date="2026-11-18", ot1_hours=0, ot2_hours=0)  # never exported: missing
    whole = check(linked)
    monkeypatch.setattr(reconcile_compare, "BATCH", 1)
    batched = check(linked)
    assert batched.status == whole.status == ReconciliationStatus.DIFFERENCES
    assert batched.totals == whole.totals
    assert batched.lines == whole.lines  # the same order too
    assert [line["class"] for line in whole.lines] == [
        "different", "missing_in_procore", "not_approved", "extra_in_procore",
    ]  # fmt: skip


def test_a_record_moved_to_another_day_after_export_is_one_different_line(
    punch, linked, exaktime_sandbox, day_by_day
):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    exaktime_sandbox.update(
        "time_record", record["id"], work_date="2026-11-20",
        time_in="2026-11-20T06:00:00-08:00", time_out="2026-11-20T14:30:00-08:00", revision=2,
    )  # fmt: skip
    done = check(linked)
    (line,) = done.lines
    assert (line["class"], line["time_record_id"]) == ("different", record["id"])
    assert line["message"] == "date differ: changed in ExakTime since export (an export sends it)."
    assert done.totals["exaktime_hours"] == done.totals["procore_hours"] == 8


def test_a_record_moved_into_the_range_after_export_says_where_its_entry_is(
    punch, linked, exaktime_sandbox
):
    """Exported for a day before the range, then moved into it in ExakTime: its entry is
    not among the range's, and the line says where it is and what moves it, not that
    Procore deleted it."""
    record = punch(
        work_date="2026-11-13", time_in="2026-11-13T06:00:00-08:00",
        time_out="2026-11-13T14:30:00-08:00", ot1_hours=0, ot2_hours=0,
    )  # fmt: skip
    export(linked, **{"from": "2026-11-09", "to": "2026-11-15"})
    exaktime_sandbox.update(
        "time_record", record["id"], work_date="2026-11-18",
        time_in="2026-11-18T06:00:00-08:00", time_out="2026-11-18T14:30:00-08:00", revision=2,
    )  # fmt: skip
    (line,) = check(linked).lines
    assert (line["class"], line["time_record_id"]) == ("missing_in_procore", record["id"])
    with procore_client(linked) as procore:
        (entry,) = procore.timecard_entries(FIRST - timedelta(days=7), FIRST)
    assert line["message"] == (
        f"Exported as entry {entry.id} dated 2026-11-13, outside these dates: ExakTime moved "
        "the record to 2026-11-18 since. Run an export for these dates to move the entry."
    )
    export(linked)  # as the line says
    assert check(linked).status == ReconciliationStatus.MATCHED


def test_an_entry_moved_to_another_day_in_procore_is_one_different_line(punch, linked, day_by_day):
    record = punch(ot1_hours=0, ot2_hours=0)
    export(linked)
    with procore_client(linked) as procore:
        (entry,) = procore.timecard_entries(FIRST, LAST)
        procore.update_timecard_entry(entry.id, {"date": "2026-11-16"})
    (line,) = check(linked).lines
    assert (line["class"], line["time_record_id"]) == ("different", record["id"])
    assert line["timecard_entry_id"] == entry.id
    assert line["message"] == "date differ: edited in Procore after export."


def test_a_shift_across_midnight_read_a_day_at_a_time_stays_on_its_work_date(
    punch, linked, day_by_day
):
    linked.time_entry_mode = TimeEntryMode.START_STOP
    linked.time_zone = "America/Los_Angeles"
    linked.save()
    punch(
        work_date="2026-11-22", time_in="2026-11-22T22:00:00-08:00",
        time_out="2026-11-23T06:30:00-08:00", regular_hours=8, ot1_hours=0, ot2_hours=0,
    )  # fmt: skip
    export(linked)
    done = check(linked)
    assert done.status == ReconciliationStatus.MATCHED
    assert [d["name"] for d in done.totals["by_day"]] == ["2026-11-22"]


def test_reconciling_an_exported_week_reads_no_project_list_however_old(
    punch, linked, procore_sandbox
):
    punch()
    punch(work_date="2026-11-17", job_id=exaktime_id(EntityType.SUB_JOB, pc.SUB_JOB_SJB))
    export(linked)
    age_kept_lists(hours=100)  # far past the freshness limit: an export would not need them
    procore_sandbox.clear_requests()
    assert check(linked).status == ReconciliationStatus.MATCHED
    assert list_reads(procore_sandbox) == {"cost_codes": 0, "sub_jobs": 0}


def test_an_empty_range_is_read_in_growing_runs_of_days(linked, procore_sandbox):
    procore_sandbox.clear_requests()
    assert check(linked).status == ReconciliationStatus.MATCHED
    # Nothing exported and nothing found: one day, then two, then the four left.
    assert entry_reads(procore_sandbox) == [
        ("2026-11-16", "2026-11-16"), ("2026-11-17", "2026-11-18"), ("2026-11-19", "2026-11-22"),
    ]  # fmt: skip


def test_a_procore_read_failing_on_a_later_day_reports_nothing(
    punch, linked, day_by_day, monkeypatch
):
    punch(work_date="2026-11-16")
    punch(work_date="2026-11-17")
    export(linked)
    real, calls = ProcoreClient.timecard_entries, []

    def fail_on_the_second_day(self, start_date, end_date, *args, **kwargs):
        calls.append(start_date)
        if len(calls) == 2:  # the first day was read and compared already
            raise ProcoreUnavailable("Procore did not answer (HTTP 503).")
        return real(self, start_date, end_date, *args, **kwargs)

    monkeypatch.setattr(ProcoreClient, "timecard_entries", fail_on_the_second_day)
    done = check(linked)
    assert done.status == ReconciliationStatus.FAILED
    assert "could not read Procore's timecard entries" in done.message and "503" in done.message
    assert done.totals == {} and done.lines == []


def test_when_both_services_fail_exaktimes_failure_is_reported_and_a_procore_one_alone_is_too(
    punch, linked, monkeypatch
):
    """A run of days' entries are read before its records (their pages are the largest),
    but a failing read is reported as when the records were read first."""
    punch()
    export(linked)

    def procore_down(self, *args, **kwargs):
        raise ProcoreUnavailable("Procore did not answer (HTTP 503).")

    def exaktime_down(self, *args, **kwargs):
        raise ExakTimeUnavailable("ExakTime did not answer (HTTP 503).", status=503)

    monkeypatch.setattr(ProcoreClient, "timecard_entries", procore_down)
    done = check(linked)
    assert "could not read Procore's timecard entries" in done.message
    monkeypatch.setattr(ExakTimeClient, "time_records", exaktime_down)
    done = check(linked)
    assert done.status == ReconciliationStatus.FAILED
    assert "could not read ExakTime's time records" in done.message and "503" in done.message
    assert done.totals == {} and done.lines == []
