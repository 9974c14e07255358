"""A reconciliation: does Procore hold exactly the hours ExakTime's people punched?

`reconcile` records a `Reconciliation` (who, when, the range) before anything is read,
then reads the range's time records and timecard entries in pages, a run of days at a
time (`DayChunks`: memory is bounded by the run, not the range), with no database
transaction open, compares each run (`reconcile_compare`) and adds its lines up
(`reconcile_totals`: matched lines are counted, not kept), and saves the totals and
the differing lines in one write. If a read fails, the reconciliation is saved as failed
with the reason, and no totals or lines: nothing half-reported. It changes nothing in
either system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count
from django.utils import timezone

from integrations.exaktime.errors import ExakTimeError
from integrations.exaktime.records import TimeRecord
from integrations.procore.errors import ProcoreError
from linx.clients import exaktime_client, procore_client
from linx.models import (
    Connection,
    ExportLedgerLine,
    Reconciliation,
    ReconciliationStatus,
    RunTrigger,
    User,
)
from linx.sync.classify import classify
from linx.sync.execute import check_secrets, check_service_urls
from linx.sync.export_plan import Planner
from linx.sync.reconcile_compare import MATCHED, Comparer, Line
from linx.sync.reconcile_items import Held, Interner, compact_record, held
from linx.sync.reconcile_totals import Tally
from linx.sync.runs import RunAborted

#: About how many timecard entries one run of days may hold: a reconciliation's memory
#: is bounded by this (or by its largest day), not by its range.
CHUNK_ENTRIES = 4000
ONE_DAY = timedelta(days=1)


class CouldNotReconcile(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def reconcile(
    connection: Connection,
    first_day: date,
    last_day: date,
    *,
    trigger: str = RunTrigger.COMMAND,
    user: User | None = None,
) -> Reconciliation:
    """Compare the range and record it; returns the saved reconciliation."""
    done = Reconciliation.objects.create(
        connection=connection,
        first_day=first_day,
        last_day=last_day,
        trigger=trigger,
        started_by=user if user is not None and user.pk else None,
    )
    try:
        if last_day < first_day:
            raise CouldNotReconcile(f"The range ends ({last_day}) before it starts ({first_day}).")
        compared = compare_range(connection, first_day, last_day)
    except (CouldNotReconcile, RunAborted) as problem:
        done.status = ReconciliationStatus.FAILED
        done.message = f"The reconciliation could not run: {problem.message}"
    else:
        done.totals = compared.totals
        done.lines = [line.as_json() for line in compared.differing]
        differs = bool(compared.differing)
        done.status = ReconciliationStatus.DIFFERENCES if differs else ReconciliationStatus.MATCHED
    done.finished_at = timezone.now()
    done.save()
    return done


def compare_range(connection: Connection, first_day: date, last_day: date) -> Compared:
    """The range compared a chunk of days at a time (`DayChunks`): its totals and the
    lines that differ. Raises CouldNotReconcile when a list cannot be read."""
    check_service_urls(connection)
    check_secrets(connection)
    tally, differing = Tally(connection), []

    def on_line(line: Line) -> None:
        tally.add(line)
        if line.cls != MATCHED:
            differing.append(line)

    with procore_client(connection) as procore, exaktime_client(connection) as exaktime:
        planner = Planner(
            connection,
            procore,
            exaktime,
            approved_only=connection.export_approved_only,
            known=tally.workers.known,
        )
        comparer = Comparer(connection, planner, on_line, (first_day, last_day))
        chunks = DayChunks(connection, first_day, last_day)
        for first, last in chunks:
            intern = Interner()  # the chunk's repeated values, shared while it is held
            records, entries = read_chunk(exaktime, procore, first, last, intern)
            chunks.read(first, last, len(records), len(entries))
            comparer.compare(records, entries)
            del records, entries, intern  # the next chunk is read without this one in memory
        comparer.finish()
    return Compared(tally.result(), differing)


@dataclass
class Compared:
    totals: dict
    differing: list[Line]


class DayChunks:
    """The range as runs of whole days, each expected to hold at most about CHUNK_ENTRIES
    timecard entries, so a reconciliation holds one run in memory, never the range.

    A day's expected size is what Linx exported for it (the ledger's lines dated that
    day) or the densest run read so far, whichever is more. Knowing neither (nothing
    exported in the range, nothing read yet), a run is one day, then two, four... while
    they turn out empty. A range that fits is read as
    one run: as many requests as reading it whole."""

    def __init__(self, connection: Connection, first_day: date, last_day: date) -> None:
        self.next_day, self.last_day = first_day, last_day
        self.exported: dict[date, int] = dict(
            ExportLedgerLine.objects.filter(
                connection=connection, work_date__range=(first_day, last_day)
            )
            .values_list("work_date")
            .annotate(lines=Count("id"))
            .order_by()
        )
        self.per_day = 0.0  # the most entries (or records) per day of a run read so far
        self.blind = 1  # while nothing is known: the days of the next run

    def __iter__(self):
        while self.next_day <= self.last_day:
            first = last = self.next_day
            load = self.expected(first)
            while last < self.last_day and load + self.expected(last + ONE_DAY) <= CHUNK_ENTRIES:
                last += ONE_DAY
                load += self.expected(last)
            self.next_day = last + ONE_DAY
            yield first, last

    def expected(self, day: date) -> float:
        if self.exported or self.per_day:  # a day the ledger does not know is likely empty
            return max(self.exported.get(day, 0), self.per_day)
        return CHUNK_ENTRIES / self.blind

    def read(self, first: date, last: date, records: int, entries: int) -> None:
        days = (last - first).days + 1
        self.per_day = max(self.per_day, max(records, entries) / days)
        if not self.per_day:
            self.blind *= 2


def read_chunk(exaktime, procore, first: date, last: date, intern: Interner):
    """The days' time records and timecard entries. The entries are read first, while
    nothing else of the days is held: their pages are the largest Linx reads (a page of
    1,000 entries is about 4 MiB while it is parsed). A failing read is reported as it
    was when the records were read first: ExakTime's failure before Procore's."""
    try:
        entries = read_entries(procore, first, last, intern)
    except CouldNotReconcile:
        read_records(exaktime, first, last, intern)  # raises if ExakTime fails too
        raise
    return read_records(exaktime, first, last, intern), entries


def read_records(exaktime, first_day: date, last_day: date, intern: Interner) -> list[TimeRecord]:
    """The days' time records, in pages; the fresher reading of a record seen twice. Each
    is held compactly (`compact_record`) as soon as it is read."""
    try:
        read = exaktime.time_records(first_day, last_day)
        return list({r.id: compact_record(r, intern) for r in read}.values())
    except ExakTimeError as error:
        raise CouldNotReconcile(
            f"Linx could not read ExakTime's time records: {classify(error).message}"
        ) from error


def read_entries(procore, first_day: date, last_day: date, intern: Interner) -> list[Held]:
    """Every timecard entry dated within the days, Linx's or not, in pages; each held as
    just what the comparison reads (`Held`) as soon as it is read."""
    try:
        read = procore.timecard_entries(first_day, last_day)
        return list({e.id: held(e, intern) for e in read}.values())
    except ProcoreError as error:
        raise CouldNotReconcile(
            f"Linx could not read Procore's timecard entries: {classify(error).message}"
        ) from error
