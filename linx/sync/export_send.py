"""Sending an export's writes to Procore, and healing those whose outcome is unknown.

New entries go in bulk batches (a refused batch falls back so only its bad entries
fail), changed ones are patched, ones whose hours are gone deleted. A write whose
outcome is unknown (Procore answered 5xx, or the answer was lost) is never sent again
blindly. A create is looked for by `origin_id` twice, a short pause apart
(`LINX_RECHECK_PAUSE_MS`), and sent again only when both readings miss it; an update is
re-read and sent again only when the entry does not hold the new values yet; a delete
is re-read, and gone is done. At most `WRITE_ATTEMPTS` sends in all; then the row fails
as one a re-run can fix.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from integrations.exaktime.records import TimeRecord
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreError,
    ProcoreNotFound,
    ProcoreOutcomeUnknown,
    ProcoreValidationError,
)
from integrations.procore.records import TimecardEntry
from integrations.values import parse_iso_date
from linx.models import Connection, ExportLedgerLine, Outcome
from linx.sync import rules
from linx.sync.classify import classify
from linx.sync.export_ledger import (
    WRITE_ATTEMPTS,
    Reconciler,
    forget,
    record_created,
    record_line,
    write_intent,
)
from linx.sync.export_plan import RERUN, Planned, Unexportable
from linx.sync.reference import names_reference
from linx.sync.rules import KIND_NAMES
from linx.sync.runs import RunAborted
from linx.sync.send_ahead import SendAhead

log = logging.getLogger(__name__)

BULK = 100  # the contract's largest bulk create


#: How an entry's fields, as Linx sends them, are read back from what Procore lists.
HELD: dict[str, Any] = {
    "date": parse_iso_date,
    "hours": Decimal,
    "time_in": datetime.fromisoformat,
    "time_out": datetime.fromisoformat,
    "lunch_time": int,
    "party_id": int,
    "cost_code_id": int,
    "sub_job_id": int,
    "timecard_time_type_id": int,
    "work_classification_id": int,
    "description": str,
    "origin_data": str,
}


def holds(entry: TimecardEntry, fields: dict[str, Any]) -> bool:
    """Whether an entry Procore lists already carries these fields (an update whose
    answer was lost). In doubt it says no: patching again with the same values is safe."""
    for key, read in HELD.items():
        if key in fields and getattr(entry, key) != (
            None if fields[key] is None else read(fields[key])
        ):
            return False
    for key, value in fields.items():
        definition = key.removeprefix("custom_field_")
        if definition != key and definition.isdigit():
            held = entry.custom_fields.get(int(definition))
            if str(held).lower() != str(value).lower():
                return False
    return True


@dataclass
class RecordResult:
    """What happened to one time record's entries, gathered into its row."""

    record: TimeRecord
    outcomes: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    needs: dict[str, Any] | None = None  # the missing link a failure names (RowResult.needs)
    retryable: bool = False
    entry_ids: list[int] = field(default_factory=list)
    waiting: int = 0  # creates queued for the bulk batches, not yet answered
    reason: str = ""  # why nothing was sent, for a skipped row
    name: str = ""  # the record as a person reads it: worker, date, where, cost code


class Sender(Reconciler):
    """Sends one export's writes; ``on_done`` gets each record's result once all of its
    writes are answered. A dry run sends nothing and reports what would be sent."""

    def __init__(
        self,
        connection: Connection,
        procore: ProcoreClient,
        *,
        dry_run: bool,
        on_done: Callable[[RecordResult], None],
        revalidate: Callable[[Planned], Planned | None] | None = None,
    ) -> None:
        super().__init__(procore)
        self.connection = connection
        self.dry_run = dry_run
        self.on_done = on_done
        self.revalidate = revalidate

    def update(self, line: ExportLedgerLine, plan: Planned, result: RecordResult) -> None:
        before = line.fields or {}
        diff = rules.changes(before, plan.fields)
        diff.pop("origin_data", None)
        if self.dry_run:
            result.outcomes.append(Outcome.UPDATED)
            result.changes[plan.kind] = diff
            return
        try:
            self._send_update(line, plan)
        except ProcoreNotFound:
            # Removed in Procore by hand: the ledger line goes; the next run creates it again.
            line.delete()
            result.failures.append(
                f"The {KIND_NAMES[plan.kind]} entry {line.procore_id} was deleted in Procore; "
                f"{RERUN} to create it again."
            )
            return
        except ProcoreOutcomeUnknown:
            result.failures.append(
                f"Procore did not answer the update of entry {line.procore_id} ({WRITE_ATTEMPTS} "
                f"sends); {RERUN} (an update sent twice changes nothing)."
            )
            result.retryable = True
            return
        except ProcoreError as error:
            again = self._replanned(plan, error)
            if isinstance(again, Planned):
                self.update(line, again, result)
            elif again is not None:
                result.failures.append(str(again))
            else:
                self._failed(result, error)
            return
        record_line(line, plan, line.procore_id)
        result.outcomes.append(Outcome.UPDATED)
        result.changes[plan.kind] = diff
        result.entry_ids.append(line.procore_id)

    def _send_update(self, line: ExportLedgerLine, plan: Planned) -> None:
        """PATCH an entry. After an unknown outcome the entry is re-read: holding the new
        values, it is done; else it is patched again, up to WRITE_ATTEMPTS sends in all
        (then ProcoreOutcomeUnknown is raised)."""
        where = (
            [line.work_date, date.fromisoformat(plan.fields["date"])],
            [line.party_id, plan.fields["party_id"]],
        )
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self.procore.update_timecard_entry(line.procore_id, self._patch(plan.fields))
                return
            except ProcoreOutcomeUnknown as unknown:
                if attempt == WRITE_ATTEMPTS:
                    raise
                self.pause()
                current = self.reread(line.procore_id, *where, unknown)
                if current is not None and holds(current, plan.fields):
                    return
                log.info(
                    "Timecard entry %s does not hold its update; sending it again", line.procore_id
                )

    def _patch(self, fields: dict[str, Any]) -> dict[str, Any]:
        # The project is fixed by the entry's URL in Procore's model; the rest is patched.
        return {k: v for k, v in fields.items() if k != "project_id"}

    def delete(self, line: ExportLedgerLine, result: RecordResult, kind: str) -> None:
        if self.dry_run:
            result.outcomes.append(Outcome.DELETED)
            result.changes[kind] = {"entry": [line.procore_id, None]}
            return
        if line.procore_id is not None:
            where = ([line.work_date], [line.party_id])
            try:
                self.delete_entry(line.procore_id, *where)
            except ProcoreError as error:
                self._failed(result, error)
                return
        line.delete()
        result.outcomes.append(Outcome.DELETED)
        result.changes[kind] = {"entry": [line.procore_id, None]}

    def create(self, to_create: list[tuple[Planned, RecordResult]]) -> None:
        """Create the new entries in bulk batches; a refused batch falls back so only bad ones fail.

        One batch is out at a time, in order, each after its ledger intent is committed;
        while it is out, the previous batch's answer is recorded (see `send_ahead`)."""
        if self.dry_run:
            for plan, result in to_create:
                self._created(plan, result, None)
            return
        batches = [to_create[start : start + BULK] for start in range(0, len(to_create), BULK)]
        ahead = SendAhead(self.procore)
        try:
            out = None  # the batch out: (batch, lines, sent)
            for batch in [*batches, None]:
                lines = write_intent(self.connection, [p for p, _ in batch]) if batch else []
                created = None
                if out is not None:
                    try:
                        created = self._answer(ahead, *out)
                    except BaseException:
                        forget(lines)  # not sent: nothing of theirs reached Procore
                        raise
                sent = ahead.send([plan.fields for plan, _ in batch]) if batch else None
                if created is not None:
                    try:
                        self._batch_created(out[0], out[1], created)
                    except BaseException:  # stopped (a cancel, say) while a batch is out
                        self._complete_quietly(ahead, sent, lines)
                        raise
                out = (batch, lines, sent) if batch else None
        finally:
            ahead.close()

    @staticmethod
    def _complete_quietly(ahead: SendAhead, sent, lines: list[ExportLedgerLine]) -> None:
        """The run is ending with a batch out: its ledger lines are completed if it was
        created (no rows: the run records no more); else they stay pending, and the next
        export settles them from what Procore holds."""
        if sent is None:
            return
        with contextlib.suppress(Exception):  # pending lines are the safe outcome
            record_created(lines, ahead.answer(sent))

    def _answer(self, ahead: SendAhead, batch, lines, sent) -> list[int] | None:
        """The ids of the entries a batch out created; None when Procore refused it (handled)."""
        try:
            return ahead.answer(sent)
        except ProcoreError as error:
            self._batch_refused(batch, lines, error, 1)
            return None

    def _created(self, plan: Planned, result: RecordResult, entry_id: int | None) -> None:
        result.outcomes.append(Outcome.CREATED)
        result.changes[plan.kind] = rules.created_changes(plan.fields)
        if entry_id is not None:
            result.entry_ids.append(entry_id)
        self._answered(result)

    def _not_created(self, result: RecordResult, message: str, *, retryable: bool) -> None:
        result.failures.append(message)
        result.retryable = result.retryable or retryable
        self._answered(result)

    def _answered(self, result: RecordResult) -> None:
        """One queued create settled; the record's row is written when all of its are."""
        result.waiting -= 1
        if result.waiting == 0:
            self.on_done(result)

    def _create_batch(self, batch: list[tuple[Planned, RecordResult]], attempt: int = 1) -> None:
        lines = write_intent(self.connection, [plan for plan, _ in batch])
        try:
            created = self.procore.create_timecard_entry_ids([plan.fields for plan, _ in batch])
        except ProcoreError as error:
            self._batch_refused(batch, lines, error, attempt)
            return
        self._batch_created(batch, lines, created)

    def _batch_created(self, batch, lines: list[ExportLedgerLine], created: list[int]) -> None:
        record_created(lines, created)
        for (plan, result), entry_id in zip(batch, created, strict=True):
            self._created(plan, result, entry_id)

    def _batch_refused(self, batch, lines: list[ExportLedgerLine], error, attempt: int) -> None:
        """A bulk create that did not go through as sent: only its bad entries fail."""
        if isinstance(error, ProcoreValidationError):
            self._batch_invalid(batch, lines, error, attempt)
        elif isinstance(error, ProcoreOutcomeUnknown):
            self._settle_unknown(batch, lines, attempt, self._create_batch)
        else:
            forget(lines)  # refused before anything was created
            failure = classify(error)
            if failure.stops_the_run:
                raise RunAborted(failure.message) from error
            for _, result in batch:
                self._not_created(result, failure.message, retryable=failure.retry_may_help)

    def _batch_invalid(self, batch, lines, error: ProcoreValidationError, attempt: int) -> None:
        bad = {index for index in error.index_errors if 0 <= index < len(batch)}
        if not bad:
            # No per-entry detail: send one by one so only the bad entries fail.
            forget(lines)
            for item in batch:
                self._create_one(item)
            return
        again = []
        for index in sorted(bad):
            plan, result = batch[index]
            lines[index].delete()
            messages = error.index_errors[index]
            replanned = self._replanned(plan, messages)
            if isinstance(replanned, Planned):
                again.append((replanned, result))
                continue
            refused = " ".join(messages)
            self._not_created(
                result,
                str(replanned or f"Procore refused the {KIND_NAMES[plan.kind]} entry: {refused}"),
                retryable=False,
            )
        forget([line for i, line in enumerate(lines) if i not in bad])
        rest = [item for i, item in enumerate(batch) if i not in bad] + again
        if rest:
            self._create_batch(rest, attempt)

    def _create_one(self, item: tuple[Planned, RecordResult], attempt: int = 1) -> None:
        plan, result = item
        (line,) = write_intent(self.connection, [plan])
        try:
            entry = self.procore.create_timecard_entry(plan.fields["project_id"], plan.fields)
        except ProcoreOutcomeUnknown:
            self._settle_unknown([item], [line], attempt, self._create_each)
            return
        except ProcoreError as error:
            line.delete()
            again = self._replanned(plan, error)
            if isinstance(again, Planned):
                self._create_one((again, result), attempt)
            elif again is not None:
                self._not_created(result, str(again), retryable=False)
            else:
                failure = classify(error)
                self._not_created(result, failure.message, retryable=failure.retry_may_help)
            return
        record_line(line, plan, entry.id)
        self._created(plan, result, entry.id)

    def _create_each(self, items: list[tuple[Planned, RecordResult]], attempt: int) -> None:
        for item in items:
            self._create_one(item, attempt)

    def _settle_unknown(self, batch, lines: list[ExportLedgerLine], attempt: int, send) -> None:
        """A create whose outcome is unknown: look in Procore before deciding anything.

        Found: it was created. Missing from two readings a pause apart: it never landed,
        so ``send`` sends it again, until WRITE_ATTEMPTS sends; then its row fails.
        """
        ledger = {line.origin_id: line for line in lines}
        try:
            self.reconcile(ledger)
        except RunAborted:
            for _, result in batch:
                self._not_created(
                    result,
                    "Procore did not answer whether it saved this entry and could not be asked; "
                    f"the next export checks before sending it again. {RERUN.capitalize()}.",
                    retryable=True,
                )
            return
        missing = []
        for plan, result in batch:
            line = ledger.get(plan.origin)
            if line is not None and line.procore_id is not None:
                record_line(line, plan, line.procore_id)
                self._created(plan, result, line.procore_id)
            elif attempt < WRITE_ATTEMPTS:
                missing.append((plan, result))
            else:
                self._not_created(
                    result,
                    f"Procore did not save the {KIND_NAMES[plan.kind]} entry ({attempt} sends "
                    f"went unanswered and the entry is not there); {RERUN}.",
                    retryable=True,
                )
        if missing:
            log.info("%d timecard entries confirmed not created; sending them again", len(missing))
            send(missing, attempt + 1)

    def _replanned(self, plan: Planned, refusal) -> Planned | Unexportable | None:
        """An entry Procore refused with a 422 naming its cost code or sub-job: Linx's
        copy of the project's lists may be out of date, so they are read again (once per
        run) and the record checked again. The entry to send instead; or why the record
        now fails the pre-send check (naming what to fix); or None: the refusal stands."""
        if isinstance(refusal, ProcoreValidationError):
            refusal = [refusal.message, *(m for ms in refusal.field_errors.values() for m in ms)]
        elif isinstance(refusal, ProcoreError):
            return None
        if self.revalidate is None or not names_reference(refusal):
            return None
        try:
            again = self.revalidate(plan)
        except Unexportable as problem:
            return problem
        return again if again is not None and again.fields != plan.fields else None

    def _failed(self, result: RecordResult, error: ProcoreError) -> None:
        failure = classify(error)
        result.failures.append(failure.message)
        result.retryable = result.retryable or failure.retry_may_help
