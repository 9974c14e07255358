"""Failures that are still there are still counted (open failures).

A record that failed and has not changed since is still broken: Linx keeps it as an open
failure until it succeeds or is ignored, retries it on every plain import, and counts it
on the dashboard, the connections list, linx_status and the run summary. A preview reads
what the run it previews would read.
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from integrations.procore.sandbox import data as pc
from linx.cli import summary
from linx.models import (
    EntityMapping,
    EntityType,
    OpenFailure,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from linx.sync.execute import execute
from linx.sync.mappings import ignore, ignore_procore_record
from linx.sync.runs import Row, RunRecorder, claim, create_run

INDEX = "/admin/"
CONNECTIONS = "/admin/linx/connection/"
FAILURES = "/admin/linx/openfailure/"
TOO_LONG = "L" * 60  # ExakTime keeps at most 50 characters of a last name


def run_import(connection, **parameters):
    dry_run = parameters.pop("dry_run", False)
    return execute(
        create_run(
            connection,
            RunKind.IMPORT,
            trigger=RunTrigger.COMMAND,
            dry_run=dry_run,
            parameters={"entities": ["employees"], **parameters},
        )
    )


def open_failures(connection) -> set[int]:
    return set(
        OpenFailure.objects.filter(connection=connection, kind=RunKind.IMPORT).values_list(
            "procore_id", flat=True
        )
    )


def employee_rows(run) -> dict[int, str]:
    return dict(
        run.rows.filter(entity_type=EntityType.EMPLOYEE).values_list("procore_id", "outcome")
    )


def status_json(capsys) -> dict:
    with contextlib.suppress(SystemExit):  # it exits 1 while something needs a person
        call_command("linx_status", "sandbox", "--json")
    return json.loads(capsys.readouterr().out)


def users_reads(procore_sandbox) -> list[dict]:
    return [
        r
        for r in procore_sandbox.requests()
        if r["method"] == "GET" and r["path"].endswith("/users")
    ]


def a_clean_start(connection, staff_user) -> None:
    """A first import, with the sandbox's own broken workers set aside by an operator."""
    first = run_import(connection)
    for failed in first.rows.filter(outcome=Outcome.FAILED):
        ignore_procore_record(
            connection, failed.entity_type, failed.procore_id, acting_user=staff_user
        )
    assert not open_failures(connection)


def add_broken_workers(procore_sandbox, count: int) -> list[int]:
    return [
        procore_sandbox.add(
            "user",
            {"employee_id": f"88{n:02d}", "first_name": "Broken", "last_name": TOO_LONG},
            scope=pc.COMPANY_ID,
        )["id"]
        for n in range(count)
    ]


# --- the scenario -------------------------------------------------------------------


def test_failures_still_there_are_still_counted_until_fixed(
    sandbox_connection, procore_sandbox, exaktime_sandbox, staff_user, staff_client, capsys
):
    a_clean_start(sandbox_connection, staff_user)
    broken = add_broken_workers(procore_sandbox, 7)

    preview = run_import(sandbox_connection, dry_run=True)
    assert preview.counts["failed"] == 7
    assert not open_failures(sandbox_connection)  # a preview changes nothing

    first = run_import(sandbox_connection)
    assert first.counts["failed"] == 7
    assert open_failures(sandbox_connection) == set(broken)

    # One is fixed in Procore; the other six have not changed since.
    procore_sandbox.update("user", broken[0], last_name="Fixed")
    procore_sandbox.clear_requests()
    plain = run_import(sandbox_connection)

    assert plain.counts["failed"] == 6  # not 1: the unchanged six are tried again
    assert employee_rows(plain) == {
        broken[0]: Outcome.CREATED,
        **{worker: Outcome.FAILED for worker in broken[1:]},
    }  # only the changed and the failing workers, not every worker
    # One read of what changed: the six were tried again from their records as last
    # read (Procore lists them as unchanged since), not from a whole list.
    (read,) = users_reads(procore_sandbox)
    assert "filters[updated_at]" in read["query"]
    assert open_failures(sandbox_connection) == set(broken[1:])

    # Every place that counts says 6.
    dashboard = staff_client.get(INDEX).content.decode()
    panel = dashboard[dashboard.index(f'id="connection-{sandbox_connection.pk}"') :]
    assert '<strong class="linx-bad">6</strong>' in panel and "6 in import" in panel
    listed = staff_client.get(CONNECTIONS).content.decode()
    assert '<strong class="linx-bad">6</strong>' in listed and "6 in import" in listed
    report = status_json(capsys)
    assert report["open_failures"] == {"sandbox": 6}
    assert any("6 open failures" in p for p in report["connections"]["sandbox"])
    assert "6 failed in this run; 6 import failures still open on sandbox." in summary(plain)
    shown = staff_client.get(
        FAILURES, {"connection__id__exact": sandbox_connection.pk}
    ).content.decode()
    assert shown.count('class="field-name_shown"') == 6  # the six, each once

    # The rest are fixed: the next plain import brings it to 0.
    for worker in broken[1:]:
        procore_sandbox.update("user", worker, last_name="Fixed")
    last = run_import(sandbox_connection)
    assert last.counts.get("failed", 0) == 0
    assert not open_failures(sandbox_connection)
    report = status_json(capsys)
    assert report["open_failures"] == {"sandbox": 0}
    assert not any("open failures" in p for p in report["connections"]["sandbox"])


def test_an_ignored_record_is_no_longer_an_open_failure(
    sandbox_connection, procore_sandbox, exaktime_sandbox, staff_user
):
    run_import(sandbox_connection)
    assert pc.WORKER_NO_EMPLOYEE_ID in open_failures(sandbox_connection)
    assert pc.WORKER_LONG_NAME in open_failures(sandbox_connection)

    ignore_procore_record(
        sandbox_connection, EntityType.EMPLOYEE, pc.WORKER_NO_EMPLOYEE_ID, acting_user=staff_user
    )
    assert pc.WORKER_NO_EMPLOYEE_ID not in open_failures(sandbox_connection)

    # The mappings screen's bulk "ignore" closes them too (the import listed the failed
    # record there, with no ExakTime side).
    mapping = EntityMapping.objects.get(
        exaktime_id=None,
        connection=sandbox_connection,
        entity_type=EntityType.EMPLOYEE,
        procore_id=pc.WORKER_LONG_NAME,
    )
    ignore(EntityMapping.objects.filter(pk=mapping.pk), acting_user=staff_user)
    assert pc.WORKER_LONG_NAME not in open_failures(sandbox_connection)


def test_a_preview_and_its_apply_read_the_same_records(
    sandbox_connection, procore_sandbox, exaktime_sandbox, staff_user, staff_client
):
    a_clean_start(sandbox_connection, staff_user)
    changed = pc.WORKER_NO_CLASSIFICATION + 1
    procore_sandbox.update("user", changed, first_name="Previewed")

    preview = run_import(sandbox_connection, dry_run=True)
    assert employee_rows(preview) == {changed: Outcome.UPDATED}  # changed since, as for real
    # Meanwhile another import moves the bookmark past that change.
    run_import(sandbox_connection)

    staff_client.post(f"/admin/linx/syncrun/{preview.pk}/apply/")
    applied = SyncRun.objects.filter(dry_run=False).latest()
    assert applied.parameters["since"] == preview.parameters["since"]
    applied = execute(applied)
    assert set(employee_rows(applied)) == set(employee_rows(preview))


def test_a_dry_run_reads_changed_records_like_the_plain_import_it_previews(
    sandbox_connection, procore_sandbox, exaktime_sandbox, staff_user
):
    a_clean_start(sandbox_connection, staff_user)
    procore_sandbox.clear_requests()

    preview = run_import(sandbox_connection, dry_run=True)

    (read,) = users_reads(procore_sandbox)
    assert "filters[updated_at]" in read["query"]
    assert not employee_rows(preview)  # nothing changed, nothing failing
    full = run_import(sandbox_connection, dry_run=True, full=True)
    assert employee_rows(full)  # a full preview is still there for the asking


# --- how rows open and close them -------------------------------------------------------------


def record_rows(connection, rows, *, dry_run=False, kind=RunKind.IMPORT):
    run = claim(create_run(connection, kind, trigger=RunTrigger.COMMAND, dry_run=dry_run))
    with RunRecorder(run, batch=2) as recorder:
        for row in rows:
            recorder.record(row)
        return recorder.finish()


def test_a_failed_row_opens_a_later_success_closes_and_dry_runs_change_nothing(connection):
    first = record_rows(
        connection,
        [
            Row(EntityType.EMPLOYEE, Outcome.FAILED, 1, name="Ann", message="no ID"),
            Row(EntityType.EMPLOYEE, Outcome.FAILED, 2, name="Bob", message="too long"),
            Row(EntityType.EMPLOYEE, Outcome.CREATED, 3, name="Cy"),
        ],
    )
    assert open_failures(connection) == {1, 2}
    ann = OpenFailure.objects.get(connection=connection, procore_id=1)
    assert (ann.name, ann.message, ann.last_run_id) == ("Ann", "no ID", first.pk)

    record_rows(connection, [Row(EntityType.EMPLOYEE, Outcome.UNCHANGED, 1)], dry_run=True)
    assert open_failures(connection) == {1, 2}  # a preview closes nothing

    again = record_rows(
        connection,
        [
            Row(EntityType.EMPLOYEE, Outcome.FAILED, 1, name="Ann", message="still no ID"),
            Row(EntityType.EMPLOYEE, Outcome.UPDATED, 2, name="Bob"),
        ],
    )
    assert open_failures(connection) == {1}
    ann = OpenFailure.objects.get(connection=connection, procore_id=1)
    assert ann.message == "still no ID" and ann.last_run_id == again.pk
    assert ann.first_seen_at < ann.last_seen_at  # first seen stays, last seen moves

    same_words = record_rows(
        connection,
        [Row(EntityType.EMPLOYEE, Outcome.FAILED, 1, name="Ann", message="still no ID")],
    )
    seen_before, ann = ann.last_seen_at, OpenFailure.objects.get(pk=ann.pk)
    assert ann.message == "still no ID" and ann.last_run_id == same_words.pk
    assert ann.last_seen_at > seen_before  # failing again in the same words is seen too


def test_an_unreadable_list_stays_open_until_a_complete_run_reads_that_entity(connection):
    unreadable = Row(EntityType.CREW, Outcome.FAILED, None, name="(reading crews of project 7)")
    record_rows(connection, [unreadable])
    assert OpenFailure.objects.get(connection=connection).source_id.startswith("list: ")

    record_rows(connection, [Row(EntityType.EMPLOYEE, Outcome.CREATED, 5)])
    assert OpenFailure.objects.filter(connection=connection).count() == 1  # crews not read

    record_rows(connection, [Row(EntityType.CREW, Outcome.UNCHANGED, 9)])
    assert not OpenFailure.objects.filter(connection=connection).exists()


# --- a run a whole-run error stopped ------------------------------------------------------


def stopped(connection, kind=RunKind.IMPORT, message="Procore refused the sign-in (401)."):
    now = timezone.now()
    return SyncRun.objects.create(
        connection=connection,
        kind=kind,
        status=RunStatus.FAILED,
        trigger=RunTrigger.SCHEDULE,
        message=message,
        created_at=now,
        started_at=now,
        finished_at=now + timedelta(seconds=1),
    )


def test_a_run_stopped_by_a_whole_run_error_counts_as_a_failure_until_one_finishes(
    connection, staff_client, capsys
):
    run = stopped(connection)

    dashboard = staff_client.get(INDEX).content.decode()
    panel = dashboard[dashboard.index(f'id="connection-{connection.pk}"') :]
    assert '<strong class="linx-bad">1</strong>' in panel and "import stopped" in panel
    assert f"/admin/linx/syncrun/{run.pk}/change/" in panel
    try:
        call_command("linx_status", "--json")
    except SystemExit as leave:
        assert leave.code == 1
    report = json.loads(capsys.readouterr().out)
    assert any("refused the sign-in" in p for p in report["connections"]["acme-builders"])

    later = stopped(connection, message="")  # every row failed: a run that went through
    SyncRun.objects.filter(pk=later.pk).update(status=RunStatus.PARTIAL)
    dashboard = staff_client.get(INDEX).content.decode()
    panel = dashboard[dashboard.index(f'id="connection-{connection.pk}"') :]
    assert "import stopped" not in panel


def test_the_open_failures_list_is_read_only_and_filtered_by_connection(connection, staff_client):
    OpenFailure.objects.create(
        connection=connection,
        kind=RunKind.EXPORT,
        entity_type=EntityType.TIME_RECORD,
        source_id="4711",
        name="2026-11-16 employee 1001",
        message="Procore refused the entry",
    )
    page = staff_client.get(FAILURES, {"connection__id__exact": connection.pk})
    assert page.status_code == 200
    assert "2026-11-16 employee 1001" in page.content.decode()
    failure = OpenFailure.objects.get()
    assert staff_client.post(f"{FAILURES}{failure.pk}/delete/").status_code == 403
    assert staff_client.get(f"{FAILURES}add/").status_code == 403


def test_the_migration_seeds_open_failures_from_the_latest_real_runs(connection):
    from django.apps import apps

    seed = __import__("linx.migrations.0010_open_failures", fromlist=["seed"]).seed
    older = stopped(connection, message="")
    RowResult.objects.create(
        run=older, entity_type=EntityType.EMPLOYEE, outcome=Outcome.FAILED, procore_id=1
    )
    latest = stopped(connection, message="")
    for procore_id, outcome in ((2, Outcome.FAILED), (3, Outcome.CREATED)):
        RowResult.objects.create(
            run=latest, entity_type=EntityType.EMPLOYEE, outcome=outcome, procore_id=procore_id
        )
    preview = stopped(connection, message="")
    SyncRun.objects.filter(pk=preview.pk).update(dry_run=True)
    RowResult.objects.create(
        run=preview, entity_type=EntityType.EMPLOYEE, outcome=Outcome.FAILED, procore_id=4
    )

    seed(apps, None)

    assert open_failures(connection) == {2}


def test_a_failing_record_gone_from_procore_is_closed_by_the_next_full_pass(
    sandbox_connection, procore_sandbox, exaktime_sandbox
):
    run_import(sandbox_connection)
    assert pc.WORKER_NO_EMPLOYEE_ID in open_failures(sandbox_connection)
    procore_sandbox.update("user", pc.WORKER_NO_EMPLOYEE_ID, is_active=False)

    run_import(sandbox_connection)  # a plain import does not see who is gone
    assert pc.WORKER_NO_EMPLOYEE_ID in open_failures(sandbox_connection)

    run_import(sandbox_connection, full=True)
    assert pc.WORKER_NO_EMPLOYEE_ID not in open_failures(sandbox_connection)
    assert pc.WORKER_LONG_NAME in open_failures(sandbox_connection)  # still there, still open


def test_a_plain_import_retries_failing_projects_and_sub_jobs(
    sandbox_connection, procore_sandbox, exaktime_sandbox
):
    bad_sub_job = procore_sandbox.add(
        "sub_job", {"code": "777", "name": "S" * 200, "active": True}, scope=pc.PROJECT_PJA
    )["id"]
    first = run_import(sandbox_connection, entities=["locations"])
    failing = set(
        first.rows.filter(outcome=Outcome.FAILED).values_list("entity_type", "procore_id")
    )
    assert (EntityType.SUB_JOB, bad_sub_job) in failing
    assert sum(1 for kind, _ in failing if kind == EntityType.LOCATION) == 3
    procore_sandbox.clear_requests()

    plain = run_import(sandbox_connection, entities=["locations"])

    # Nothing changed in Procore, yet every failing record was tried again.
    assert (
        set(plain.rows.filter(outcome=Outcome.FAILED).values_list("entity_type", "procore_id"))
        == failing
    )
    (projects,) = [r for r in procore_sandbox.requests() if r["path"].endswith("/projects")]
    assert "filters[updated_at]" not in projects["query"]


def test_retrying_failing_projects_still_deactivates_a_project_made_inactive(
    sandbox_connection, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.add(
        "sub_job", {"code": "777", "name": "S" * 200, "active": True}, scope=pc.PROJECT_PJA
    )
    run_import(sandbox_connection, entities=["locations"])
    assert OpenFailure.objects.filter(connection=sandbox_connection).exists()
    procore_sandbox.update("project", pc.PROJECT_ELM, active=False)

    plain = run_import(sandbox_connection, entities=["locations"])

    # The whole list read to retry the failing records is of every status, so the
    # project made inactive meanwhile is seen and its location deactivated.
    assert (
        plain.rows.get(entity_type=EntityType.LOCATION, procore_id=pc.PROJECT_ELM).outcome
        == Outcome.DEACTIVATED
    )
