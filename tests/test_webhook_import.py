"""Applying Procore's change notices against the sandboxes: one run, each record read once.

Notices are stored as the receiving view stores them (`webhooks.accept`); the apply is
then run here, in the test's process, as a queue worker would run it.
"""

from __future__ import annotations

import itertools

import pytest

from integrations.procore.sandbox import data as pc
from linx.models import (
    EntityMapping,
    EntityType,
    Outcome,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
    WebhookEvent,
)
from linx.sync import webhooks
from linx.sync.execute import execute
from linx.sync.runs import create_run

WORKER = pc.WORKER_NO_CLASSIFICATION + 1
_ids = itertools.count(1)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda name, connection_id, **kw: calls.append(connection_id)
    )
    return calls


@pytest.fixture
def imported(sandbox_connection, procore_sandbox, exaktime_sandbox, queued):
    """The sandbox company imported once, webhooks on, the sandboxes' logs emptied."""
    run = execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
    type(sandbox_connection).objects.filter(pk=sandbox_connection.pk).update(webhooks_enabled=True)
    sandbox_connection.refresh_from_db()
    procore_sandbox.clear_requests()
    exaktime_sandbox.clear_requests()
    return sandbox_connection


def tell(connection, resource_name, resource_id, event_type="update", **extra):
    notice = webhooks.Notice(
        event_id=str(extra.pop("event_id", next(_ids))),
        company_id=connection.procore_company_id,
        resource_name=resource_name,
        resource_id=resource_id,
        event_type=event_type,
        project_id=extra.pop("project_id", None),
        timestamp="2026-12-06T07:00:00Z",
    )
    return webhooks.accept(connection, notice)


def employee(exaktime_sandbox, worker_id) -> dict:
    mapping = EntityMapping.objects.get(entity_type=EntityType.EMPLOYEE, procore_id=worker_id)
    return exaktime_sandbox.get("employee", int(mapping.exaktime_id))


def procore_reads(procore_sandbox) -> list[str]:
    return [
        r["path"]
        for r in procore_sandbox.requests()
        if r["path"].startswith("/rest/") and r["method"] == "GET"
    ]


def test_a_rename_reaches_exaktime_in_one_webhook_run_reading_one_record(
    imported, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.update("user", WORKER, last_name="Renamed-By-Hook")
    assert tell(imported, "Company Users", WORKER) == "stored"

    run = webhooks.apply_events(imported.pk, wait=False)

    assert (run.kind, run.trigger, run.status) == ("import", "webhook", RunStatus.SUCCEEDED)
    assert run.rows.get(procore_id=WORKER).outcome == Outcome.UPDATED
    assert employee(exaktime_sandbox, WORKER)["last_name"] == "Renamed-By-Hook"
    assert procore_reads(procore_sandbox) == [
        f"/rest/v1.3/companies/{pc.COMPANY_ID}/users/{WORKER}"
    ]
    assert not webhooks.waiting(imported.pk).exists()
    assert WebhookEvent.objects.get().applied_at is not None


def test_a_worker_deleted_before_linx_reads_it_is_deactivated(
    imported, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.remove("user", WORKER)
    tell(imported, "Company Users", WORKER, "delete")

    run = webhooks.apply_events(imported.pk, wait=False)

    assert run.rows.get(procore_id=WORKER).outcome == Outcome.DEACTIVATED
    assert employee(exaktime_sandbox, WORKER)["is_active"] is False


def test_a_worker_made_inactive_is_deactivated(imported, procore_sandbox, exaktime_sandbox):
    procore_sandbox.update("user", WORKER, is_active=False)
    tell(imported, "Company Users", WORKER)

    run = webhooks.apply_events(imported.pk, wait=False)

    assert run.rows.get(procore_id=WORKER).outcome == Outcome.DEACTIVATED
    assert employee(exaktime_sandbox, WORKER)["is_active"] is False


def test_a_new_worker_is_created(imported, procore_sandbox, exaktime_sandbox):
    added = procore_sandbox.add(
        "user",
        {"first_name": "Nia", "last_name": "Hooked", "employee_id": "7777", "is_employee": True},
        scope=pc.COMPANY_ID,
    )
    tell(imported, "Company Users", added["id"], "create")

    run = webhooks.apply_events(imported.pk, wait=False)

    assert run.rows.get(procore_id=added["id"]).outcome == Outcome.CREATED
    assert employee(exaktime_sandbox, added["id"])["last_name"] == "Hooked"


def test_a_project_rename_updates_its_location_and_reads_its_sub_jobs(
    imported, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.update("project", pc.PROJECT_ELM, name="Elm Street (renamed)")
    tell(imported, "Projects", pc.PROJECT_ELM)

    run = webhooks.apply_events(imported.pk, wait=False)

    row = run.rows.get(procore_id=pc.PROJECT_ELM, entity_type=EntityType.LOCATION)
    assert row.outcome == Outcome.UPDATED
    mapping = EntityMapping.objects.get(entity_type=EntityType.LOCATION, procore_id=pc.PROJECT_ELM)
    assert "renamed" in exaktime_sandbox.get("job", int(mapping.exaktime_id))["name"]


def test_a_project_deleted_before_linx_reads_it_is_deactivated(
    imported, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.remove("project", pc.PROJECT_ELM)
    tell(imported, "Projects", pc.PROJECT_ELM, "delete")

    run = webhooks.apply_events(imported.pk, wait=False)

    row = run.rows.get(procore_id=pc.PROJECT_ELM, entity_type=EntityType.LOCATION)
    assert row.outcome == Outcome.DEACTIVATED


def test_a_burst_of_notices_becomes_one_run_reading_each_record_once(
    imported, procore_sandbox, exaktime_sandbox, queued
):
    workers = [w["id"] for w in procore_sandbox.records("user", scope=pc.COMPANY_ID)][:10]
    for n in range(200):  # doubled, out of order: 200 notices about 10 workers
        worker = workers[(n * 7) % len(workers)]
        procore_sandbox.update("user", worker, mobile_phone=f"555-01{n % 100:02d}")
        tell(imported, "Company Users", worker)
    assert queued == [imported.pk]  # one apply asked for

    run = webhooks.apply_events(imported.pk, wait=False)

    assert SyncRun.objects.filter(trigger=RunTrigger.WEBHOOK).count() == 1
    assert run.webhook_events.count() == 200
    reads = procore_reads(procore_sandbox)
    assert sorted(reads) == sorted(
        f"/rest/v1.3/companies/{pc.COMPANY_ID}/users/{w}" for w in workers
    )
    assert webhooks.apply_events(imported.pk, wait=False) is None  # nothing left


def test_notices_arriving_while_an_import_runs_wait_for_it(imported, procore_sandbox, queued):
    running = create_run(imported, RunKind.IMPORT, trigger=RunTrigger.SCHEDULE)
    SyncRun.objects.filter(pk=running.pk).update(status=RunStatus.RUNNING)
    procore_sandbox.update("user", WORKER, last_name="Waited")
    tell(imported, "Company Users", WORKER)

    assert webhooks.apply_events(imported.pk, wait=False) is None
    assert webhooks.waiting(imported.pk).count() == 1  # never dropped

    SyncRun.objects.filter(pk=running.pk).update(status=RunStatus.SUCCEEDED)
    running.refresh_from_db()
    queued.clear()
    webhooks.after_run(running)  # the end of that import asks for an apply
    assert queued == [imported.pk]
    run = webhooks.apply_events(imported.pk, wait=False)
    assert run.rows.get(procore_id=WORKER).outcome == Outcome.UPDATED


def test_notices_stored_while_no_worker_runs_are_applied_by_the_tick(
    imported, procore_sandbox, monkeypatch
):
    def down(*args, **kwargs):
        raise ConnectionError("the queue is down")

    monkeypatch.setattr("django_q.tasks.async_task", down)
    procore_sandbox.update("user", WORKER, last_name="Late")
    tell(imported, "Company Users", WORKER)
    assert webhooks.waiting(imported.pk).count() == 1

    asked: list[int] = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda name, connection_id, **kw: asked.append(connection_id)
    )
    from django.utils import timezone

    imported.__class__.objects.filter(pk=imported.pk).update(
        webhook_apply_queued_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert webhooks.apply_waiting() == 1
    assert asked == [imported.pk]
    run = webhooks.apply_events(imported.pk)
    assert run.rows.get(procore_id=WORKER).outcome == Outcome.UPDATED


def test_a_run_that_stops_early_gives_its_notices_back(imported, procore_sandbox):
    procore_sandbox.faults.set("status", status=503, count=None, path="/rest/v1.3/")
    tell(imported, "Company Users", WORKER)

    run = webhooks.apply_events(imported.pk, wait=False)

    assert run.status == RunStatus.FAILED
    assert webhooks.waiting(imported.pk).count() == 1  # the next apply tries again
    procore_sandbox.faults.clear()
    again = webhooks.apply_events(imported.pk, wait=False)
    assert again.status == RunStatus.SUCCEEDED
    assert not webhooks.waiting(imported.pk).exists()


def test_notices_of_a_run_whose_worker_was_killed_wait_again(imported, procore_sandbox, queued):
    from django.utils import timezone

    tell(imported, "Company Users", WORKER)
    killed = create_run(imported, RunKind.IMPORT, trigger=RunTrigger.WEBHOOK)
    WebhookEvent.objects.update(run=killed)  # taken, then the worker died mid-run
    SyncRun.objects.filter(pk=killed.pk).update(
        status=RunStatus.FAILED, finished_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert not webhooks.waiting(imported.pk).exists()

    queued.clear()
    type(imported).objects.filter(pk=imported.pk).update(webhook_apply_queued_at=None)
    webhooks.apply_waiting()

    assert webhooks.waiting(imported.pk).count() == 1
    assert queued == [imported.pk]


def test_a_webhook_run_is_re_run_like_any_import(imported, procore_sandbox, exaktime_sandbox):
    from linx.sync.execute import rerun_failed

    broken = pc.WORKER_NO_EMPLOYEE_ID
    procore_sandbox.update("user", broken, first_name="Still")
    tell(imported, "Company Users", broken)
    run = webhooks.apply_events(imported.pk, wait=False)
    assert run.status == RunStatus.FAILED  # its only row failed: no Employee ID
    assert "no Employee ID" in run.rows.get(procore_id=broken).message
    assert not webhooks.waiting(imported.pk).exists()  # applied: the row says what to fix

    procore_sandbox.update("user", broken, employee_id="4242")
    again = execute(rerun_failed(run, trigger=RunTrigger.RERUN))

    assert again.rerun_of == run
    assert again.rows.get(procore_id=broken).outcome == Outcome.CREATED
    assert employee(exaktime_sandbox, broken)["first_name"] == "Still"
