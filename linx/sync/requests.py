"""Asking for runs on behalf of a person or a schedule: record them and queue them.

The admin's actions and the schedules call these; the work happens in a queue worker.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction

from linx.models import Connection, RunKind, RunTrigger, SyncRun, User
from linx.sync.execute import enqueue, rerun_failed, start, why_not_rerun
from linx.sync.imports import ENTITIES


@transaction.atomic
def request_runs(
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
        parameters = {"entities": list(ENTITIES), **(parameters or {})}
    return [
        enqueue(
            start(
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
def request_reruns(
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
        parameters = {"entities": list(ENTITIES), **parameters}
    try:
        with transaction.atomic():
            run = start(
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
