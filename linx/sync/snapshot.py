"""The snapshot of each connection's ExakTime employees, locations and cost codes.

Mappings lists records only in ExakTime, and links to records ExakTime no longer has,
from this snapshot rather than by asking ExakTime while a person waits. A collection's
snapshot is replaced whole whenever Linx reads its complete list: an import that lists
it anyway (to link records by ID) records what it saw, and "Refresh from ExakTime" reads
the three lists (paged reads, never one request per record).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
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


def record(connection: Connection | int, kind: str, records: Iterable[Any]) -> int:
    """Replace the snapshot of one collection with the complete list just read."""
    connection_id = getattr(connection, "pk", connection)
    now = timezone.now()
    rows = {
        str(r.id): ExakTimeRecord(
            connection_id=connection_id,
            kind=kind,
            exaktime_id=str(r.id),
            identifier=str(getattr(r, "identifier", "") or "")[:255],
            name=exaktime_name(r)[:255],
            active=bool(getattr(r, "is_active", True)),
            read_at=now,
        )
        for r in records
        if r.id is not None
    }
    with transaction.atomic():
        ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).exclude(
            exaktime_id__in=list(rows)
        ).delete()
        ExakTimeRecord.objects.bulk_create(
            rows.values(),
            batch_size=500,
            update_conflicts=True,
            unique_fields=["connection", "kind", "exaktime_id"],
            update_fields=["identifier", "name", "active", "read_at"],
        )
    return len(rows)


def refresh(connection: Connection, exaktime: ExakTimeClient) -> dict[str, int]:
    """Read ExakTime's employees, locations and cost codes; returns how many of each.

    Each list is read whole before its snapshot is replaced, so a read that fails
    half-way leaves the previous snapshot as it was.
    """
    counts = {}
    for kind, list_all in _lists(exaktime).items():
        counts[kind] = record(connection, kind, list(list_all()))
    return counts


def has_snapshot(connection_id: int, kind: str) -> bool:
    return ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).exists()


def read_at(connection_id: int, entity_type: str):
    """When the snapshot this entity's records are in was last read (None: never)."""
    kind = KIND_OF.get(entity_type)
    found = ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).order_by(
        "-read_at"
    )
    return found.values_list("read_at", flat=True).first()
