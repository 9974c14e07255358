"""The export ledger, and settling its pending lines from what Procore holds.

Procore does not refuse a second entry with the same `origin_id`, so Linx keeps its
own ledger: an `ExportLedgerLine` per (time record, hour kind), keyed by the entry's
`origin_id`. It is written *before* the create is sent (pending, no Procore id) and
completed with the entry's id after. A pending line means the outcome of a create is
unknown (a lost answer, a killed worker): `Reconciler.reconcile` lists the Procore
entries of those dates and workers and matches their `origin_id`: found, the line is
completed; not found, it goes, and the entry is safe to create.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.exaktime.records import TimeRecord
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreError,
    ProcoreOutcomeUnknown,
    ProcoreUnavailable,
)
from integrations.procore.records import TimecardEntry
from linx.models import Connection, ExportLedgerLine, LineState
from linx.sync import bulk_sql, rules
from linx.sync.classify import classify
from linx.sync.export_plan import Planned, origin_id
from linx.sync.rules import HOURS_FIELD
from linx.sync.runs import RunAborted

LEDGER_SLICE = 2000  # origin ids per query when reading the ledger
#: Sends of one write whose outcome stays unknown, each after Procore was checked,
#: before its row fails (a re-run, or the next export, settles it then).
WRITE_ATTEMPTS = 3
#: What `fill_line` sets.
SENT_FIELDS = ["work_date", "party_id", "fields", "fingerprint", "revision"]


def fill_line(line: ExportLedgerLine, plan: Planned) -> None:
    """What a ledger line keeps of its plan: the date and worker to look it up by, the
    fields sent, and what tells a changed record from an unchanged one."""
    for name, value in sent_values(plan).items():
        setattr(line, name, value)


def sent_values(plan: Planned, *, encoded: bool = False) -> dict:
    """The `SENT_FIELDS` of a line for ``plan`` (``encoded``: its fields as the JSON
    text the fingerprint was made from, for `bulk_sql`)."""
    return {
        "work_date": date.fromisoformat(plan.fields["date"]),
        "party_id": plan.fields["party_id"],
        "fields": (
            bulk_sql.EncodedJSON(plan.canonical) if encoded else rules.json_ready(plan.fields)
        ),
        "fingerprint": plan.fingerprint,
        "revision": plan.record.revision,
    }


#: Every column of a line, by attribute name, in the model's order.
ATTNAMES = [f.attname for f in ExportLedgerLine._meta.concrete_fields]
#: What `load_ledger` reads of a line: not the fields last sent (only a changed record's
#: diff needs them, read then, line by line: decoding every line's JSON made up much of
#: a no-change run), nor its times (converting three datetimes a line was the next part).
LOADED = [
    name for name in ATTNAMES if name not in ("fields", "synced_at", "created_at", "updated_at")
]


def as_loaded(names: list[str], values, db: str = "default") -> ExportLedgerLine:
    """A line as a query reading only ``names`` makes it (see `bulk_sql.loaded`)."""
    return bulk_sql.loaded(ExportLedgerLine, names, values, db)


def load_ledger(connection: Connection, records: list[TimeRecord]) -> dict[str, ExportLedgerLine]:
    """This connection's entry lines for these records, by origin_id."""
    origins = [origin_id(r.id, kind) for r in records for kind in HOURS_FIELD]
    ledger = {}
    at = LOADED.index("origin_id")
    # In slices: SQLite builds cap how many values one IN (...) may hold.
    for start in range(0, len(origins), LEDGER_SLICE):
        rows = (
            ExportLedgerLine.objects.filter(
                connection=connection, origin_id__in=origins[start : start + LEDGER_SLICE]
            )
            .order_by()
            .values_list(*LOADED)
        )
        ledger.update((row[at], as_loaded(LOADED, row, rows.db)) for row in rows)
    return ledger


#: What `write_intent` inserts of a line: every column but the id, in the model's order.
INTENT_FIELDS = [f.name for f in ExportLedgerLine._meta.concrete_fields if not f.primary_key]
_AT_FIELDS = INTENT_FIELDS.index("fields")
_AT_ORIGIN = INTENT_FIELDS.index("origin_id")
#: What the lines `write_intent` hands back hold: every column but the fields sent.
_INTENT_LOADED = [name for name in ATTNAMES if name != "fields"]


def _intent(connection: Connection, plan: Planned, now) -> tuple:
    """A pending line's column values, in `INTENT_FIELDS`' order."""
    line = {
        "connection": connection.pk,
        "origin_id": plan.origin,
        "time_record_id": plan.record.id,
        "kind": plan.kind,
        "procore_id": None,
        "state": LineState.PENDING,
        **sent_values(plan, encoded=True),
        "synced_at": None,
        "created_at": now,
        "updated_at": now,
    }
    return tuple(line[name] for name in INTENT_FIELDS)


def write_intent(connection: Connection, plans: Iterable[Planned]) -> list[ExportLedgerLine]:
    """Ledger lines written before the create is sent: a crash leaves them pending."""
    now = timezone.now()
    values = [_intent(connection, plan, now) for plan in plans]
    # One prepared INSERT for the batch, committed before the create is sent; the ids
    # are read back by origin (unique per connection).
    with transaction.atomic():
        bulk_sql.insert(ExportLedgerLine, INTENT_FIELDS, values)
        origins = [row[_AT_ORIGIN] for row in values]
        ids = bulk_sql.pks_by(ExportLedgerLine, "origin_id", origins, connection=connection.pk)
    # As the database holds them; the fields sent, given as text, are read back from
    # it when used (an update of the line sets them again).
    return [
        as_loaded(_INTENT_LOADED, (ids[origin], *row[:_AT_FIELDS], *row[_AT_FIELDS + 1 :]))
        for origin, row in zip(origins, values, strict=True)
    ]


def forget(lines: Iterable[ExportLedgerLine]) -> None:
    """Drop lines whose create was refused: nothing of theirs reached Procore."""
    ExportLedgerLine.objects.filter(pk__in=[line.pk for line in lines]).delete()


def record_line(line: ExportLedgerLine, plan: Planned, entry_id: int) -> None:
    """A line whose entry Procore holds, as ``plan`` sent it."""
    line.procore_id = entry_id
    line.state = LineState.DONE
    fill_line(line, plan)
    line.synced_at = timezone.now()
    line.save(update_fields=[*SENT_FIELDS, "procore_id", "state", "synced_at", "updated_at"])


def record_created(lines: list[ExportLedgerLine], entry_ids: list[int]) -> None:
    """A batch's lines whose entries Procore created as their intents said (the fields
    were filled when the intent was written): one prepared UPDATE for the batch."""
    now = timezone.now()
    for line, entry_id in zip(lines, entry_ids, strict=True):
        line.procore_id = entry_id
        line.state = LineState.DONE
        line.synced_at = line.updated_at = now
    with transaction.atomic():
        bulk_sql.update(
            ExportLedgerLine,
            ["procore_id", "state", "synced_at", "updated_at"],
            [(line.procore_id, line.state, now, now, line.pk) for line in lines],
        )


def found_line(line: ExportLedgerLine, entry_id: int) -> None:
    """A pending line whose entry was found in Procore after all."""
    line.procore_id = entry_id
    line.state = LineState.DONE
    line.synced_at = timezone.now()
    line.save(update_fields=["procore_id", "state", "synced_at", "updated_at"])


class Reconciler:
    """Finds out what Procore holds: pending lines settled, entries re-read after a
    write whose outcome is unknown, and deletes made sure of."""

    def __init__(self, procore: ProcoreClient) -> None:
        self.procore = procore

    def pause(self) -> None:
        time.sleep(settings.LINX_RECHECK_PAUSE_MS / 1000)

    def reconcile(self, ledger: dict[str, ExportLedgerLine]) -> None:
        """Settle pending lines from what Procore actually holds (by origin_id)."""
        pending = [line for line in ledger.values() if line.procore_id is None]
        if not pending:
            return
        found = self._find_pending(pending)
        for line in pending:
            entries = found.get(line.origin_id, [])
            if entries:
                keep, *extra = sorted(entries, key=lambda e: e.id)
                for duplicate in extra:  # another writer doubled it: Linx's origin, Linx's to fix
                    self.delete_entry(duplicate.id, [duplicate.date], [duplicate.party_id])
                found_line(line, keep.id)
            else:
                line.delete()
                ledger.pop(line.origin_id, None)

    def _find_pending(self, pending: list[ExportLedgerLine]) -> dict[str, list[TimecardEntry]]:
        dates = [line.work_date for line in pending]
        parties = sorted({line.party_id for line in pending})
        try:
            found = self._entries_by_origin(min(dates), max(dates), parties)
            if any(line.origin_id not in found for line in pending):
                # An entry deleted from an earlier page while the pages are read pulls
                # the next page back by one, and the entry at the seam is never seen.
                # "Not there" leads to creating it again, so it must be seen twice, a
                # pause apart: a write Procore answered with a 5xx may still be landing.
                self.pause()
                again = self._entries_by_origin(min(dates), max(dates), parties)
                for origin, entries in again.items():
                    known = {entry.id for entry in found.get(origin, [])}
                    found[origin] = found.get(origin, []) + [
                        entry for entry in entries if entry.id not in known
                    ]
        except ProcoreError as error:
            failure = classify(error)
            if failure.retry_may_help:
                raise RunAborted(
                    f"Linx must check what Procore already holds before exporting again, and "
                    f"Procore did not answer: {failure.message} Nothing was sent."
                ) from error
            raise RunAborted(
                f"Linx could not check Procore's timecard entries: {failure.message}"
            ) from error
        return found

    def _entries_by_origin(self, first: date, last: date, parties: list[int]) -> dict[str, list]:
        # By entry id too: a list that changes while its pages are read (an entry added
        # on an earlier page pushes the last one of a page onto the next) shows an entry
        # twice, and one entry seen twice is not two entries: deleting the "extra" copy
        # would delete the entry itself.
        found: dict[str, dict[int, TimecardEntry]] = defaultdict(dict)
        for entry in self.procore.timecard_entries(first, last, party_ids=parties):
            if entry.origin_id:
                found[entry.origin_id][entry.id] = entry
        return {origin: list(entries.values()) for origin, entries in found.items()}

    def reread(self, entry_id: int, dates, parties, unknown: ProcoreError) -> TimecardEntry | None:
        """The entry as Procore lists it now (None: not listed), looked for on these dates
        and workers; a list that cannot be read leaves the write's outcome ``unknown``."""
        days = [d for d in dates if d]
        workers = sorted({p for p in parties if p is not None})
        if not days:
            raise unknown  # nowhere to look: the outcome stays unknown
        try:
            for entry in self.procore.timecard_entries(min(days), max(days), party_ids=workers):
                if entry.id == entry_id:
                    return entry
        except ProcoreError as error:
            raise unknown from error
        return None

    def delete_entry(self, entry_id: int, dates, parties) -> None:
        """DELETE an entry (one already gone is fine). After a delete that failed in a way
        that may have reached Procore, the entry is looked for: gone from two readings a
        pause apart, it is done; else it is deleted again, up to WRITE_ATTEMPTS sends."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self.procore.delete_timecard_entry(entry_id)
                return
            except (ProcoreOutcomeUnknown, ProcoreUnavailable) as unknown:
                if attempt == WRITE_ATTEMPTS:
                    raise
                if self._gone(entry_id, dates, parties, unknown):
                    return

    def _gone(self, entry_id: int, dates, parties, unknown: ProcoreError) -> bool:
        for _ in range(2):  # one reading can miss an entry at the seam of two pages
            self.pause()
            if self.reread(entry_id, dates, parties, unknown) is not None:
                return False
        return True
