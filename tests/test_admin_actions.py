"""The admin's actions queue runs for the task queue, as the person who clicked."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from linx.models import Outcome, RowResult, RunKind, RunStatus, RunTrigger, SyncRun, User
from linx.sync.runs import claim, create_run
from linx.tasks import execute_run

CHANGELIST = "/admin/linx/connection/"


def act(client, url, action, ids, **extra):
    return client.post(
        url, {"action": action, "_selected_action": [str(i) for i in ids], **extra}, follow=True
    )


def test_pre_import_action_queues_a_run_started_by_the_user(
    staff_client, staff_user, connection, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = act(staff_client, CHANGELIST, "preimport", [connection.pk])
    run = SyncRun.objects.get()
    assert (run.kind, run.status, run.trigger) == (
        RunKind.PREIMPORT,
        RunStatus.QUEUED,
        RunTrigger.ADMIN,
    )
    assert run.started_by == staff_user
    assert len(callbacks) == 1  # handed to the queue once the transaction commits
    # It lands on the run's page, whose message links to it.
    assert f'run <a href="/admin/linx/syncrun/{run.pk}/change/">#{run.pk}</a>' in (
        response.content.decode()
    )


def test_import_chosen_entities_asks_then_queues_what_was_chosen(staff_client, connection):
    page = act(staff_client, CHANGELIST, "import_chosen", [connection.pk])
    assert b"What to import" in page.content
    assert not SyncRun.objects.exists()

    act(staff_client, CHANGELIST, "import_chosen", [connection.pk], apply="1",
        entities=["employees", "crews"], dry_run="on")  # fmt: skip
    run = SyncRun.objects.get()
    assert run.parameters["entities"] == ["employees", "crews"]
    assert run.dry_run


def test_rerun_action_queues_only_runs_with_failed_rows(staff_client, connection):
    failed = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND)
    SyncRun.objects.filter(pk=failed.pk).update(status=RunStatus.PARTIAL)
    RowResult.objects.create(
        run=failed, entity_type="employee", outcome=Outcome.FAILED, procore_id=5, retryable=True
    )
    clean = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND)
    SyncRun.objects.filter(pk=clean.pk).update(status=RunStatus.SUCCEEDED)

    response = act(staff_client, "/admin/linx/syncrun/", "rerun_failed_rows", [failed.pk, clean.pk])

    rerun = SyncRun.objects.get(rerun_of=failed)
    assert rerun.parameters["only"] == {"employee": [5]}
    assert rerun.trigger == RunTrigger.RERUN
    assert f"Nothing to re-run for #{clean.pk} yet: no row of run #{clean.pk} failed." in (
        response.content.decode()
    )


def test_cancel_action_stops_a_queued_run(staff_client, connection):
    run = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND)
    act(staff_client, "/admin/linx/syncrun/", "cancel_runs", [run.pk])
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_staff_without_change_permission_cannot_start_runs(client, db, connection, settings):
    settings.LINX_REQUIRE_MFA = False
    from django.contrib.auth.models import Permission

    viewer = User.objects.create_user("viewer@example.com", "x" * 20, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(viewer)
    response = act(client, CHANGELIST, "preimport", [connection.pk])
    assert not SyncRun.objects.exists()
    assert response.status_code in (200, 403)


def test_a_queued_import_runs_in_the_worker_task(sandbox_connection, exaktime_sandbox):
    run = create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.ADMIN,
                     parameters={"entities": ["cost_codes"]})  # fmt: skip
    assert execute_run(run.pk) == RunStatus.PARTIAL
    assert exaktime_sandbox.records("cost_code", scope=1, identifier="3010")


def test_the_worker_task_leaves_a_run_held_elsewhere_alone(connection):
    claim(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    second = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.SCHEDULE)
    assert execute_run(second.pk) == RunStatus.SKIPPED


def test_export_time_asks_for_a_range_then_queues_it(staff_client, connection):
    page = act(staff_client, CHANGELIST, "export_time", [connection.pk])
    assert b"From (work date)" in page.content
    assert not SyncRun.objects.exists()

    act(staff_client, CHANGELIST, "export_time", [connection.pk], apply="1",
        first_day="2026-11-16", last_day="2026-11-22", dry_run="on")  # fmt: skip
    run = SyncRun.objects.get()
    assert run.kind == RunKind.EXPORT and run.dry_run
    assert (run.parameters["from"], run.parameters["to"]) == ("2026-11-16", "2026-11-22")


def test_export_time_offers_the_last_complete_week_in_the_connections_time_zone(
    staff_client, connection, monkeypatch
):
    # Monday 2026-11-30 07:00 UTC is still Sunday 2026-11-29 in Los Angeles: the week
    # of the 23rd has not ended there yet, so the last complete one is the 16th-22nd.
    monday_morning = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    monkeypatch.setattr(timezone, "now", lambda: monday_morning)
    connection.time_zone = "America/Los_Angeles"
    connection.save()
    page = act(staff_client, CHANGELIST, "export_time", [connection.pk]).content.decode()
    assert 'value="2026-11-16"' in page and 'value="2026-11-22"' in page

    connection.time_zone = "Europe/Berlin"  # already Monday the 30th there
    connection.save()
    page = act(staff_client, CHANGELIST, "export_time", [connection.pk]).content.decode()
    assert 'value="2026-11-23"' in page and 'value="2026-11-29"' in page


def test_export_time_refuses_a_backwards_range(staff_client, connection):
    page = act(staff_client, CHANGELIST, "export_time", [connection.pk], apply="1",
               first_day="2026-11-22", last_day="2026-11-16")  # fmt: skip
    assert b"The range ends before it starts" in page.content
    assert not SyncRun.objects.exists()


def test_near_real_time_import_is_switched_on_checked_and_off_from_the_admin(
    staff_client, sandbox_connection, procore_sandbox, settings
):
    from linx.models import Connection

    settings.LINX_PUBLIC_URL = "http://127.0.0.1:9"
    page = act(staff_client, CHANGELIST, "webhooks_on", [sandbox_connection.pk])
    assert "near-real-time import is on" in page.content.decode()
    connection = Connection.objects.get(pk=sandbox_connection.pk)
    assert connection.webhooks_enabled and connection.webhook_hook_id
    change = staff_client.get(f"{CHANGELIST}{connection.pk}/change/").content.decode()
    assert "Near-real-time import" in change and "last notice" in change
    assert connection.webhook_secret not in change

    procore_sandbox.store.kv_set("webhook_hooks", {})
    page = act(staff_client, CHANGELIST, "webhooks_check", [connection.pk])
    assert "the hook is gone from Procore" in page.content.decode()

    page = act(staff_client, CHANGELIST, "webhooks_off", [connection.pk])
    assert not Connection.objects.get(pk=connection.pk).webhooks_enabled


def test_switching_on_without_a_public_url_says_what_to_set(staff_client, connection, settings):
    settings.LINX_PUBLIC_URL = None
    page = act(staff_client, CHANGELIST, "webhooks_on", [connection.pk])
    assert "LINX_PUBLIC_URL is not set" in page.content.decode()
    connection.refresh_from_db()
    assert not connection.webhooks_enabled
