"""A run's life: one at a time per connection and kind, rows in batches, dead runs freed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from linx.models import Outcome, RowResult, RunKind, RunStatus, RunTrigger, SyncRun
from linx.sync.runs import (
    AlreadyRunning,
    Row,
    RunAborted,
    RunRecorder,
    cancel,
    claim,
    create_run,
    reap_dead_runs,
)


def new_run(connection, kind=RunKind.IMPORT):
    return create_run(connection, kind, trigger=RunTrigger.COMMAND)


def test_a_claimed_run_is_running_on_this_worker(connection):
    run = claim(new_run(connection))
    assert run.status == RunStatus.RUNNING
    assert run.started_at and run.heartbeat_at and ":" in run.worker


def test_a_second_run_of_the_same_kind_is_refused_and_recorded_as_skipped(connection):
    first = claim(new_run(connection))
    second = new_run(connection)
    with pytest.raises(AlreadyRunning) as refused:
        claim(second)
    second.refresh_from_db()
    assert second.status == RunStatus.SKIPPED
    assert f"run #{first.pk}" in second.message
    assert "Another import is already running for acme-builders" in refused.value.message


def test_runs_of_another_kind_may_run_side_by_side(connection):
    claim(new_run(connection))
    assert claim(new_run(connection, RunKind.EXPORT)).status == RunStatus.RUNNING


def test_a_run_whose_worker_died_is_marked_failed_and_frees_the_connection(connection):
    dead = claim(new_run(connection))
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=30))
    fresh = claim(new_run(connection))
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED
    assert "stopped without finishing" in dead.message
    assert "re-run it" in dead.message
    assert fresh.status == RunStatus.RUNNING


def test_a_live_run_is_not_reaped(connection):
    run = claim(new_run(connection))
    assert reap_dead_runs() == []
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_rows_are_written_in_batches_with_counts_and_progress(connection):
    run = claim(new_run(connection))
    with RunRecorder(run, batch=2) as recorder:
        recorder.expect("employee", 3)
        recorder.record(Row("employee", Outcome.CREATED, procore_id=1, exaktime_id="10"))
        assert RowResult.objects.count() == 0
        recorder.record(Row("employee", Outcome.UNCHANGED, procore_id=2, exaktime_id="11"))
        assert RowResult.objects.count() == 2  # one batch, one INSERT
        run.refresh_from_db()
        assert run.progress == {"employee": {"done": 2, "total": 3}}
        recorder.record(Row("employee", Outcome.FAILED, procore_id=3, message="bad"))
        finished = recorder.finish()
    assert RowResult.objects.filter(run=run).count() == 3
    assert finished.status == RunStatus.PARTIAL
    assert finished.counts == {"created": 1, "unchanged": 1, "failed": 1}
    assert finished.finished_at is not None


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ([Outcome.CREATED, Outcome.UNCHANGED], RunStatus.SUCCEEDED),
        ([], RunStatus.SUCCEEDED),
        ([Outcome.FAILED, Outcome.FAILED], RunStatus.FAILED),
        ([Outcome.FAILED, Outcome.SKIPPED], RunStatus.PARTIAL),
    ],
)
def test_the_status_follows_the_rows(connection, outcomes, status):
    run = claim(new_run(connection))
    with RunRecorder(run) as recorder:
        for number, outcome in enumerate(outcomes):
            recorder.record(Row("employee", outcome, procore_id=number))
        assert recorder.finish().status == status


def test_an_aborted_run_fails_with_the_operators_message_and_keeps_its_rows(connection):
    run = claim(new_run(connection))
    with pytest.raises(RunAborted), RunRecorder(run) as recorder:
        recorder.record(Row("employee", Outcome.CREATED, procore_id=1))
        raise RunAborted("Procore says: App is not connected to this company (403).")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.message.startswith("Procore says: App is not connected")
    assert run.rows.count() == 1


def test_an_unexpected_error_fails_the_run_with_its_number(connection):
    run = claim(new_run(connection))
    with pytest.raises(ZeroDivisionError), RunRecorder(run):
        1 / 0  # noqa: B018
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert f"run #{run.pk}" in run.message
    assert "ZeroDivisionError" in run.message


def test_cancelling_a_queued_run_stops_it_at_once(connection):
    run = new_run(connection)
    assert cancel(run, acting_user=None)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.finished_at is not None


def test_cancelling_a_running_run_stops_it_at_its_next_batch(connection):
    run = claim(new_run(connection))
    with RunRecorder(run, batch=1) as recorder:
        recorder.record(Row("employee", Outcome.CREATED, procore_id=1))
        cancel(run, acting_user=None)
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING  # it holds the connection until it stops
        recorder.record(Row("employee", Outcome.CREATED, procore_id=2))
        recorder.record(Row("employee", Outcome.CREATED, procore_id=3))  # never reached
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert run.rows.count() == 2
    assert run.finished_at is not None


def test_the_heartbeat_keeps_a_long_quiet_run_alive(transactional_db, connection, settings):
    settings.LINX_RUN_HEARTBEAT_SECONDS = 0.1
    run = claim(new_run(connection))
    before = SyncRun.objects.get(pk=run.pk).heartbeat_at
    with RunRecorder(run) as recorder:
        time.sleep(0.5)  # e.g. waiting out a rate limit: no rows written meanwhile
        during = SyncRun.objects.get(pk=run.pk).heartbeat_at
        recorder.finish()
    assert during > before


def test_looking_at_the_runs_marks_dead_ones_failed(staff_client, connection):
    dead = claim(new_run(connection))
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    page = staff_client.get("/admin/linx/syncrun/")
    assert page.status_code == 200
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED


def test_runs_lost_from_the_queue_are_queued_again_once_per_interval(
    connection, settings, django_capture_on_commit_callbacks
):
    from linx.sync.queueing import requeue_lost_runs

    lost = new_run(connection)
    fresh = new_run(connection, RunKind.EXPORT)
    SyncRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert requeue_lost_runs() == [lost.pk]
        assert requeue_lost_runs() == []  # not again until the interval has passed
    assert len(queued) == 1
    fresh.refresh_from_db()
    assert fresh.status == RunStatus.QUEUED


# --- One clock: the database's ------------------------------------------------------------

SKEW = timedelta(minutes=10)


@pytest.fixture
def clock_ahead():
    """Code run inside ``with clock_ahead():`` sees a worker clock 10 minutes fast."""
    from contextlib import contextmanager
    from unittest import mock

    real_now = timezone.now

    @contextmanager
    def ahead():
        with mock.patch("django.utils.timezone.now", lambda: real_now() + SKEW):
            yield

    return ahead


def test_a_worker_whose_clock_runs_ahead_does_not_reap_a_live_run(connection, clock_ahead):
    live = claim(new_run(connection))  # on a worker with the right time
    with clock_ahead():
        assert reap_dead_runs() == []
        with pytest.raises(AlreadyRunning):
            claim(new_run(connection))  # and its claim does not take the connection over
    live.refresh_from_db()
    assert live.status == RunStatus.RUNNING


def test_a_dead_run_of_a_worker_whose_clock_runs_ahead_is_still_reaped(
    connection, clock_ahead, settings
):
    settings.LINX_RUN_DEAD_AFTER = 1
    with clock_ahead():
        run = claim(new_run(connection))
        with RunRecorder(run) as recorder:
            recorder.record(Row("employee", Outcome.CREATED, procore_id=1))
            recorder.flush()
    # Its stamps are the database's time, not its own 10 minutes ahead.
    assert abs(SyncRun.objects.get(pk=run.pk).heartbeat_at - timezone.now()) < timedelta(seconds=5)
    time.sleep(1.3)  # ... then its worker is killed: no heartbeat for longer than allowed
    assert reap_dead_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.rows.count() == 1


def test_started_and_finished_are_the_databases_time(connection, clock_ahead):
    with clock_ahead():
        run = claim(new_run(connection))
        with RunRecorder(run) as recorder:
            time.sleep(0.3)
            run = recorder.finish()
    assert abs(run.started_at - timezone.now()) < timedelta(seconds=5)
    assert timedelta(seconds=0.25) <= run.duration < timedelta(seconds=5)


def test_a_worker_whose_clock_runs_ahead_does_not_queue_a_fresh_run_again(
    connection, clock_ahead, settings, django_capture_on_commit_callbacks
):
    from linx.sync.queueing import requeue_lost_runs

    settings.LINX_REQUEUE_AFTER = 300  # less than the worker's clock is ahead
    new_run(connection)  # queued just now, by a process with the right time
    with clock_ahead(), django_capture_on_commit_callbacks(execute=False) as queued:
        assert requeue_lost_runs() == []
    assert queued == []
