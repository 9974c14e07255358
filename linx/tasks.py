"""django-q2 entry points: ids in, nothing else (the database holds the rest)."""

from __future__ import annotations

import logging
from datetime import date

from linx.models import RunSchedule, RunTrigger, SyncRun
from linx.sync import webhook_hooks, webhooks
from linx.sync.alerts import after_scheduled_reconciliation, after_scheduled_run
from linx.sync.execute import execute
from linx.sync.queueing import requeue_lost_runs
from linx.sync.reconcile import reconcile
from linx.sync.runs import RunRefused, reap_dead_runs
from linx.sync.schedules import fire_due

log = logging.getLogger(__name__)


def execute_run(run_id: int) -> str:
    """Do queued run ``run_id``; returns its final status for the queue's history."""
    # Any worker that picks up work also frees connections held by dead runs.
    reap_dead_runs()
    run = SyncRun.objects.select_related("connection").get(pk=run_id)
    try:
        run = execute(run)
    except RunRefused as refused:
        # Another run holds the connection, or this one was cancelled or already done:
        # nothing to do, and nothing for the queue to retry.
        log.info("run %s not started: %s", run_id, refused.message)
        return refused.run.status
    after_scheduled_run(run)
    webhooks.after_run(run)
    return run.status


def apply_webhook_events(connection_id: int) -> str:
    """Apply a connection's waiting Procore notices as one import run, after the
    coalescing delay; returns the run's status (or why there was none)."""
    run = webhooks.apply_events(connection_id)
    return run.status if run else "nothing to apply"


def reconcile_scheduled(schedule_id: int, first_day: str, last_day: str) -> str:
    """A schedule's reconciliation of ``first_day``..``last_day``; e-mails any differences."""
    schedule = RunSchedule.objects.select_related("connection").filter(pk=schedule_id).first()
    if schedule is None:
        return "schedule gone"
    done = reconcile(
        schedule.connection,
        date.fromisoformat(first_day),
        date.fromisoformat(last_day),
        trigger=RunTrigger.SCHEDULE,
    )
    after_scheduled_reconciliation(done)
    return done.status


def fire_due_schedules() -> int:
    """Every minute: start the runs whose schedules are due; returns how many were recorded.

    The same tick frees connections held by dead runs and re-queues runs lost with a
    killed worker, so both are noticed within a minute whatever else happens.
    """
    reap_dead_runs()
    requeue_lost_runs()
    webhooks.apply_waiting()
    webhook_hooks.queue_due_checks()
    return len(fire_due())


def check_webhooks(connection_id: int) -> str:
    """Check a connection's Procore hook (drift, a gap); e-mail when a problem appears."""
    drift = webhook_hooks.check_and_alert(connection_id)
    return "; ".join(drift) or "in step"
