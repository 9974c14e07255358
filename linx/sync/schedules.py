"""Schedules: runs that start by themselves, on a cron expression in the company's time zone.

One django-q2 schedule (`linx: fire due schedules`, every minute) calls `fire_due`, which
fires each enabled `RunSchedule` whose time has come. Several workers may tick at once:
a compare-and-set on `next_run_at` lets exactly one of them fire a schedule. A schedule
that comes round while its previous run is still queued or running records a `skipped`
run saying so, instead of piling another one up. Missed times (the service was down)
fire once, not once per missed time. A reconciliation schedule hands its range to the
task queue (`linx.tasks.reconcile_scheduled`), which records it and e-mails the
connection's alert addresses when it finds differences.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from croniter import croniter
from django.db import transaction
from django.utils import timezone

from linx.models import RunKind, RunSchedule, RunStatus, RunTrigger, ScheduleKind, SyncRun
from linx.sync.parameters import RunParameters
from linx.sync.queueing import queue_runs
from linx.sync.runs import create_run, skip

log = logging.getLogger(__name__)

TICKER_NAME = "linx: fire due schedules"
TICKER_FUNC = "linx.tasks.fire_due_schedules"


def next_time(schedule: RunSchedule, after: datetime) -> datetime:
    """When ``schedule`` fires next after ``after``, reading its cron in the connection's zone."""
    local = after.astimezone(schedule.connection.zone)
    return croniter(schedule.cron, local).get_next(datetime)


def days_for(schedule: RunSchedule, now: datetime) -> tuple[date, date]:
    """The work dates an export or reconciliation covers, relative to today there."""
    return schedule.export_days(now.astimezone(schedule.connection.zone).date())


def parameters_for(schedule: RunSchedule, now: datetime) -> dict:
    """The run's parameters as of ``now`` (an export's dates are relative to today there)."""
    parameters = RunParameters(schedule=schedule.pk)
    if schedule.kind == RunKind.IMPORT and schedule.entities.strip():
        parameters.entities = [e.strip() for e in schedule.entities.split(",") if e.strip()]
    if schedule.kind == RunKind.EXPORT:
        first, last = days_for(schedule, now)
        parameters.first_day, parameters.last_day = first.isoformat(), last.isoformat()
        parameters.approved_only = schedule.approved_only
    return parameters.to_json()


def fire_due(now: datetime | None = None) -> list[SyncRun]:
    """Fire every schedule whose time has come; returns the runs recorded (queued or skipped)."""
    now = now or timezone.now()
    due = RunSchedule.objects.select_related("connection").filter(
        enabled=True, connection__is_active=True
    )
    fired = []
    for schedule in due:
        if schedule.next_run_at is None:
            # New or re-enabled: its first time is the next one from now, not a past one.
            RunSchedule.objects.filter(pk=schedule.pk, next_run_at__isnull=True).update(
                next_run_at=next_time(schedule, now)
            )
            continue
        if schedule.next_run_at > now:
            continue
        won = RunSchedule.objects.filter(pk=schedule.pk, next_run_at=schedule.next_run_at).update(
            next_run_at=next_time(schedule, now), last_fired_at=now
        )
        if won and schedule.kind == ScheduleKind.RECONCILE:
            queue_reconciliation(schedule, now)
        elif won:
            fired.append(fire(schedule, now))
    return fired


def queue_reconciliation(schedule: RunSchedule, now: datetime) -> None:
    """Hand the schedule's reconciliation to the task queue (it reads a whole range)."""
    from django_q.tasks import async_task

    first, last = days_for(schedule, now)
    transaction.on_commit(
        lambda: async_task(
            "linx.tasks.reconcile_scheduled",
            schedule.pk,
            first.isoformat(),
            last.isoformat(),
            task_name=f"reconcile {schedule.connection.name} {first}..{last}",
            group="linx-reconcile",
        )
    )


def fire(schedule: RunSchedule, now: datetime) -> SyncRun:
    """Queue the schedule's run, or record it skipped when the previous one is still going."""
    busy = (
        SyncRun.objects.filter(
            connection=schedule.connection,
            kind=schedule.kind,
            status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
        )
        .order_by("created_at")
        .first()
    )
    parameters = parameters_for(schedule, now)
    if busy is not None:
        run = create_run(
            schedule.connection, schedule.kind, trigger=RunTrigger.SCHEDULE, parameters=parameters
        )
        skip(
            run,
            f"Skipped: the schedule {schedule.cron!r} came round while the previous "
            f"{busy.get_kind_display().lower()} (run #{busy.pk}) was still "
            f"{busy.get_status_display().lower()}.",
        )
        log.info("schedule %s skipped: run %s still %s", schedule.pk, busy.pk, busy.status)
        return run
    (run,) = queue_runs(
        [schedule.connection], schedule.kind, trigger=RunTrigger.SCHEDULE, parameters=parameters
    )
    return run


def ensure_ticker() -> None:
    """The one django-q2 schedule that fires Linx's schedules every minute."""
    from django_q.models import Schedule

    Schedule.objects.get_or_create(
        name=TICKER_NAME,
        defaults={
            "func": TICKER_FUNC,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
