"""Linking from the snapshot: the picker's candidates and auto-link proposals.

Both look only at the ExakTime records of the snapshot (`linx.sync.snapshot`) that no
Procore record is linked to; a link itself always goes through `linx.sync.mappings.link`,
which checks the record in ExakTime and writes the audit trail.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from linx.models import EntityMapping, ExakTimeRecord
from linx.sync.snapshot import KIND_OF

#: The most records the picker offers for one search.
MAX_CANDIDATES = 20


def unlinked_records(connection_id: int, entity_type: str) -> QuerySet[ExakTimeRecord]:
    """The snapshot's records of this entity's collection no Procore record is linked to."""
    kind = KIND_OF.get(entity_type)
    if kind is None:
        return ExakTimeRecord.objects.none()
    linked = EntityMapping.objects.filter(
        connection_id=connection_id,
        entity_type__in=[t for t, k in KIND_OF.items() if k == kind],
        exaktime_id__isnull=False,
    ).values("exaktime_id")
    return ExakTimeRecord.objects.filter(connection_id=connection_id, kind=kind).exclude(
        exaktime_id__in=linked
    )


def candidates(mapping: EntityMapping, search: str) -> list[ExakTimeRecord]:
    """What the picker offers: unlinked records whose name, ID/code or id has ``search``."""
    found = unlinked_records(mapping.connection_id, mapping.entity_type)
    search = search.strip()
    if search:
        found = found.filter(
            Q(name__icontains=search) | Q(identifier__icontains=search) | Q(exaktime_id=search)
        )
    return list(found.order_by("-active", "name", "exaktime_id")[:MAX_CANDIDATES])


def procore_code(mapping: EntityMapping) -> str | None:
    """The Procore record's ID/code as its ExakTime twin carries it, when Linx knows it."""
    code = mapping.identifier or mapping.full_code or mapping.last_code
    return str(code) if code not in (None, "") else None


@dataclass(frozen=True)
class Proposal:
    mapping: EntityMapping
    record: ExakTimeRecord
    reason: str  # "same ID" or "same name"


def _normal(name: str) -> str:
    return " ".join(name.lower().split())


def proposals(connection_id: int, entity_type: str) -> list[Proposal]:
    """Unlinked Procore records paired with unlinked ExakTime records: by the same ID,
    else by the same name. A name or ID two records share on either side is ambiguous
    and proposes nothing."""
    waiting = list(
        EntityMapping.objects.filter(
            connection_id=connection_id,
            entity_type=entity_type,
            procore_id__isnull=False,
            exaktime_id__isnull=True,
            ignored=False,
        ).order_by("name", "procore_id")
    )
    records = list(unlinked_records(connection_id, entity_type))
    found: list[Proposal] = []
    taken: set[int] = set()
    for reason, of_record, of_mapping in (
        ("same ID", lambda r: r.identifier or None, procore_code),
        ("same name", lambda r: _normal(r.name) or None, lambda m: _normal(m.name) or None),
    ):
        by_key = _unique({of_record(r): r for r in records}, Counter(map(of_record, records)))
        mine = Counter(of_mapping(m) for m in waiting if m.pk not in taken)
        for mapping in waiting:
            key = of_mapping(mapping)
            record = by_key.get(key)
            if mapping.pk in taken or record is None or mine[key] != 1:
                continue
            if any(p.record.pk == record.pk for p in found):
                continue
            found.append(Proposal(mapping, record, reason))
            taken.add(mapping.pk)
    return found


def _unique(by_key: dict, counts: Counter) -> dict:
    return {key: value for key, value in by_key.items() if key is not None and counts[key] == 1}


def links_made_since(run) -> bool:
    """Whether a link a failed row of ``run`` said was missing has been made since.

    Such a row needed a fix, and the fix is done: re-running the failed rows is worth
    offering again (the link page leads straight back to it).
    """
    wanted = Q()
    for needs in run.rows.filter(outcome="failed", needs__has_key="exaktime_id").values_list(
        "needs", flat=True
    ):
        kind = KIND_OF.get(needs.get("entity_type"))
        if kind is None:
            continue
        wanted |= Q(
            entity_type__in=[t for t, k in KIND_OF.items() if k == kind],
            exaktime_id=str(needs["exaktime_id"]),
        )
    if not wanted:
        return False
    return (
        EntityMapping.objects.filter(connection_id=run.connection_id, ignored=False)
        .filter(wanted)
        .exists()
    )
