"""Open failures: the records that failed and have not been handled without failing since.

A run's rows say what happened in that run; a record that failed and has not changed
since is still broken even when later runs did not touch it. So each connection keeps
one open failure per failing record (per run kind), kept up to date as a real run's rows
are written: a failed row opens or refreshes it, any other outcome for the same record
closes it, and so does an operator ignoring the record. Dry runs change nothing here.

A list Linx could not read at all (no record to name) is kept as ``list: <what>`` and
closed when a later complete run of that kind reads that entity again without failing
on it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count
from django.utils import timezone

from linx.models import (
    Connection,
    EntityType,
    OpenFailure,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    SyncRun,
)
from linx.sync import bulk_sql

LIST_PREFIX = "list: "
SOURCE_MAX = 300


def source_of(entity_type: str, procore_id: int | None, exaktime_id: str, name: str) -> str:
    """The key of the record a row is about (see ``OpenFailure.source_id``)."""
    if entity_type == EntityType.TIME_RECORD and exaktime_id:
        return exaktime_id
    if procore_id is not None:
        return str(procore_id)
    if exaktime_id:
        return f"exaktime: {exaktime_id}"
    return f"{LIST_PREFIX}{name}"[:SOURCE_MAX]


def track(run: SyncRun, rows: Iterable[RowResult]) -> None:
    """Open, refresh or close open failures for rows just written by a real run.

    Called in the transaction that writes the rows, so the rows and the open failures
    never disagree. Within one batch the record's last row wins.
    """
    if run.dry_run:
        return
    latest: dict[tuple[str, str], RowResult] = {}
    for row in rows:
        key = (
            row.entity_type,
            source_of(row.entity_type, row.procore_id, row.exaktime_id, row.name),
        )
        latest[key] = row
    if not latest:
        return
    failed = {key: row for key, row in latest.items() if row.outcome == Outcome.FAILED}
    close(run.connection_id, run.kind, [key for key in latest if key not in failed])
    _open(run, failed)


def close(connection_id: int, kind: str, keys: Iterable[tuple[str, str]]) -> int:
    """Close the open failures of these (entity type, source id) records."""
    by_entity: dict[str, list[str]] = defaultdict(list)
    for entity_type, source_id in keys:
        by_entity[entity_type].append(source_id)
    closed = 0
    for entity_type, source_ids in by_entity.items():
        # One plain statement per 500: the ORM built its IN list value by value, for
        # every batch of rows a run writes (nearly all of them closing nothing).
        closed += bulk_sql.delete(
            OpenFailure,
            "source_id",
            source_ids,
            connection=connection_id,
            kind=str(kind),
            entity_type=str(entity_type),
        )
    return closed


def close_ignored(connection_id: int, entity_type: str, procore_ids: Iterable[int]) -> int:
    """An operator ignored these Procore records: imports no longer try them."""
    keys = [(entity_type, str(procore_id)) for procore_id in procore_ids]
    return close(connection_id, RunKind.IMPORT, keys)


def _open(run: SyncRun, failed: dict[tuple[str, str], RowResult]) -> None:
    if not failed:
        return
    now = timezone.now()
    # What each open one last said, by (entity type, source id): most fail again in the
    # same words, and need no object of their own (see below).
    existing = {
        (entity_type, source_id): (pk, said)
        for pk, entity_type, source_id, *said in OpenFailure.objects.filter(
            connection_id=run.connection_id,
            kind=run.kind,
            source_id__in={source_id for _, source_id in failed},
        ).values_list("pk", "entity_type", "source_id", *_SAID)
    }
    new, seen_again, reworded = [], [], []
    for key, row in failed.items():
        now_said = [row.procore_id, row.exaktime_id or "", row.name, row.message, row.retryable]
        if key not in existing:
            new.append(
                OpenFailure(
                    connection_id=run.connection_id,
                    kind=run.kind,
                    entity_type=key[0],
                    source_id=key[1],
                    first_seen_at=now,
                    last_seen_at=now,
                    last_run_id=run.pk,
                    **dict(zip(_SAID, now_said, strict=True)),
                )
            )
            continue
        pk, said = existing[key]
        seen_again.append(pk)
        if said != now_said:
            reworded.append(OpenFailure(pk=pk, **dict(zip(_SAID, now_said, strict=True))))
    OpenFailure.objects.bulk_create(new)
    # Most failures fail again in the same words: one UPDATE for all of them, and a
    # (much slower) bulk update only for those whose row now says something else.
    OpenFailure.objects.filter(pk__in=seen_again).update(last_seen_at=now, last_run_id=run.pk)
    OpenFailure.objects.bulk_update(reworded, _SAID)


#: What an open failure repeats of its last failed row.
_SAID = ["procore_id", "exaktime_id", "name", "message", "retryable"]


def settle_lists(run: SyncRun, entity_types: Iterable[str]) -> int:
    """After a complete real run: close list failures of the entities it read again
    (``entity_types``, the ones it recorded rows for) that it did not fail on again."""
    if run.dry_run:
        return 0
    return (
        OpenFailure.objects.filter(
            connection_id=run.connection_id,
            kind=run.kind,
            entity_type__in=list(entity_types),
            source_id__startswith=LIST_PREFIX,
        )
        .exclude(last_run_id=run.pk)
        .delete()[0]
    )


def close_unseen(run: SyncRun, entity_types: Iterable[str]) -> int:
    """After a complete full read of these entity types by a real run: close the open
    failures of records it did not go through (gone or inactive in Procore, or no longer
    imported by the connection's settings); the ones it went through it closed or kept."""
    if run.dry_run:
        return 0
    return (
        OpenFailure.objects.filter(
            connection_id=run.connection_id, kind=run.kind, entity_type__in=list(entity_types)
        )
        .exclude(last_run_id=run.pk)
        .delete()[0]
    )


def retry_ids(connection: Connection) -> dict[str, set[int]]:
    """Per entity type, the Procore ids of records whose import is failing."""
    ids: dict[str, set[int]] = defaultdict(set)
    failing = OpenFailure.objects.filter(
        connection=connection, kind=RunKind.IMPORT, procore_id__isnull=False
    ).values_list("entity_type", "procore_id")
    for entity_type, procore_id in failing:
        ids[entity_type].add(procore_id)
    return dict(ids)


def counts_by_kind(connection: Connection) -> dict[str, int]:
    """How many records are failing per run kind (only kinds with any)."""
    return dict(
        OpenFailure.objects.filter(connection=connection)
        .values_list("kind")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("kind", "n")
    )


def stopped_runs(connection: Connection) -> list[SyncRun]:
    """Per kind, the latest real run that finished, when a whole-run error stopped it.

    Such a run (sign-in refused, service unreachable, worker killed) is a failure on
    its own: the connection counts as failing until a later run of that kind finishes.
    """
    stopped = []
    for kind in RunKind:
        last = (
            SyncRun.objects.filter(connection=connection, kind=kind, dry_run=False)
            .filter(status__in=[RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED])
            .order_by("-created_at", "-id")
            .only("pk", "kind", "status", "message", "created_at", "connection_id")
            .first()
        )
        if last is not None and last.status == RunStatus.FAILED and last.message:
            stopped.append(last)
    return stopped
