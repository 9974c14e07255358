"""Handing runs to the task queue: for a person, a schedule, a re-run or a lost task.

A run is recorded with ``runs.create_run`` and then either done here and now with
``execute.execute`` (the commands, without ``--enqueue``) or queued with ``enqueue``
(everything else); a queue worker then executes it. The admin's actions and the
schedules call the ``queue_*`` helpers below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now

from linx.models import Connection, RunKind, RunStatus, RunTrigger, SyncRun, User
from linx.sync.execute import rerun_failed, why_not_rerun
from linx.sync.imports import ENTITIES
from linx.sync.parameters import RunParameters
from linx.sync.runs import create_run

log = logging.getLogger(__name__)


def enqueue(run: SyncRun) -> SyncRun:
    """Hand ``run`` to the task queue once the transaction that made it commits."""
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task(
            "linx.tasks.execute_run",
            run.pk,
            task_name=f"{run.kind} #{run.pk} {run.connection.name}",
            group=f"linx-{run.kind}",
        )
    )
    return run


def requeue_lost_runs() -> list[int]:
    """Hand runs back to the queue that have waited in it too long (LINX_REQUEUE_AFTER).

    A worker takes a few tasks from Redis ahead of running them; if it is killed, those
    tasks are gone and their runs would stay queued for ever. Queueing a run twice is
    harmless (only one claim can win), so a run queued, or re-queued, longer ago than the
    setting is queued again. ``heartbeat_at`` of a queued run holds when it was last
    re-queued.
    """
    cutoff = Now() - timedelta(seconds=settings.LINX_REQUEUE_AFTER)  # the database's clock
    lost = SyncRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    requeued = []
    for run in lost.select_related("connection"):
        if SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(heartbeat_at=Now()):
            with transaction.atomic():
                enqueue(run)
            requeued.append(run.pk)
    if requeued:
        log.warning("re-queued runs lost from the queue: %s", requeued)
    return requeued


@transaction.atomic
def _every_entity_unless_chosen(parameters: dict | None) -> dict:
    """An import's parameters, naming every entity when none were chosen."""
    chosen = RunParameters.from_json(parameters)
    if chosen.entities is None:
        chosen.entities = list(ENTITIES)
    return chosen.to_json()


def queue_runs(
    connections: Iterable[Connection],
    kind: RunKind,
    *,
    trigger: RunTrigger,
    started_by: User | None = None,
    dry_run: bool = False,
    parameters: dict | None = None,
) -> list[SyncRun]:
    """Queue one run of ``kind`` per connection; returns the queued runs."""
    if kind == RunKind.IMPORT:
        parameters = _every_entity_unless_chosen(parameters)
    return [
        enqueue(
            create_run(
                connection,
                kind,
                trigger=trigger,
                started_by=started_by,
                dry_run=dry_run,
                parameters=parameters,
            )
        )
        for connection in connections
    ]


@transaction.atomic
def queue_reruns(
    runs: Iterable[SyncRun], *, started_by: User | None = None
) -> tuple[list[SyncRun], list[tuple[SyncRun, str]]]:
    """Queue a re-run of each run's failed rows where one can help.

    Returns (queued re-runs, [(run left out, why)]).
    """
    queued, left_out = [], []
    for run in runs:
        if reason := why_not_rerun(run):
            left_out.append((run, reason))
        else:
            queued.append(
                enqueue(rerun_failed(run, trigger=RunTrigger.RERUN, started_by=started_by))
            )
    return queued, left_out


def apply_preview(preview: SyncRun, *, started_by: User | None = None) -> tuple[SyncRun, bool]:
    """Queue ``preview`` (a finished dry run) for real, once.

    Returns (the run applying it, whether this call queued it). A second apply (a double
    click, a second tab, two POSTs at once) gets the first one's run: the database's
    one-apply-per-preview constraint decides, not a look before the insert.
    """
    parameters = dict(preview.parameters or {})
    if preview.kind == RunKind.IMPORT:
        parameters = _every_entity_unless_chosen(parameters)
    try:
        with transaction.atomic():
            run = create_run(
                preview.connection,
                RunKind(preview.kind),
                trigger=RunTrigger.ADMIN,
                started_by=started_by,
                parameters=parameters,
                applied_from=preview,
            )
            return enqueue(run), True
    except IntegrityError:
        applied = preview.live_apply()
        if applied is None:  # not a clash over this preview after all
            raise
        return applied, False
