"""Schedules fire in the connection's time zone, once, and never pile runs up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError

from linx.models import ExportRange, RunKind, RunSchedule, RunStatus, RunTrigger, SyncRun
from linx.sync.runs import claim, create_run
from linx.sync.schedules import fire_due, next_time, parameters_for


@pytest.fixture
def nightly_export(connection, django_capture_on_commit_callbacks):
    connection.time_zone = "America/Chicago"
    connection.save()
    return RunSchedule.objects.create(connection=connection, kind=RunKind.EXPORT, cron="0 2 * * *")


def test_the_cron_is_read_in_the_connections_time_zone(nightly_export):
    # 02:00 in Chicago on 25 November is 08:00 UTC (CST, UTC-6).
    after = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert next_time(nightly_export, after) == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def test_a_due_schedule_queues_one_run_exporting_yesterday_there(
    nightly_export, django_capture_on_commit_callbacks
):
    with time_machine.travel(datetime(2026, 11, 25, 7, 0, tzinfo=UTC), tick=False):
        assert fire_due() == []  # a new schedule only learns its next time
    with time_machine.travel(datetime(2026, 11, 26, 8, 0, 30, tzinfo=UTC), tick=False):
        with django_capture_on_commit_callbacks(execute=False) as queued:
            (run,) = fire_due()
        assert fire_due() == []  # a second tick in the same minute fires nothing
    assert len(queued) == 1
    assert (run.kind, run.status, run.trigger) == (
        RunKind.EXPORT,
        RunStatus.QUEUED,
        RunTrigger.SCHEDULE,
    )
    # 02:00 on 26 November in Chicago: yesterday there is 25 November.
    assert (run.parameters["from"], run.parameters["to"]) == ("2026-11-25", "2026-11-25")
    nightly_export.refresh_from_db()
    assert nightly_export.next_run_at == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_a_schedule_that_comes_round_while_its_run_still_goes_records_a_skip(nightly_export):
    still_going = claim(
        create_run(nightly_export.connection, RunKind.EXPORT, trigger=RunTrigger.SCHEDULE)
    )
    RunSchedule.objects.filter(pk=nightly_export.pk).update(
        next_run_at=datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    )
    with time_machine.travel(datetime(2026, 11, 26, 8, 0, 5, tzinfo=UTC), tick=False):
        (skipped,) = fire_due()
    assert skipped.status == RunStatus.SKIPPED
    assert f"(run #{still_going.pk}) was still running" in skipped.message
    assert SyncRun.objects.filter(status=RunStatus.QUEUED).count() == 0  # nothing piled up


def test_days_missed_while_down_fire_once(nightly_export, django_capture_on_commit_callbacks):
    RunSchedule.objects.filter(pk=nightly_export.pk).update(
        next_run_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    )
    with (
        time_machine.travel(datetime(2026, 11, 26, 12, 0, tzinfo=UTC), tick=False),
        django_capture_on_commit_callbacks(execute=False),
    ):
        assert len(fire_due()) == 1
        assert fire_due() == []


def test_disabled_schedules_and_inactive_connections_do_not_fire(nightly_export):
    RunSchedule.objects.filter(pk=nightly_export.pk).update(
        next_run_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC), enabled=False
    )
    assert fire_due() == []
    RunSchedule.objects.filter(pk=nightly_export.pk).update(enabled=True)
    nightly_export.connection.is_active = False
    nightly_export.connection.save()
    assert fire_due() == []


def test_a_bad_cron_or_time_zone_is_refused_with_an_example(connection):
    schedule = RunSchedule(connection=connection, kind=RunKind.IMPORT, cron="every night")
    with pytest.raises(ValidationError, match=r'not a cron expression of five fields, e\.g\. "0 2'):
        schedule.full_clean()
    connection.time_zone = "Mars/Olympus"
    with pytest.raises(ValidationError, match="'Mars/Olympus' is not a time zone"):
        connection.full_clean()


def test_migrate_installs_the_minute_ticker(db):
    from django_q.models import Schedule

    ticker = Schedule.objects.get(name="linx: fire due schedules")
    assert (ticker.func, ticker.schedule_type, ticker.minutes) == (
        "linx.tasks.fire_due_schedules",
        Schedule.MINUTES,
        1,
    )


def test_unknown_entities_are_refused_when_the_schedule_is_saved(connection):
    schedule = RunSchedule(
        connection=connection, kind=RunKind.IMPORT, cron="30 1 * * *", entities="employee, projects"
    )
    with pytest.raises(ValidationError) as refusal:
        schedule.full_clean()
    assert refusal.value.message_dict["entities"] == [
        "Unknown entities: 'employee', 'projects'. Write some of employees, locations, "
        "cost_codes, crews, separated by commas, or leave it empty for all."
    ]
    schedule.entities = " employees,crews "
    schedule.full_clean()
    assert schedule.entities == "employees, crews"


def test_the_schedule_form_refuses_unknown_entities_naming_the_valid_ones(staff_client, connection):
    form = {
        "connection": connection.pk,
        "kind": RunKind.IMPORT,
        "cron": "30 1 * * *",
        "enabled": "on",
        "entities": "employee, projects",
        "days_back_from": 1,
        "days_back_to": 1,
    }
    response = staff_client.post("/admin/linx/runschedule/add/", form)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unknown entities: &#x27;employee&#x27;, &#x27;projects&#x27;." in html
    assert "employees, locations, cost_codes, crews" in html
    assert not RunSchedule.objects.exists()

    form["entities"] = "employees, cost_codes"
    assert staff_client.post("/admin/linx/runschedule/add/", form).status_code == 302
    assert RunSchedule.objects.get().entities == "employees, cost_codes"


@pytest.mark.parametrize(
    ("export_range", "days_back", "dates"),
    [
        # Fired on Wednesday 25 November 2026 (in Chicago).
        (ExportRange.YESTERDAY, (1, 1), ("2026-11-24", "2026-11-24")),
        (ExportRange.LAST_WEEK, (7, 1), ("2026-11-16", "2026-11-22")),  # Monday to Sunday
        (ExportRange.LAST_DAYS, (3, 1), ("2026-11-22", "2026-11-24")),
        (ExportRange.DAYS_BACK, (9, 3), ("2026-11-16", "2026-11-22")),
    ],
)
def test_an_export_schedule_covers_the_dates_its_range_says(
    nightly_export, export_range, days_back, dates
):
    nightly_export.export_range = export_range
    nightly_export.days_back_from, nightly_export.days_back_to = days_back
    wednesday = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    parameters = parameters_for(nightly_export, wednesday)
    assert (parameters["from"], parameters["to"]) == dates


def schedule_form(connection, **fields) -> dict:
    return {"connection": connection.pk, "kind": RunKind.EXPORT, "cron": "0 6 * * 1",
            "enabled": "on", "entities": "", "days_back_from": 1, "days_back_to": 1,
            **fields}  # fmt: skip


def test_the_schedule_form_says_the_range_in_words(staff_client, connection):
    add = "/admin/linx/runschedule/add/"
    page = staff_client.get(add).content.decode()
    for words in ("Yesterday", "Last week (Monday to Sunday)", "The last N days, up to yesterday"):
        assert words in page

    refused = staff_client.post(add, schedule_form(connection, export_range="last_days"))
    assert "“the last N days” needs N" in refused.content.decode()

    form = schedule_form(connection, export_range="last_days", last_days=5)
    assert staff_client.post(add, form).status_code == 302
    schedule = RunSchedule.objects.get()
    assert (schedule.export_range, schedule.days_back_from, schedule.days_back_to) == (
        ExportRange.LAST_DAYS, 5, 1
    )  # fmt: skip
    assert "the last 5 days" in staff_client.get("/admin/linx/runschedule/").content.decode()

    change = f"/admin/linx/runschedule/{schedule.pk}/change/"
    assert 'name="last_days" value="5"' in staff_client.get(change).content.decode()
    staff_client.post(change, schedule_form(connection, export_range="last_week"))
    assert "last week" in staff_client.get("/admin/linx/runschedule/").content.decode()
