"""Operators' changes to mappings (link, unlink, ignore, un-ignore) and each one's status.

A mapping's status is worked out in the database from what Linx already knows, without
asking either system, so a list of any length is one query:

- **ignored**: an operator set it aside; every import skips the Procore record.
- **synced**: linked on both sides, and the ExakTime twin is active.
- **unlinked**: only one side is known: a Procore record with no ExakTime twin yet (the
  next import links it to the ExakTime record with the same ID, or creates one), or an
  ExakTime id with no Procore record.
- **orphaned, inactive or gone in Procore**: linked, but the Procore record went
  inactive or disappeared, so Linx deactivated its ExakTime twin (what Linx last wrote
  there says ``is_active: false``).
- **orphaned, gone from ExakTime**: linked, but ExakTime answered "not found" for the
  twin when an operator last checked it (`check_in_exaktime`), or the latest snapshot
  of its collection (`linx.sync.snapshot`) no longer has it. An import notices this
  only when the Procore record changes; unlinking lets the next import create it again.
- **reference data**: Procore records with no ExakTime side by nature (time types, work
  classifications).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import ExakTimeError, ExakTimeNotFound
from linx import audit
from linx.models import (
    AuditAction,
    Connection,
    EntityMapping,
    EntityType,
    ExakTimeRecord,
    SnapshotKind,
    User,
)
from linx.sync import failures
from linx.sync.imports import ENTITY_OF
from linx.sync.snapshot import KIND_OF
from linx.sync.targets import NOUNS, TARGETS

#: The entity types an import links, and so the ones an operator may link, unlink and ignore.
LINKABLE = tuple(ENTITY_OF)
#: Reference data: Procore records that never have an ExakTime twin.
REFERENCE = (EntityType.WORK_CLASSIFICATION, EntityType.TIME_TYPE)
#: The most twins one "check in ExakTime" asks about (one request each, while a person waits).
MAX_CHECKED = 100
MISSING_KEY = EntityMapping.DATA_KEYS["exaktime_missing_at"]


class MappingStatus(models.TextChoices):
    SYNCED = "synced", "Synced"
    NOT_IN_EXAKTIME = "not_in_exaktime", "Unlinked: no ExakTime record"
    NOT_IN_PROCORE = "not_in_procore", "Unlinked: no Procore record"
    GONE_FROM_PROCORE = "gone_from_procore", "Orphaned: inactive or gone in Procore"
    GONE_FROM_EXAKTIME = "gone_from_exaktime", "Orphaned: gone from ExakTime"
    IGNORED = "ignored", "Ignored"
    REFERENCE = "reference", "Reference data"


def status_expression() -> Case:
    """The SQL that gives each mapping its `MappingStatus` (see the module docstring)."""
    return Case(
        When(ignored=True, then=Value(MappingStatus.IGNORED)),
        When(
            entity_type__in=REFERENCE, exaktime_id__isnull=True, then=Value(MappingStatus.REFERENCE)
        ),
        When(procore_id__isnull=True, then=Value(MappingStatus.NOT_IN_PROCORE)),
        When(exaktime_id__isnull=True, then=Value(MappingStatus.NOT_IN_EXAKTIME)),
        When(data__has_key=MISSING_KEY, then=Value(MappingStatus.GONE_FROM_EXAKTIME)),
        When(_gone_from_snapshot(), then=Value(MappingStatus.GONE_FROM_EXAKTIME)),
        When(
            **{f"data__{EntityMapping.DATA_KEYS['last_written']}__is_active": False},
            then=Value(MappingStatus.GONE_FROM_PROCORE),
        ),
        default=Value(MappingStatus.SYNCED),
        output_field=models.CharField(),
    )


def _gone_from_snapshot() -> Q:
    """Linked to an ExakTime record its collection's snapshot does not have (when there
    is a snapshot: before the first one, nothing is taken for gone), a snapshot taken
    since Linx last wrote the twin: an import lists a collection before it creates twins
    in it, so the twins it created are not in that snapshot, and are not gone."""
    gone = Q()
    for kind in SnapshotKind:
        types = [entity_type for entity_type, of in KIND_OF.items() if of == kind]
        taken = ExakTimeRecord.objects.filter(connection=OuterRef("connection"), kind=kind)
        taken_since_written = Exists(taken.filter(read_at__gte=OuterRef("synced_at"))) | (
            Q(synced_at__isnull=True) & Exists(taken)
        )
        gone |= (
            Q(entity_type__in=types)
            & taken_since_written
            & ~Exists(taken.filter(exaktime_id=OuterRef("exaktime_id")))
        )
    return gone


def with_status(mappings: QuerySet[EntityMapping]) -> QuerySet[EntityMapping]:
    return mappings.annotate(status=status_expression())


def _forget_twin(mapping: EntityMapping) -> dict:
    """Mapping facts minus what Linx last wrote to a twin and any "gone" mark.

    The ID/code the twin carried is kept (``last_code``): auto-link proposes the ExakTime
    record with the same one."""
    kept = mapping.data_without("last_written", "exaktime_missing_at")
    code = mapping.last_written.get("identifier")
    if code not in (None, ""):
        kept[EntityMapping.DATA_KEYS["last_code"]] = code
    return kept


def _target(mapping: EntityMapping) -> str:
    """The mapping as the audit trail names it: kind, name and Procore id."""
    return f"{mapping} (Procore {mapping.procore_id})"


def link(
    mapping: EntityMapping,
    exaktime_id: int,
    *,
    exaktime: ExakTimeClient,
    acting_user: User | None,
):
    """Make ExakTime record `exaktime_id` the twin of this mapping's Procore record.

    The record is looked up in ExakTime first, so a mistyped id is refused rather than
    stored. What Linx last wrote is forgotten: the next import compares the record with
    Procore and writes what differs. Returns the ExakTime record.
    """
    if mapping.entity_type not in LINKABLE or mapping.procore_id is None:
        raise ValidationError(
            f"{mapping} cannot be linked: only Procore employees, projects, sub-jobs, cost "
            "codes and crews are."
        )
    noun = NOUNS[mapping.entity_type].lower()
    _check_free(mapping, exaktime_id, noun)
    record = _twin_in_exaktime(mapping, exaktime_id, exaktime, noun)
    try:
        with transaction.atomic():
            EntityMapping.objects.filter(pk=mapping.pk).update(
                exaktime_id=str(exaktime_id),
                fingerprint="",
                data=_forget_twin(mapping),
                updated_at=timezone.now(),
            )
            audit.record(
                AuditAction.LINK,
                acting_user=acting_user,
                connection=mapping.connection_id,
                target=_target(mapping),
                details={"exaktime_id": str(exaktime_id), "was": mapping.exaktime_id},
            )
    except IntegrityError:
        raise ValidationError(
            f"ExakTime {noun} {exaktime_id} was just linked to another Procore record."
        ) from None
    return record


def _check_free(mapping: EntityMapping, exaktime_id: int, noun: str) -> None:
    """Refuse an ExakTime record another Procore record of the connection is linked to."""
    holder = (
        EntityMapping.objects.filter(
            connection_id=mapping.connection_id,
            entity_type=mapping.entity_type,
            exaktime_id=str(exaktime_id),
        )
        .exclude(pk=mapping.pk)
        .first()
    )
    if holder is not None:
        raise ValidationError(
            f"ExakTime {noun} {exaktime_id} is already linked to Procore record "
            f"{holder.name or holder.procore_id!r} ({holder.procore_id}). Unlink that one first."
        )


def _twin_in_exaktime(mapping: EntityMapping, exaktime_id: int, exaktime, noun: str):
    """The ExakTime record `exaktime_id`, refused if missing or of another kind."""
    target = TARGETS[mapping.entity_type]
    try:
        record = target.get(exaktime, exaktime_id)
    except ExakTimeNotFound:
        raise ValidationError(f"ExakTime has no {noun} with id {exaktime_id}.") from None
    except ExakTimeError as error:
        raise ValidationError(f"ExakTime could not be asked: {error.message}") from None
    if target.group_type and getattr(record, "group_type", None) != target.group_type:
        raise ValidationError(
            f"ExakTime record {exaktime_id} is a {record.group_type} group, not a {noun}."
        )
    return record


def unlink(mappings: QuerySet[EntityMapping], *, acting_user: User | None) -> int:
    """Forget the ExakTime twins; the Procore records stay listed, unlinked.

    Nothing changes in ExakTime. The next import links each record again to the ExakTime
    record with the same ID, or creates one; ignore a record to keep it apart.
    """
    events = []
    with transaction.atomic():
        for mapping in mappings.filter(
            entity_type__in=LINKABLE, procore_id__isnull=False, exaktime_id__isnull=False
        ):
            EntityMapping.objects.filter(pk=mapping.pk).update(
                exaktime_id=None,
                fingerprint="",
                data=_forget_twin(mapping),
                updated_at=timezone.now(),
            )
            events.append(
                audit.event(
                    AuditAction.UNLINK,
                    acting_user=acting_user,
                    connection=mapping.connection_id,
                    target=_target(mapping),
                    details={"was": mapping.exaktime_id},
                )
            )
        audit.record_all(events)
    return len(events)


def _audit_each(action: AuditAction, mappings: list[EntityMapping], acting_user) -> None:
    audit.record_all(
        audit.event(
            action,
            acting_user=acting_user,
            connection=mapping.connection_id,
            target=_target(mapping),
        )
        for mapping in mappings
    )


@transaction.atomic
def ignore(mappings: QuerySet[EntityMapping], *, acting_user: User | None) -> int:
    """Set Procore records aside: every later import skips them, saying who did it.

    An ignored record is no longer failing: its open failure is closed.
    """
    chosen = list(
        mappings.filter(entity_type__in=LINKABLE, procore_id__isnull=False, ignored=False)
    )
    records: dict[tuple[int, str], list[int]] = defaultdict(list)
    for mapping in chosen:
        records[mapping.connection_id, mapping.entity_type].append(mapping.procore_id)
    ignored = EntityMapping.objects.filter(pk__in=[m.pk for m in chosen], ignored=False).update(
        ignored=True, ignored_by=acting_user, ignored_at=timezone.now()
    )
    for (connection_id, entity_type), procore_ids in records.items():
        failures.close_ignored(connection_id, entity_type, procore_ids)
    _audit_each(AuditAction.IGNORE, chosen, acting_user)
    return ignored


@transaction.atomic
def unignore(mappings: QuerySet[EntityMapping], *, acting_user: User | None) -> int:
    """Bring ignored records back into imports."""
    chosen = list(mappings.filter(ignored=True))
    count = EntityMapping.objects.filter(pk__in=[m.pk for m in chosen], ignored=True).update(
        ignored=False, ignored_by=None, ignored_at=None
    )
    _audit_each(AuditAction.UNIGNORE, chosen, acting_user)
    return count


def ignore_procore_record(
    connection: Connection,
    entity_type: str,
    procore_id: int,
    *,
    name: str = "",
    acting_user: User | None,
) -> tuple[EntityMapping, bool]:
    """Ignore a Procore record, with or without a mapping yet; returns (mapping, created).

    A record Linx never imported (one that failed, say) gets a mapping with no ExakTime
    side, ignored, so no later import creates it.
    """
    if entity_type not in LINKABLE:
        raise ValidationError(f"{EntityType(entity_type).label} records are not imported.")
    with transaction.atomic():
        mapping, created = EntityMapping.objects.get_or_create(
            connection=connection,
            entity_type=entity_type,
            procore_id=procore_id,
            defaults={"name": name[:255]},
        )
        if not mapping.ignored:
            mapping.ignored, mapping.ignored_by, mapping.ignored_at = (
                True,
                acting_user,
                timezone.now(),
            )
            mapping.save(update_fields=["ignored", "ignored_by", "ignored_at", "updated_at"])
            _audit_each(AuditAction.IGNORE, [mapping], acting_user)
        failures.close_ignored(connection.pk, entity_type, [procore_id])
    return mapping, created


def check_in_exaktime(
    mappings: Iterable[EntityMapping], *, exaktime: ExakTimeClient
) -> tuple[int, int]:
    """Ask ExakTime for each linked twin; mark the ones it no longer has.

    Returns (found, missing). At most `MAX_CHECKED` are asked about.
    """
    found = missing = 0
    now = timezone.now().isoformat()
    for mapping in list(mappings)[:MAX_CHECKED]:
        if mapping.entity_type not in TARGETS or not (mapping.exaktime_id or "").isdigit():
            continue
        try:
            TARGETS[mapping.entity_type].get(exaktime, int(mapping.exaktime_id))
        except ExakTimeNotFound:
            data = mapping.updated_data(exaktime_missing_at=now)
            missing += 1
        else:
            data = mapping.data_without("exaktime_missing_at")
            found += 1
        if data != mapping.data:
            EntityMapping.objects.filter(pk=mapping.pk).update(data=data)
    return found, missing


def linkable(mapping: EntityMapping) -> bool:
    return mapping.entity_type in LINKABLE and mapping.procore_id is not None
