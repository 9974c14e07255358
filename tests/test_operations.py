"""Unattended operation: linx_status for monitoring, health endpoints, alerts, SIGTERM, logs."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from linx.models import (
    Connection,
    Outcome,
    ProcoreAuthMode,
    RowResult,
    RunKind,
    RunSchedule,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from linx.sync.alerts import after_scheduled_run
from linx.sync.runs import Row, RunRecorder, claim, create_run, stop_requested


def status(capsys, *args) -> tuple[int, str]:
    try:
        call_command("linx_status", *args)
        code = 0
    except SystemExit as leave:
        code = leave.code
    return code, capsys.readouterr().out


def finished(
    connection,
    kind=RunKind.IMPORT,
    status=RunStatus.SUCCEEDED,
    message="",
    trigger=RunTrigger.COMMAND,
    **parameters,
):
    run = create_run(connection, kind, trigger=trigger, parameters=parameters)
    SyncRun.objects.filter(pk=run.pk).update(
        status=status, message=message, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


# --- linx_status ---------------------------------------------------------------------------


def test_status_is_quietly_ok_when_all_is_well(connection, capsys):
    finished(connection)
    assert status(capsys, "--verbosity", "0") == (0, "")


def test_status_fails_when_the_last_run_failed(connection, capsys):
    finished(
        connection, RunKind.EXPORT, RunStatus.FAILED, "Procore says: App is not connected (403)."
    )
    code, out = status(capsys)
    assert code == 1
    assert "PROBLEM acme-builders: last export #" in out and "App is not connected" in out


def test_a_later_success_clears_the_problem(connection, capsys):
    finished(connection, status=RunStatus.FAILED, message="boom")
    finished(connection)
    assert status(capsys)[0] == 0


def test_status_fails_on_a_stuck_run(connection, capsys):
    run = claim(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.SCHEDULE))
    SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    code, out = status(capsys, "--json")
    assert code == 1
    (problem,) = json.loads(out)["connections"]["acme-builders"]
    assert f"import #{run.pk} is stuck" in problem


def test_status_fails_when_a_sign_in_is_about_to_expire_for_good(connection, capsys):
    connection.procore_auth_mode = ProcoreAuthMode.AUTHORIZATION_CODE
    connection.procore_access_token = "access"
    connection.procore_refresh_token = ""
    connection.procore_token_expires_at = timezone.now() + timedelta(minutes=20)
    connection.save()
    code, out = status(capsys)
    assert code == 1 and "reconnect to Procore" in out


def test_status_flags_a_connection_missing_a_secret(connection, capsys):
    finished(connection)
    Connection.objects.filter(pk=connection.pk).update(procore_client_secret="")
    code, out = status(capsys)
    assert code == 1
    assert "PROBLEM acme-builders: no Procore client secret is set" in out


def test_status_of_a_connection_that_does_not_exist_exits_2_naming_it(connection, capsys):
    with pytest.raises(CommandError) as refused:
        call_command("linx_status", "acme-builders", "nope", "--json")
    assert refused.value.returncode == 2
    assert "No connection named 'nope'" in str(refused.value)
    assert json.loads(capsys.readouterr().out) == {
        "ok": False,
        "connections": {},
        "error": "No connection named 'nope'.",
    }


# --- health ------------------------------------------------------------------------------


def test_the_web_health_endpoint_answers_without_login(client, db):
    response = client.get("/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "ok"}


def test_the_queue_health_endpoint_reports_depth_and_age(client, connection, settings):
    run = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.SCHEDULE)
    assert client.get("/health/queue/").json()["queued_runs"] == 1
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    response = client.get("/health/queue/")
    assert response.status_code == 503  # nobody is taking work
    assert response.json()["oldest_queued_seconds"] >= 3600


# --- alerts ------------------------------------------------------------------------------


@pytest.fixture
def nightly(connection):
    connection.alert_emails = "payroll@example.com, ops@example.com"
    connection.save()
    return RunSchedule.objects.create(connection=connection, kind=RunKind.EXPORT, cron="0 2 * * *")


def scheduled(schedule, status, message=""):
    return finished(
        schedule.connection,
        schedule.kind,
        status,
        message,
        RunTrigger.SCHEDULE,
        schedule=schedule.pk,
    )


def test_a_failing_schedule_emails_once_then_daily_and_stops_after_a_success(nightly):
    after_scheduled_run(scheduled(nightly, RunStatus.FAILED, "Procore did not answer."))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["payroll@example.com", "ops@example.com"]
    assert "Scheduled export of acme-builders failed" in mail.outbox[0].subject
    assert "Procore did not answer." in mail.outbox[0].body

    after_scheduled_run(scheduled(nightly, RunStatus.FAILED))  # the same day: no second email
    assert len(mail.outbox) == 1
    RunSchedule.objects.filter(pk=nightly.pk).update(
        last_alert_at=timezone.now() - timedelta(days=1)
    )
    after_scheduled_run(scheduled(nightly, RunStatus.PARTIAL))
    assert len(mail.outbox) == 2 and "3 times in a row" in mail.outbox[1].subject

    after_scheduled_run(scheduled(nightly, RunStatus.SUCCEEDED))
    nightly.refresh_from_db()
    assert nightly.failures_in_a_row == 0


def test_runs_started_by_hand_send_no_email(nightly):
    after_scheduled_run(finished(nightly.connection, RunKind.EXPORT, RunStatus.FAILED, "x"))
    assert mail.outbox == []


# --- SIGTERM and logs ----------------------------------------------------------------------


def test_a_stop_request_ends_the_run_cleanly_and_resumably(connection):
    run = claim(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    try:
        with RunRecorder(run) as recorder:
            recorder.record(Row("employee", Outcome.CREATED, procore_id=1))
            stop_requested.set()  # what the command's SIGTERM handler does
            recorder.record(Row("employee", Outcome.CREATED, procore_id=2))
    finally:
        stop_requested.clear()
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert "SIGTERM" in run.message and "linx_rerun" in run.message
    assert RowResult.objects.filter(run=run).count() == 1  # what it did is kept

    from linx.cli import exit_code

    assert exit_code(run) == 2


def test_runs_log_one_line_at_start_and_end_with_their_fields(connection, caplog):
    caplog.set_level(logging.INFO, logger="linx.sync.runs")
    run = claim(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    with RunRecorder(run) as recorder:
        recorder.record(Row("employee", Outcome.CREATED, procore_id=1))
        recorder.finish()
    started, ended = (r for r in caplog.records if r.name == "linx.sync.runs")
    assert (started.event, started.connection, started.kind) == (
        "run_started",
        "acme-builders",
        "import",
    )
    assert (ended.event, ended.status, ended.counts) == (
        "run_finished",
        "succeeded",
        {"created": 1},
    )
    assert ended.duration_seconds is not None

    from linx.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(ended))
    assert line["event"] == "run_finished" and line["counts"] == {"created": 1}
