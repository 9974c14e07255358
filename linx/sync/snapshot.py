"""The snapshot of each connection's ExakTime employees, locations and cost codes.

Mappings lists records only in ExakTime, and links to records ExakTime no longer has,
from this snapshot rather than by asking ExakTime while a person waits. A collection's
snapshot is replaced whole whenever Linx reads its complete list: an import that lists
it anyway (to link records by ID) records what it saw, and "Refresh from ExakTime" reads
the three lists (paged reads, never one request per record). Between readings, the twins
Linx itself creates, changes or deactivates are kept in it as it writes them
(`TwinsWritten`), so what an import just created is in the picker and the lists at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from integrations.exaktime.client import ExakTimeClient
from linx.models import Connection, EntityType, ExakTimeRecord, SnapshotKind
from linx.sync.labels import exaktime_name

#: The snapshot collection each linkable entity type's ExakTime twin is in.
KIND_OF = {
    EntityType.EMPLOYEE: SnapshotKind.EMPLOYEE,
    EntityType.LOCATION: SnapshotKind.LOCATION,
    EntityType.SUB_JOB: SnapshotKind.LOCATION,
    EntityType.COST_CODE: SnapshotKind.COST_CODE,
}
#: ExakTime's collection name (a `Target.plural`) for each snapshot kind.
PLURALS = {"employees": SnapshotKind.EMPLOYEE, "locations": SnapshotKind.LOCATION,
           "cost_codes": SnapshotKind.COST_CODE}  # fmt: skip


def _lists(client: ExakTimeClient):
    return {
        SnapshotKind.EMPLOYEE: client.list_employees,
        SnapshotKind.LOCATION: client.list_locations,
        SnapshotKind.COST_CODE: client.list_cost_codes,
    }


def record(connection: Connection | int, kind: str, records: Iterable[Any], now=None) -> int:
    """Replace the snapshot of one collection with the complete list just read."""
    connection_id = getattr(connection, "pk", connection)
    now = now or timezone.now()
    rows = {str(r.id): _row(connection_id, kind, r.id, r, now) for r in records if r.id is not None}
    with transaction.atomic():
        ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).exclude(
            exaktime_id__in=list(rows)
        ).delete()
        _save(rows.values())
    return len(rows)


def _row(connection_id: int, kind: str, exaktime_id, found: Any, read_at) -> ExakTimeRecord:
    """``found`` (an ExakTime record, or the fields Linx wrote to one) as a snapshot row."""
    return ExakTimeRecord(
        connection_id=connection_id,
        kind=kind,
        exaktime_id=str(exaktime_id),
        identifier=str(getattr(found, "identifier", "") or "")[:255],
        name=exaktime_name(found)[:255],
        active=bool(getattr(found, "is_active", True)),
        read_at=read_at,
    )


def _save(rows: Iterable[ExakTimeRecord]) -> None:
    ExakTimeRecord.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["connection", "kind", "exaktime_id"],
        update_fields=["identifier", "name", "active", "read_at"],
    )


class TwinsWritten:
    """The twins a run writes in ExakTime, kept in the snapshot without reading it again.

    An import lists a collection before it creates the twins it lacks, so what it creates
    would otherwise be missing from the snapshot (the picker, the ExakTime records list)
    until the next reading. Each twin is noted as its mapping is saved and written in
    batches, as the run's rows are: `flush` when the run takes its writes' answers. A
    collection Linx never read has no snapshot to keep: its twins wait for a reading.
    The rows keep the reading's ``read_at``: they are what that reading would now hold.
    """

    def __init__(self, connection_id: int, batch: int = 500) -> None:
        self.connection_id = connection_id
        self.batch = batch
        self._written: dict[tuple[str, str], ExakTimeRecord | None] = {}  # None: gone
        self._read_at: dict[str, Any] = {}  # the collections this run read whole, when

    def read(self, kind: str, records: Iterable[Any]) -> None:
        """A complete list the run read: the snapshot is replaced with it (`record`), and
        the twins written after it are kept in it, even when it was empty."""
        self._read_at[kind] = timezone.now()
        record(self.connection_id, kind, records, self._read_at[kind])

    def wrote(self, entity_type: str, exaktime_id, fields: dict[str, Any]) -> None:
        """A twin created, changed or deactivated with these fields."""
        self._note(entity_type, exaktime_id, SimpleNamespace(**fields))

    def gone(self, entity_type: str, exaktime_id) -> None:
        """A twin ExakTime no longer has."""
        self._note(entity_type, exaktime_id, None)

    def _note(self, entity_type: str, exaktime_id, found: Any) -> None:
        kind = KIND_OF.get(entity_type)
        if kind is None or exaktime_id in (None, ""):
            return
        row = None if found is None else _row(self.connection_id, kind, exaktime_id, found, None)
        self._written[(kind, str(exaktime_id))] = row
        if len(self._written) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if not self._written:
            return
        read = dict(
            ExakTimeRecord.objects.filter(connection_id=self.connection_id)
            .order_by()
            .values_list("kind")
            .annotate(Max("read_at"))
        )
        for kind, at in self._read_at.items():
            read.setdefault(kind, at)
        kept, gone = [], defaultdict(list)
        for (kind, exaktime_id), row in self._written.items():
            if kind not in read:
                continue
            if row is None:
                gone[kind].append(exaktime_id)
            else:
                row.read_at = read[kind]
                kept.append(row)
        self._written = {}
        with transaction.atomic():
            for kind, ids in gone.items():
                ExakTimeRecord.objects.filter(
                    connection_id=self.connection_id, kind=kind, exaktime_id__in=ids
                ).delete()
            _save(kept)


def refresh(connection: Connection, exaktime: ExakTimeClient) -> dict[str, int]:
    """Read ExakTime's employees, locations and cost codes; returns how many of each.

    Each list is read whole before its snapshot is replaced, so a read that fails
    half-way leaves the previous snapshot as it was.
    """
    counts = {}
    for kind, list_all in _lists(exaktime).items():
        counts[kind] = record(connection, kind, list(list_all()))
    return counts


def named(connection_id: int, kind: str) -> dict[str, ExakTimeRecord]:
    """The snapshot's named records of one collection by ExakTime id (one query); each
    reads as a person knows it: `.name`, or `str()` "9001 Taylor Brooks (id 100002)"."""
    found = (
        ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind)
        .exclude(name="")
        .only("exaktime_id", "identifier", "name")
    )
    return {r.exaktime_id: r for r in found}


class Known:
    """The snapshot's named records as one run asks for them: each collection is read
    once (`named`, one query), the first time one of its records is asked for."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self._read: dict[str, dict[str, ExakTimeRecord]] = {}

    def get(self, kind: str, exaktime_id) -> ExakTimeRecord | None:
        """The record of ``exaktime_id`` in collection ``kind`` (None: not in it)."""
        if kind not in self._read:
            self._read[kind] = named(self.connection_id, kind)
        return self._read[kind].get(str(exaktime_id))


def has_snapshot(connection_id: int, kind: str) -> bool:
    return ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).exists()


def read_at(connection_id: int, entity_type: str):
    """When the snapshot this entity's records are in was last read (None: never)."""
    kind = KIND_OF.get(entity_type)
    found = ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).order_by(
        "-read_at"
    )
    return found.values_list("read_at", flat=True).first()
