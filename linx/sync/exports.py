"""Export (AccountLinx): ExakTime time records → Procore timecard entries, exactly once.

Each time record becomes one timecard entry per hour kind that has hours (regular, OT1,
OT2), booked as the time type the connection maps that kind to. An export run reads
the records of its dates, then for each one:

1. plans the entries it should have (`export_plan`: resolved and checked before anything
   is sent; a record that cannot be exported fails on its own row, naming what to fix);
2. compares them with the ledger of entries Linx created (`export_ledger`, keyed by the
   entries' `origin_id`, its pending lines settled from what Procore holds first):
   unchanged → nothing sent; changed → PATCH; hours gone or record deleted → DELETE;
   new → queued for a bulk create;
3. sends (`export_send`), healing any write whose outcome is unknown within the run;
4. records one row per time record, summing up its entries.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import ExakTimeError
from integrations.exaktime.records import TimeRecord
from integrations.procore.client import ProcoreClient
from linx.models import Connection, EntityType, Outcome, SyncRun
from linx.sync.classify import classify
from linx.sync.collections_paused import fewer_collections
from linx.sync.export_ledger import load_ledger
from linx.sync.export_plan import Plan, Planned, Planner, Unexportable, origin_id
from linx.sync.export_read import PageReader, read_with
from linx.sync.export_send import RecordResult, Sender
from linx.sync.parameters import RunParameters
from linx.sync.reference import NotRead
from linx.sync.rules import HOURS_FIELD
from linx.sync.runs import Row, RunAborted, RunRecorder, RunWork
from linx.sync.thread_handoffs import quick_handoffs


class Early(NamedTuple):
    """A record planned while the pages were read (see `Exporter.read_records`)."""

    record: TimeRecord  # the reading it was planned for (a later one is planned again)
    made: Plan | Unexportable
    result: RecordResult | None  # worked out then, when its plan updates or deletes nothing
    creates: list  # its creates, queued then, when it only creates


class Exporter(RunWork):
    """One export run's work for one connection (see the module docstring)."""

    def __init__(
        self,
        connection: Connection,
        recorder: RunRecorder,
        procore: ProcoreClient,
        exaktime: ExakTimeClient,
        *,
        run: SyncRun,
    ) -> None:
        super().__init__(connection, recorder, procore, exaktime, dry_run=run.dry_run)
        parameters = RunParameters.from_json(run.parameters)
        try:
            self.start_date = date.fromisoformat(parameters.first_day)
            self.end_date = date.fromisoformat(parameters.last_day)
        except (KeyError, TypeError, ValueError):
            raise RunAborted(
                "An export needs a date range: --from and --to as YYYY-MM-DD."
            ) from None
        if self.end_date < self.start_date:
            raise RunAborted(
                f"The export's range ends ({self.end_date}) before it starts ({self.start_date})."
            )
        self.approved_only = (
            connection.export_approved_only
            if parameters.approved_only is None
            else parameters.approved_only
        )
        self.employees = set(parameters.employees or [])
        self.only = set(parameters.only_time_records or []) or None
        self.reapply = set(parameters.reapply or [])
        self.sender = Sender(
            connection,
            procore,
            dry_run=self.dry_run,
            on_done=self.finish_record,
            revalidate=self.revalidate,
        )
        self.planner: Planner | None = None

    def run(self) -> None:
        # A big week keeps many objects alive to the end; its pages and project lists
        # are read on threads that must not wait long on the run's own work.
        with fewer_collections(), quick_handoffs():
            self._run()

    def _run(self) -> None:
        # The week's pages are read on a thread of their own while, here, the mappings
        # load and the records read so far are planned (see `read_records`).
        reader = PageReader(self.exaktime, self.start_date, self.end_date)
        try:
            self.planner = Planner(
                self.connection, self.procore, self.exaktime, approved_only=self.approved_only
            )
            records, ledger, early = self.read_records(reader)
        finally:
            reader.close()
            if self.planner is not None:
                self.planner.lists.close()
        self.recorder.expect(EntityType.TIME_RECORD, len(records))
        if not records:
            self.recorder.note = self.nothing_found()
        if not self.dry_run:
            self.sender.reconcile(ledger)
        to_create: list[tuple[Planned, RecordResult]] = []
        for record in records:
            made = early.get(record.id)
            if made is not None and made.record is record and made.result is not None:
                if made.creates:
                    to_create.extend(made.creates)
                else:
                    self.finish_record(made.result)
                continue
            result = RecordResult(record, name=self.planner.name_of(record))
            try:
                self.apply(self.planned(record, ledger, early), ledger, result, to_create)
            except Unexportable as problem:
                result.failures.append(str(problem))
                result.needs = problem.needs
            if not result.waiting:
                self.finish_record(result)
        self.sender.create(to_create)

    def planned(self, record: TimeRecord, ledger, early: dict[int, Early]) -> Plan:
        """The record's plan: the one made while the pages were read, if it was made for
        this very reading of the record; else made now."""
        made = early.get(record.id)
        if made is None or made.record is not record:
            return self.plan(record, ledger)
        if isinstance(made.made, Unexportable):
            raise made.made
        return made.made

    def nothing_found(self) -> str:
        """Why an export with no time records did nothing, and what to check."""
        which = "approved time records" if self.approved_only else "time records"
        if self.employees:
            which += " of the chosen employees"
        if self.only is not None:
            return "None of the time records to try again is still in ExakTime: nothing to export."
        return (
            f"ExakTime holds no {which} dated {self.start_date} to {self.end_date}: nothing "
            "to export. Check the dates, or whether the crews have punched that week yet."
        )

    def read_records(self, reader: PageReader) -> tuple[list[TimeRecord], dict, dict[int, Early]]:
        """The records to export, each once; their ledger lines (by origin_id); and the
        plans made while the pages were read (by record id: the record and its plan, or
        why it cannot be exported, with what was worked out of it then).

        Each handful of records read has its ledger lines loaded and is planned at once,
        so that resolving (and reading a project's lists, a few side by side) overlaps
        the reading. A record whose plan sends nothing has its result worked out then too
        (`decided`). A record with a pending line is planned later, once the ledger is
        settled from Procore. Nothing is sent and no row is recorded before the reading
        is complete.
        """
        ledger: dict = {}
        early: dict[int, Early] = {}

        def alongside(batch: list[TimeRecord]) -> None:
            lines = load_ledger(self.connection, batch)
            ledger.update(lines)
            now = []
            for record in batch:
                mine = [lines.get(origin_id(record.id, kind)) for kind in HOURS_FIELD]
                if record.id is not None and all(
                    x is None or x.procore_id is not None for x in mine
                ):
                    now.append(record)
            # The project lists the handful needs are read a few at a time first (each
            # once, as planning them one by one reads them); their records wait for them.
            lists = self.planner.lists
            with lists.deferring() as needed:
                waiting = [record for record in now if not self.plan_early(record, lines, early)]
            lists.read_ahead(needed)
            for record in waiting:
                self.plan_early(record, lines, early)

        try:
            # By id: a list that changes while its pages are read (a punch added that
            # sorts before the others) shows the last record of a page again on the next
            # one. Its entries must be planned once; the later reading is the fresher one.
            records = read_with(reader, self.wanted, alongside)
        except ExakTimeError as error:
            if classify(error).stops_the_run:
                raise RunAborted(error.message) from error
            raise RunAborted(
                f"Linx could not read ExakTime's time records: {error.message}"
            ) from error
        return records, ledger, early

    def plan_early(self, record: TimeRecord, lines, early: dict[int, Early]) -> bool:
        """Plan a record read while the pages are read; False when a project list it needs
        is not read yet (see `ProjectLists.deferring`)."""
        try:
            made: Plan | Unexportable = self.plan(record, lines)
        except NotRead:
            return False
        except Unexportable as problem:
            made = problem
        early[record.id] = Early(record, made, *self.decided(record, made, lines))
        return True

    def decided(
        self, record: TimeRecord, made: Plan | Unexportable, ledger
    ) -> tuple[RecordResult | None, list]:
        """The record's result when its plan sends nothing (it fails before any send, is
        kept, or every entry is as the ledger holds it), or only creates (nothing of it is
        in the ledger yet): with those creates, queued after the reading. None when it
        updates or deletes. Worked out while the pages are read, recorded (or its creates
        sent) after, in the records' order."""
        creates: list = []
        if (
            isinstance(made, Plan)
            and not made.keep
            and not self.sends_nothing(record, made, ledger)
            and not self.only_creates(record, ledger)
        ):
            return None, creates
        result = RecordResult(record, name=self.planner.name_of(record))
        if isinstance(made, Unexportable):
            result.failures.append(str(made))
            result.needs = made.needs
        else:
            self.apply(made, ledger, result, creates)  # nothing sent: creates only queued
        return result, creates

    @staticmethod
    def only_creates(record: TimeRecord, ledger) -> bool:
        """Whether `apply` can only queue creates for the record: no line of it is in the
        ledger, so there is nothing to update or delete."""
        return all(ledger.get(origin_id(record.id, kind)) is None for kind in HOURS_FIELD)

    def sends_nothing(self, record: TimeRecord, plan: Plan, ledger) -> bool:
        """Whether `apply` would leave every entry of the record as it is."""
        wanted = {p.origin: p for p in plan.entries or []}
        for kind in HOURS_FIELD:
            origin = origin_id(record.id, kind)
            line, entry = ledger.get(origin), wanted.get(origin)
            if entry is None and line is None:
                continue
            if entry is None or line is None or record.id in self.reapply:
                return False
            if line.fingerprint != entry.fingerprint:
                return False
        return True

    def wanted(self, record: TimeRecord) -> bool:
        """Whether the run exports this record (only the ones to try again, or of the
        chosen employees, when it was asked to)."""
        if self.only is not None and record.id not in self.only:
            return False
        return not self.employees or record.employee_id in self.employees

    def plan(self, record: TimeRecord, ledger) -> Plan:
        return plan_record(self.planner, record, ledger)

    @staticmethod
    def settled(record: TimeRecord, ledger) -> bool:
        """Exported at this very revision: every line of the record done and recording it."""
        if record.id is None or record.revision is None:
            return False
        lines = [ledger.get(origin_id(record.id, kind)) for kind in HOURS_FIELD]
        lines = [line for line in lines if line is not None]
        return bool(lines) and all(
            line.procore_id is not None and line.revision == record.revision for line in lines
        )

    def revalidate(self, plan: Planned) -> Planned | None:
        """After Procore refused an entry naming its cost code or sub-job: the project's
        lists read again (once per run) and the record planned again. None: the lists were
        already re-read, so Procore's refusal stands. Raises Unexportable when the record
        now fails the pre-send check (its row says what to fix)."""
        if not self.planner.lists.reread(plan.fields["project_id"]):
            return None
        for entry in self.planner.plan(plan.record).entries or []:
            if entry.kind == plan.kind:
                return entry
        return None

    def apply(self, plan: Plan, ledger, result: RecordResult, to_create) -> None:
        """Compare a record's plan with the ledger: update, delete, or queue creates."""
        record = result.record
        if plan.keep:
            result.reason = plan.reason
            return
        wanted = {p.origin: p for p in plan.entries or []}
        for kind in HOURS_FIELD:
            origin = origin_id(record.id, kind)
            line, entry = ledger.get(origin), wanted.get(origin)
            if entry is None:
                if line is not None:
                    self.sender.delete(line, result, kind)
            elif line is None:
                to_create.append((entry, result))
                result.waiting += 1
            elif line.fingerprint == entry.fingerprint and record.id not in self.reapply:
                result.outcomes.append(Outcome.UNCHANGED)
                result.entry_ids.append(line.procore_id)
            else:
                self.sender.update(line, entry, result)
        if not result.outcomes and not result.waiting:
            result.reason = plan.reason

    def finish_record(self, result: RecordResult) -> None:
        """One row for the time record, summing up its entries."""
        record = result.record
        outcomes = set(result.outcomes)
        if result.failures:
            outcome = Outcome.FAILED
        elif Outcome.CREATED in outcomes:
            outcome = Outcome.CREATED
        elif Outcome.UPDATED in outcomes or (Outcome.DELETED in outcomes and len(outcomes) > 1):
            outcome = Outcome.UPDATED
        elif Outcome.DELETED in outcomes:
            outcome = Outcome.DELETED
        elif Outcome.UNCHANGED in outcomes:
            outcome = Outcome.UNCHANGED
        else:
            outcome = Outcome.SKIPPED
        message = " ".join(result.failures)
        if outcome == Outcome.SKIPPED and result.reason:
            message = f"Skipped: {result.reason}."
        self.recorder.record(
            Row(
                EntityType.TIME_RECORD,
                outcome,
                procore_id=result.entry_ids[0] if result.entry_ids else None,
                exaktime_id="" if record.id is None else str(record.id),
                name=result.name[:255],
                changes=result.changes,
                message=message,
                retryable=result.retryable,
                needs=result.needs,
            )
        )


def plan_record(planner: Planner, record: TimeRecord, ledger) -> Plan:
    """The record's plan. One the ledger holds at its current revision is resolved
    with local lookups only; only if that plan differs from what was sent (a mapping
    or setting changed since) is it resolved again against fresh Procore lists. A
    reconciliation plans its records this way too."""
    if not Exporter.settled(record, ledger):
        return planner.plan(record)
    try:
        plan = planner.plan(record, settled=True)
    except Unexportable:
        return planner.plan(record)
    sent = {
        kind: line.fingerprint
        for kind in HOURS_FIELD
        if (line := ledger.get(origin_id(record.id, kind))) is not None
    }
    if plan.keep or {p.kind: p.fingerprint for p in plan.entries or []} == sent:
        return plan
    return planner.plan(record)
