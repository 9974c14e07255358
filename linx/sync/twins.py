"""Writing one Procore record's twin in ExakTime, and the row that says what happened.

A `Twin` is a Procore record as ExakTime should hold it (its fields, already shaped by
`rules`). `TwinWriter.write` brings ExakTime in line with it, comparing with what Linx
last wrote:

- a mapped record whose fingerprint is unchanged costs no request at all;
- a mapped record that changed is read, changed and written back whole (PUT);
- an unmapped record is linked to an ExakTime record with the same ID when one exists
  (first import, or a create whose answer was lost), else created;

and `TwinWriter.deactivate` makes a twin inactive (a group: empties it), never deleting
it. Every record ends as one row. The import and the pre-import's custom fields both
write through here.

A write whose ExakTime id the caller does not need at once (``wait=False``) is sent
alongside others, up to ``LINX_EXAKTIME_WRITES_AT_ONCE`` (see `write_pool`); its
mapping and row are saved when its answer is taken, on the run's thread. `drain`
takes every answer still out: callers do before they read mappings back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import prefetch_related_objects
from django.utils import timezone

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import ExakTimeError, ExakTimeNotFound
from linx.models import Connection, EntityMapping, EntityType, FailureKind, Outcome
from linx.sync import bulk_sql, rules, snapshot
from linx.sync.classify import Failure, classify
from linx.sync.rerun import Only
from linx.sync.runs import Row, RunAborted, RunRecorder
from linx.sync.targets import NOUNS, TARGETS, Target
from linx.sync.write_pool import WritePool

#: A record that needs a fix first is not re-run by hand: the next import retries it.
RERUN_HINT = "then import again"

#: After this many ExakTime failures in a row that retrying could fix (timeouts, 5xx,
#: rate limits beyond the client's patience), the service is taken to be down and the
#: run stops rather than spend minutes of retries on every remaining row.
TRANSIENT_FAILURES_BEFORE_ABORT = 5


#: Mapping fields no run reads from the mappings it holds (a save writes the others
#: through `update_or_create` or `update`): parsing their datetimes was a large part of
#: loading the mappings, which every import does for thousands of records.
_UNUSED_MAPPING_FIELDS = ("revision", "ignored_at", "synced_at", "created_at", "updated_at")
#: The fields a run's mappings are loaded with (the others are deferred).
_MAPPING_FIELDS = [
    f.attname for f in EntityMapping._meta.concrete_fields if f.name not in _UNUSED_MAPPING_FIELDS
]


def _limits_key(entity_type: str) -> str:
    return EntityType.LOCATION if entity_type == EntityType.SUB_JOB else entity_type


@dataclass(frozen=True)
class Twin:
    """One Procore record as ExakTime should hold it."""

    kind: str
    procore_id: int
    name: str
    fields: dict[str, Any]
    #: The users' name of each field, for messages ("Employee ID", "project name").
    labels: Mapping[str, str]
    #: Procore facts kept on the mapping for later runs (export, crews, sub-jobs).
    data: dict[str, Any] | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", rules.fingerprint(self.fields))


class TwinWriter:
    """Writes twins for one run of one connection, and records a row for each."""

    def __init__(
        self,
        connection: Connection,
        recorder: RunRecorder,
        exaktime: ExakTimeClient,
        *,
        dry_run: bool = False,
        only: Only | None = None,
    ) -> None:
        self.connection = connection
        self.recorder = recorder
        self.exaktime = exaktime
        self.dry_run = dry_run
        self.only = only or Only()
        self.mappings: dict[str, dict[int, EntityMapping]] = {}
        self._existing: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._transient_failures = 0
        # (collection, field, value) → the Procore record that has it in this run, so a
        # second record with the same ID fails with both named instead of a bare 409.
        self._claimed: dict[tuple[str, str | None, str, Any], tuple[int, str]] = {}
        # A re-run: per (collection, field), the values held by records it does not redo.
        self._held: dict[tuple[str, str | None, str], dict[Any, tuple[int, str]]] = {}
        # Rows of records the run was not asked for (a re-run refreshing a crew group's
        # members) are not recorded, unless they fail.
        self._unasked = False
        self.pool = WritePool(1 if dry_run else settings.LINX_EXAKTIME_WRITES_AT_ONCE)
        # The twins written, kept in Mappings' snapshot when the writes' answers are taken.
        self.snapshot = snapshot.TwinsWritten(connection.pk, recorder.batch)

    # --- writing one twin ------------------------------------------------------------

    def write(self, twin: Twin, *, wait: bool = True) -> int | None:
        """Bring one Procore record's ExakTime twin up to date; record its row.

        Returns the ExakTime id (None when it failed, or would be created by a dry run).
        ``wait=False``: a write it makes may be sent alongside others and finished
        later; None is returned then (`mapped_id` after `drain` has the id).
        """
        mapping = self.mapping(twin.kind, twin.procore_id)
        if self.skipped_as_ignored(twin.kind, twin.procore_id, twin.name):
            return _int(mapping.exaktime_id)
        mapped_id = mapping.exaktime_id if mapping else ""
        if problems := self._problems(twin, mapping):
            self._failed(
                twin,
                mapped_id,
                f"{NOUNS[twin.kind]} {twin.name!r} cannot be imported: "
                f"{'; '.join(problems)}. Correct it in Procore, {RERUN_HINT}.",
            )
            return _int(mapped_id)
        try:
            return self._bring_in_line(twin, mapping, wait)
        except ExakTimeError as error:
            self._write_failed(twin, mapped_id, classify(error))
        return _int(mapped_id)

    def _bring_in_line(self, twin: Twin, mapping: EntityMapping | None, wait: bool) -> int | None:
        if mapping is not None and mapping.exaktime_id:
            if mapping.fingerprint == twin.fingerprint:
                self.row(
                    twin.kind, Outcome.UNCHANGED, twin.procore_id, mapping.exaktime_id, twin.name
                )
                self._touch(mapping, twin.name, twin.data)
                return int(mapping.exaktime_id)
            return self._update(twin, mapping, wait)
        target = TARGETS[twin.kind]
        existing = self._existing_record(target, twin.fields.get(target.key))
        if existing is not None:
            return self._link(twin, existing, wait)
        if twin.fields.get("is_active") is False:
            self.row(
                twin.kind,
                Outcome.SKIPPED,
                twin.procore_id,
                name=twin.name,
                message="Inactive in Procore and never imported, so not created.",
            )
            return None
        return self._create(twin, wait)

    def drain(self) -> None:
        """Take the answer of every write still out (its mapping and row are saved)."""
        self.pool.drain()
        self.snapshot.flush()

    def close(self) -> None:
        """Take what is still out, even when the run is ending early; stop the threads."""
        self.pool.close()
        self.snapshot.flush()

    def _send(self, twin: Twin, mapped_id: str, record: tuple, call, finish, wait: bool):
        """One ExakTime write for ``twin`` through the pool; ``record`` names what it
        writes (never two writes of one record at once). A failure is the twin's row."""

        def failed(error: ExakTimeError) -> int | None:
            self._write_failed(twin, mapped_id, classify(error))
            return _int(mapped_id)

        return self.pool.run(record, call, finish, failed, wait=wait)

    def _write_failed(self, twin: Twin, mapped_id: str, failure: Failure) -> None:
        if failure.stops_the_run:
            raise RunAborted(failure.message, kind=failure.kind)
        message = f"{NOUNS[twin.kind]} {twin.name!r}: {failure.message}"
        if failure.outcome_unknown:
            self._note_failure(failure)
            message = (
                f"{failure.message} ExakTime may or may not have saved "
                f"{NOUNS[twin.kind].lower()} {twin.name!r}; re-running the failed rows links "
                "it if it did, or creates it if not."
            )
        self._failed(twin, mapped_id, message, retryable=failure.retry_may_help, hint=failure.hint)
        if not failure.outcome_unknown:
            self._note_failure(failure)

    def _failed(
        self, twin: Twin, exaktime_id: str, message: str, *, retryable=False, hint=""
    ) -> None:
        code = twin.fields.get(TARGETS[twin.kind].key) if twin.kind in TARGETS else None
        self._keep_procore_side(twin.kind, twin.procore_id, twin.name, {
            **(twin.data or {}), **({"code": code} if code not in (None, "") else {})
        })  # fmt: skip
        self.row(
            twin.kind,
            Outcome.FAILED,
            twin.procore_id,
            exaktime_id,
            twin.name,
            message=message,
            retryable=retryable,
            hint=hint,
        )

    def _keep_procore_side(self, kind: str, procore_id, name: str, data: dict) -> None:
        """A record that failed before it had a twin is still listed in Mappings, as only
        in Procore, so an operator can link it to an ExakTime record or ignore it."""
        if self.dry_run or kind not in snapshot.KIND_OF or procore_id is None:
            return
        if self.mapping(kind, procore_id) is not None:
            return
        mapping, _ = EntityMapping.objects.get_or_create(
            connection=self.connection,
            entity_type=kind,
            procore_id=procore_id,
            defaults={"name": rules.safe_label(name)[:255], "data": data},
        )
        self.mappings_of(kind)[procore_id] = mapping

    def _problems(self, twin: Twin, mapping: EntityMapping | None) -> list[str]:
        """What breaks ExakTime's limits, or is already another record's in this run.

        Fields ExakTime took as they are (what Linx last wrote to the twin, by its
        fingerprint) are not checked against its limits again: a sixth of an unchanged
        record's own work."""
        target = TARGETS[twin.kind]
        written = mapping is not None and bool(mapping.exaktime_id)
        if written and mapping.fingerprint == twin.fingerprint:
            problems = []
        else:
            problems = rules.check(_limits_key(twin.kind), twin.fields, twin.labels)
        for unique in (target.key, *target.unique):
            value = twin.fields.get(unique)
            if value is None:
                continue
            claim = (target.plural, target.group_type, unique, value)
            holder = self._claimed.setdefault(
                claim,
                self._held_outside_run(target, unique, value) or (twin.procore_id, twin.name),
            )
            if holder[0] != twin.procore_id:
                label = twin.labels.get(unique, unique)
                problems.append(
                    f"its {label} {value!r} is also the {label} of {holder[1]!r} (Procore "
                    f"{holder[0]}); ExakTime needs each to be unique"
                )
        return problems

    def _note_failure(self, failure: Failure) -> None:
        if failure.fix_needed:
            return
        self._transient_failures += 1
        if self._transient_failures >= TRANSIENT_FAILURES_BEFORE_ABORT:
            raise RunAborted(
                f"ExakTime failed {self._transient_failures} times in a row with errors that "
                f"retrying did not fix (last: {failure.message}). The run stopped; re-run it "
                "when ExakTime answers again.",
                kind=FailureKind.UNAVAILABLE,
            )

    def _create(self, twin: Twin, wait: bool = True) -> int | None:
        changes = rules.changes({}, twin.fields)
        if self.dry_run:
            self.row(twin.kind, Outcome.CREATED, twin.procore_id, "", twin.name, changes=changes)
            return None
        target = TARGETS[twin.kind]
        key = twin.fields.get(target.key)
        record = (target.plural, target.group_type, target.key, object() if key is None else key)

        def created(answer: Any) -> int:
            self._save_mapping(twin, answer.id)
            row = (twin.kind, Outcome.CREATED, twin.procore_id, str(answer.id), twin.name)
            self.row(*row, changes=changes)
            return answer.id

        call = lambda: target.create(self.exaktime, twin.fields)  # noqa: E731
        return self._send(twin, "", record, call, created, wait)

    def _link(self, twin: Twin, existing: Any, wait: bool = True) -> int | None:
        """First import: an ExakTime record with the same ID becomes this record's twin."""
        exaktime_id = existing.id
        record = _record(twin.kind, exaktime_id)
        self.pool.settle(record)  # a link of it still out is saved first, and seen below
        if exaktime_id in self.mapping_ids(twin.kind).values():
            key = TARGETS[twin.kind].key
            self._failed(
                twin,
                "",
                f"{NOUNS[twin.kind]} {twin.name!r}: ExakTime's {key} "
                f"{twin.fields.get(key)!r} already belongs to another Procore record (a "
                f"duplicate ID in Procore). Give each record its own ID in Procore, "
                f"{RERUN_HINT}.",
            )
            return None

        def linked(diff: dict) -> int:
            if not self.dry_run:
                self._save_mapping(twin, exaktime_id)
            self.row(
                twin.kind,
                Outcome.LINKED,
                twin.procore_id,
                str(exaktime_id),
                twin.name,
                changes=diff,
                message="Linked to the ExakTime record that already had this ID.",
            )
            return exaktime_id

        call = lambda: self._put(twin, exaktime_id, existing.to_api())  # noqa: E731
        return self._send(twin, "", record, call, linked, wait)

    def _update(self, twin: Twin, mapping: EntityMapping, wait: bool = True) -> int | None:
        exaktime_id = int(mapping.exaktime_id)

        def read_and_put() -> tuple[dict, dict] | None:  # in a worker: HTTP only
            try:
                before = TARGETS[twin.kind].get(self.exaktime, exaktime_id).to_api()
            except ExakTimeNotFound:
                return None
            return before, self._put(twin, exaktime_id, before)

        def updated(answer: tuple[dict, dict] | None) -> int | None:
            if answer is None:
                # Removed on the ExakTime side: make it again rather than fail for ever.
                mapping.delete()
                self.snapshot.gone(twin.kind, exaktime_id)
                self.mappings_of(twin.kind).pop(mapping.procore_id, None)
                return self._create(twin)
            before, diff = answer
            if not self.dry_run:
                self._save_mapping(twin, exaktime_id)
            outcome = Outcome.UPDATED if diff else Outcome.UNCHANGED
            if twin.fields.get("is_active") is False and before.get("is_active") is not False:
                outcome = Outcome.DEACTIVATED
            row = (twin.kind, outcome, twin.procore_id, str(exaktime_id), twin.name)
            self.row(*row, changes=diff)
            return exaktime_id

        record = _record(twin.kind, exaktime_id)
        return self._send(twin, mapping.exaktime_id, record, read_and_put, updated, wait)

    def _put(self, twin: Twin, exaktime_id: int, before: dict[str, Any]) -> dict:
        """Write the twin's fields over ``before`` when they differ (HTTP only: the
        mapping is saved by whoever takes the answer, on the run's thread)."""
        diff = rules.changes(before, twin.fields)
        if diff and not self.dry_run:
            TARGETS[twin.kind].update(self.exaktime, exaktime_id, {**before, **twin.fields})
        return diff

    # --- deactivating one twin --------------------------------------------------------

    def deactivate(self, kind: str, mapping: EntityMapping, *, delete_group: bool = False) -> None:
        """Make one twin inactive in ExakTime (a group: empty it); one row says so."""
        procore_id = mapping.procore_id
        if (
            mapping.ignored
            or not mapping.exaktime_id
            or not self.only.deactivates(kind, procore_id)
        ):
            return
        self.drain()  # what is still out is saved first: deactivating reads mappings
        last = dict(mapping.last_written)
        wanted = {**last, "member_ids": []} if delete_group else {**last, "is_active": False}
        if last and rules.fingerprint(wanted) == mapping.fingerprint:
            return  # already deactivated: nothing to do, nothing to report
        try:
            self._deactivate(kind, mapping, wanted, delete_group)
        except ExakTimeNotFound:
            if not self.dry_run:
                mapping.delete()
                self.mappings_of(kind).pop(procore_id, None)
                self.snapshot.gone(kind, mapping.exaktime_id)
            self.row(
                kind,
                Outcome.DEACTIVATED,
                procore_id,
                mapping.exaktime_id,
                mapping.name,
                message="Gone from both Procore and ExakTime; the link was removed.",
            )
        except ExakTimeError as error:
            failure = classify(error)
            if failure.stops_the_run:
                raise RunAborted(failure.message, kind=failure.kind) from error
            self.row(
                kind,
                Outcome.FAILED,
                procore_id,
                mapping.exaktime_id,
                mapping.name,
                message=f"Could not deactivate {NOUNS[kind].lower()} {mapping.name!r}: "
                f"{failure.message}",
                retryable=failure.retry_may_help,
                hint=failure.hint,
            )

    def _deactivate(self, kind: str, mapping: EntityMapping, wanted: dict, delete_group: bool):
        target = TARGETS[kind]
        exaktime_id = int(mapping.exaktime_id)
        before = target.get(self.exaktime, exaktime_id).to_api()
        change = {"member_ids": []} if delete_group else {"is_active": False}
        diff = rules.changes(before, change)
        if not self.dry_run:
            if diff:
                target.update(self.exaktime, exaktime_id, {**before, **change})
            twin = Twin(kind, mapping.procore_id, mapping.name, wanted, {}, mapping.data)
            self._save_mapping(twin, exaktime_id)
        self.row(
            kind,
            Outcome.DEACTIVATED,
            mapping.procore_id,
            mapping.exaktime_id,
            mapping.name,
            changes=diff,
            message="Inactive or gone in Procore.",
        )

    # --- mappings ----------------------------------------------------------------------

    def mappings_of(self, kind: str) -> dict[int, EntityMapping]:
        """This connection's mappings of ``kind`` by Procore id, read once per run."""
        if kind not in self.mappings:
            rows = EntityMapping.objects.filter(
                connection=self.connection, entity_type=kind
            ).values_list(*_MAPPING_FIELDS)
            # Made from their values without the ORM's model iterator and the model's
            # constructor (`bulk_sql.loaded`): half of loading them.
            mappings = (bulk_sql.loaded(EntityMapping, _MAPPING_FIELDS, r, rows.db) for r in rows)
            self.mappings[kind] = {m.procore_id: m for m in mappings}
            # Who ignored the ignored ones, in one query: a join on every mapping cost
            # more (a fifth of loading them) than the few ignored ones need.
            ignored = [m for m in self.mappings[kind].values() if m.ignored_by_id is not None]
            prefetch_related_objects(ignored, "ignored_by")
        return self.mappings[kind]

    def mapping(self, kind: str, procore_id: int) -> EntityMapping | None:
        return self.mappings_of(kind).get(procore_id)

    def mapping_ids(self, kind: str) -> dict[int, int]:
        return {
            procore_id: int(m.exaktime_id)
            for procore_id, m in self.mappings_of(kind).items()
            if m.exaktime_id
        }

    def mapped_id(self, kind: str, procore_id: int) -> int | None:
        mapping = self.mapping(kind, procore_id)
        return _int(mapping.exaktime_id) if mapping else None

    def _save_mapping(self, twin: Twin, exaktime_id: int) -> None:
        mapping, _ = EntityMapping.objects.update_or_create(
            connection=self.connection,
            entity_type=twin.kind,
            procore_id=twin.procore_id,
            defaults={
                "exaktime_id": str(exaktime_id),
                "name": rules.safe_label(twin.name)[:255],
                "fingerprint": twin.fingerprint,
                "data": {
                    **(twin.data or {}),
                    **EntityMapping.data_of(last_written=rules.json_ready(twin.fields)),
                },
                "synced_at": timezone.now(),
            },
        )
        self.mappings_of(twin.kind)[twin.procore_id] = mapping
        self.snapshot.wrote(twin.kind, exaktime_id, twin.fields)

    def _touch(self, mapping: EntityMapping, name: str, data: dict[str, Any] | None) -> None:
        """Keep an unchanged record's name and Procore facts current (no ExakTime write)."""
        if self.dry_run:
            return
        facts = {**mapping.data, **(data or {})}
        if mapping.name != name[:255] or facts != mapping.data:
            EntityMapping.objects.filter(pk=mapping.pk).update(name=name[:255], data=facts)
            mapping.name, mapping.data = name[:255], facts

    def _existing_record(self, target: Target, key: Any):
        """The ExakTime record with this ID (or name), listed once per collection per run."""
        if key is None:
            return None
        cache_key = (target.plural, target.group_type)
        if cache_key not in self._existing:
            listed = list(target.list(self.exaktime))
            if target.plural in snapshot.PLURALS and not target.group_type:
                # The complete list, read anyway: Mappings' snapshot is kept without asking twice.
                self.snapshot.read(snapshot.PLURALS[target.plural], listed)
            self._existing[cache_key] = {getattr(r, target.key): r for r in listed}
        return self._existing[cache_key].get(key)

    def _held_outside_run(self, target: Target, unique: str, value: Any) -> tuple[int, str] | None:
        """In a re-run, the record it does not redo whose twin already has ``value``.

        The first run named the other record of a duplicate; a re-run of only one of
        them must name it too, rather than pass ExakTime's bare refusal on.
        """
        if not self.only.is_rerun:
            return None
        key = (target.plural, target.group_type, unique)
        if key not in self._held:
            held: dict[Any, tuple[int, str]] = {}
            for kind, other in TARGETS.items():
                if (other.plural, other.group_type) != key[:2]:
                    continue
                for procore_id, mapping in self.mappings_of(kind).items():
                    stored = mapping.last_written.get(unique)
                    if isinstance(stored, str | int) and self.only.leaves(kind, procore_id):
                        held.setdefault(stored, (procore_id, mapping.name))
            self._held[key] = held
        return self._held[key].get(value) if isinstance(value, str | int) else None

    # --- rows --------------------------------------------------------------------------

    def skipped_as_ignored(self, kind: str, procore_id: int, name: str) -> bool:
        """An operator's "Ignored on Import": the record's row says so, nothing else happens."""
        mapping = self.mapping(kind, procore_id)
        if mapping is None or not mapping.ignored:
            return False
        self.row(
            kind,
            Outcome.SKIPPED,
            procore_id,
            mapping.exaktime_id,
            name,
            message=f"skipped: ignored by {mapping.ignored_by or 'an operator'} (Ignored on Import).",
        )
        return True

    @contextlib.contextmanager
    def recording_failures_only(self, on: bool):
        """Work on a record the run was not asked for: only a failure of it is a row."""
        before, self._unasked = self._unasked, on
        try:
            yield
        finally:
            self._unasked = before

    def row(
        self,
        kind,
        outcome,
        procore_id=None,
        exaktime_id="",
        name="",
        *,
        changes=None,
        message="",
        retryable=False,
        hint="",
    ) -> None:
        if outcome != Outcome.FAILED:
            self._transient_failures = 0
            if self._unasked:
                return
        elif kind != EntityType.SUB_JOB:  # a sub-job is listed only with its project
            self._keep_procore_side(kind, procore_id, name, {})
        self.recorder.record(
            Row(
                kind,
                outcome,
                procore_id,
                str(exaktime_id or ""),
                rules.safe_label(name),
                changes or {},
                message,
                retryable,
                hint,
            )
        )


def _record(kind: str, exaktime_id: int | str) -> tuple:
    """Names one ExakTime record for the write pool: its collection and its id."""
    target = TARGETS[kind]
    return (target.plural, target.group_type, "id", int(exaktime_id))


def _int(value: str | None) -> int | None:
    return int(value) if value else None
