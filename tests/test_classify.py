"""One classifier for every error from Procore or ExakTime, and the run's failure kind.

A row or run records what `classify` says: the message, the hint as its own field,
whether someone must fix something first, and (for a run) why it stopped early. The
CLI's exit code and re-runs read that kind, not whether the run has a message.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.exaktime.errors import (
    ExakTimeConflict,
    ExakTimeOutcomeUnknown,
    ExakTimePermissionError,
    exaktime_says,
)
from integrations.procore.errors import (
    RECONNECT,
    ProcoreAuthError,
    ProcoreError,
    ProcoreNotFound,
    ProcorePermissionError,
    ProcoreRateLimited,
    ProcoreUnavailable,
    procore_says,
)
from linx.cli import EXIT_COULD_NOT_RUN, EXIT_ROWS_FAILED, exit_code
from linx.models import FailureKind, Outcome, RunKind, RunStatus, RunTrigger, SyncRun
from linx.sync.classify import classify
from linx.sync.execute import why_not_rerun
from linx.sync.runs import (
    Row,
    RunAborted,
    RunRecorder,
    cancel,
    claim,
    create_run,
    reap_dead_runs,
    stop_unless_only_this_list,
)

SUB_JOBS_HINT = "Sub-jobs are not enabled for this company."


def procore(cls, words, status, **kwargs):
    return cls(procore_says(words, status), status=status, **kwargs)


def exaktime(cls, words, status, **kwargs):
    return cls(exaktime_says(words, status), status=status, **kwargs)


@pytest.mark.parametrize(
    ("error", "kind", "fix_needed"),
    [
        (procore(ProcoreAuthError, "The access token is invalid", 401), "authentication", True),
        (exaktime(ExakTimePermissionError, "read only", 403), "authentication", True),
        (procore(ProcorePermissionError, "Forbidden", 403), "configuration", True),
        (procore(ProcoreNotFound, "Not found", 404), "data", True),
        (exaktime(ExakTimeConflict, "duplicate identifier", 409), "data", True),
        (procore(ProcoreError, "Missing Procore-Company-Id header!", 400), "configuration", True),
        (procore(ProcoreUnavailable, "Service Unavailable", 503), "unavailable", False),
        (procore(ProcoreRateLimited, "Too many requests", 429), "rate_limited", False),
        (exaktime(ExakTimeOutcomeUnknown, "timed out", None), "unavailable", False),
    ],
)
def test_each_error_is_read_by_its_own_permanence_into_one_failure(error, kind, fix_needed):
    failure = classify(error)
    assert failure.kind == kind
    assert failure.fix_needed is fix_needed and failure.retry_may_help is not fix_needed
    assert failure.message == error.message  # what rows have always shown, unchanged


def test_the_hint_is_its_own_field_and_the_words_come_without_it():
    failure = classify(procore(ProcoreError, "Sub Jobs are not enabled", 400))
    assert failure.hint.startswith(SUB_JOBS_HINT)
    assert failure.words == "Procore says: Sub Jobs are not enabled (400)."
    assert failure.message == f"{failure.words} {failure.hint}"

    refused = classify(exaktime(ExakTimePermissionError, "Forbidden", 403))
    assert refused.hint == "The ExakTime API key is read-only; Linx needs a read-write key."
    assert refused.words == "ExakTime says: Forbidden (403)."

    plain = classify(procore(ProcoreError, "Something odd", 400))
    assert plain.hint == "" and plain.words == plain.message


def test_an_error_linx_does_not_know_is_a_crash_that_a_retry_may_fix():
    failure = classify(ZeroDivisionError("division by zero"))
    assert failure.kind == FailureKind.CRASHED and failure.retry_may_help
    assert "ZeroDivisionError" in failure.message


def test_a_refused_list_stops_the_run_only_when_nothing_else_can_work():
    with pytest.raises(RunAborted) as stopped:
        stop_unless_only_this_list(procore(ProcoreAuthError, "Bad token", 401), "workers")
    assert stopped.value.kind == FailureKind.AUTHENTICATION
    assert stopped.value.message.endswith(RECONNECT)

    with pytest.raises(RunAborted) as later:
        stop_unless_only_this_list(
            procore(ProcoreUnavailable, "Down", 503), "workers", then=" Re-run it later."
        )
    assert later.value.kind == FailureKind.UNAVAILABLE
    assert later.value.message == (
        "Procore did not answer while Linx read workers: Procore says: Down (503). Re-run it later."
    )

    only_this = stop_unless_only_this_list(procore(ProcoreNotFound, "Gone", 404), "sub-jobs")
    assert only_this.kind == FailureKind.DATA and only_this.fix_needed


# --- The run records why it stopped ------------------------------------------------------


def new_run(connection, kind=RunKind.IMPORT):
    return claim(create_run(connection, kind, trigger=RunTrigger.COMMAND))


def aborted(connection, abort: RunAborted) -> SyncRun:
    run = new_run(connection)
    with pytest.raises(RunAborted), RunRecorder(run):
        raise abort
    run.refresh_from_db()
    return run


def test_an_aborted_run_records_the_kind_of_the_error_that_stopped_it(connection):
    try:
        raise procore(ProcoreUnavailable, "Down", 503)
    except ProcoreUnavailable as error:
        try:
            raise RunAborted(f"Procore did not answer: {error.message}") from error
        except RunAborted as abort:
            run = aborted(connection, abort)
    assert run.status == RunStatus.FAILED and run.failure_kind == FailureKind.UNAVAILABLE
    assert exit_code(run) == EXIT_COULD_NOT_RUN


def test_a_bad_setting_is_a_configuration_failure_unless_told_otherwise(connection):
    assert aborted(connection, RunAborted("No date range.")).failure_kind == "configuration"
    told = RunAborted("The pre-import did not run.", kind=FailureKind.OTHER)
    assert aborted(connection, told).failure_kind == "other"


def test_crashes_cancels_and_dead_workers_each_record_their_kind(connection):
    crashed = new_run(connection)
    with pytest.raises(ZeroDivisionError), RunRecorder(crashed):
        1 / 0  # noqa: B018
    crashed.refresh_from_db()
    assert crashed.failure_kind == FailureKind.CRASHED

    queued = create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND)
    cancel(queued, acting_user=None)
    queued.refresh_from_db()
    assert queued.failure_kind == FailureKind.STOPPED

    dead = new_run(connection, RunKind.PREIMPORT)
    SyncRun.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    reap_dead_runs()
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and dead.failure_kind == FailureKind.CRASHED


def test_a_run_whose_every_row_failed_has_no_failure_kind_and_exits_1(connection):
    run = new_run(connection)
    with RunRecorder(run) as recorder:
        recorder.record(Row("employee", Outcome.FAILED, procore_id=1, message="No ID."))
        run = recorder.finish()
    assert run.status == RunStatus.FAILED and run.failure_kind == ""
    assert exit_code(run) == EXIT_ROWS_FAILED
    # A message alone (an operator's note) does not make it a run that stopped early.
    SyncRun.objects.filter(pk=run.pk).update(message="Looked at by Kim.")
    run.refresh_from_db()
    assert exit_code(run) == EXIT_ROWS_FAILED
    assert why_not_rerun(run).startswith("every failed row needs a change")

    SyncRun.objects.filter(pk=run.pk).update(failure_kind=FailureKind.UNAVAILABLE)
    run.refresh_from_db()
    assert exit_code(run) == EXIT_COULD_NOT_RUN
    assert why_not_rerun(run) == ""  # a run that stopped early is resumed
