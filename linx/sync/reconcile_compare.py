"""The comparison: what ExakTime says Procore should hold, beside what Procore holds.

"Should hold" is computed the one way an export computes it: each time record of the
range is planned by `export_plan.Planner` (the connection's mappings, hour kinds, time
types and time entry mode), giving one expected entry per hour kind; a record exported
at its current revision is planned against the kept project lists however old, as an
export does (`exports.plan_record`), so reconciling an exported week reads none. Procore's side is
*every* timecard entry dated within the range, read in pages; an entry is tied to a
time record by its `origin_id` and the export ledger (what Linx created and sent).

Each expected entry and each Procore entry ends on exactly one line, classified as
matched, missing in Procore, extra in Procore, different or not approved. Matching
compares worker, date, project, sub-job, cost code, time type and hours (or clock
times); custom fields are never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from integrations.exaktime.records import TimeRecord
from linx.models import (
    Connection,
    EntityType,
    ExportLedgerLine,
    Outcome,
    RowResult,
    RunKind,
)
from linx.sync.export_plan import Plan, Planned, Planner, Unexportable, origin_id
from linx.sync.exports import plan_record
from linx.sync.reconcile_items import Entries, Held
from linx.sync.rules import HOURS_FIELD, KIND_NAMES

MATCHED = "matched"
MISSING = "missing_in_procore"
EXTRA = "extra_in_procore"
DIFFERENT = "different"
NOT_APPROVED = "not_approved"
CLASSES = (MATCHED, MISSING, EXTRA, DIFFERENT, NOT_APPROVED)
CLASS_NAMES = {
    MATCHED: "Matched",
    MISSING: "Missing in Procore",
    EXTRA: "Extra in Procore",
    DIFFERENT: "Different",
    NOT_APPROVED: "Not yet approved",
}
#: The fields compared, as people name them; custom fields are never compared.
COMPARED = {
    "party_id": "worker",
    "date": "date",
    "project_id": "project",
    "sub_job_id": "sub-job",
    "cost_code_id": "cost code",
    "timecard_time_type_id": "time type",
    "hours": "hours",
    "time_in": "clock-in",
    "time_out": "clock-out",
    "lunch_time": "lunch",
}
SLICE = 2000  # values per IN (...) query
#: Time records compared per read of their ledger lines: a chunk's ledger is never held
#: whole, only a batch's.
BATCH = 500


class Sent(NamedTuple):
    """A ledger line as the comparison needs it (what Linx sent, read only for lines that
    differ): a tuple, so a day of them stays small."""

    origin_id: str
    id: int
    time_record_id: int
    kind: str
    procore_id: int | None
    fingerprint: str
    revision: int | None
    work_date: date | None


@dataclass
class Line:
    """One worker, day, hour kind and project/sub-job/cost code, on one side or both."""

    cls: str
    date: date | None
    kind: str
    procore_worker_id: int | None = None
    exaktime_employee_id: int | None = None
    time_record_id: int | None = None
    timecard_entry_id: int | None = None
    exaktime_hours: Decimal | None = None
    procore_hours: Decimal | None = None
    project_id: int | None = None
    sub_job_id: int | None = None
    cost_code_id: int | None = None
    message: str = ""
    #: The export run whose row last tried the record (failed or skipped), and what that
    #: row said was missing (`RowResult.needs`): the report links to both.
    run_id: int | None = None
    needs: dict | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "class": self.cls,
            "date": self.date.isoformat() if self.date else None,
            "kind": self.kind,
            "procore_worker_id": self.procore_worker_id,
            "exaktime_employee_id": self.exaktime_employee_id,
            "time_record_id": self.time_record_id,
            "timecard_entry_id": self.timecard_entry_id,
            "exaktime_hours": _number(self.exaktime_hours),
            "procore_hours": _number(self.procore_hours),
            "project_id": self.project_id,
            "sub_job_id": self.sub_job_id,
            "cost_code_id": self.cost_code_id,
            "message": self.message,
            "run_id": self.run_id,
            "needs": self.needs,
        }


def _number(hours: Decimal | None) -> float | None:
    return None if hours is None else float(hours)


def entry_hours(entry: Held) -> Decimal | None:
    """An entry's hours: its total, or its clock times less lunch (start/stop mode)."""
    if entry.hours is not None:
        return Decimal(entry.hours)
    if entry.time_in and entry.time_out:
        worked = entry.time_out - entry.time_in - timedelta(minutes=entry.lunch_time or 0)
        return Decimal(str(round(worked.total_seconds() / 3600, 4)))
    return None


def planned_hours(fields: dict[str, Any]) -> Decimal:
    if "hours" in fields:
        return Decimal(str(fields["hours"]))
    worked = (
        datetime.fromisoformat(fields["time_out"])
        - datetime.fromisoformat(fields["time_in"])
        - timedelta(minutes=int(fields.get("lunch_time") or 0))
    )
    return Decimal(str(round(worked.total_seconds() / 3600, 4)))


def _same(name: str, wanted: Any, held: Any) -> bool:
    """Equal as values: hours as numbers, clock times as instants, dates as dates."""
    if wanted in (None, "") and held in (None, ""):
        return True
    if wanted is None or held is None:
        return False
    if name == "hours":
        return Decimal(str(wanted)) == Decimal(str(held))
    if name in ("time_in", "time_out"):
        return _moment(wanted) == _moment(held)
    if name == "date":
        return str(wanted)[:10] == str(held)[:10]
    return str(wanted) == str(held)


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def held_fields(entry: Held, names) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in names}


#: Compared even when the plan leaves them out: an entry that gained one differs.
OPTIONAL = ("sub_job_id", "cost_code_id")


def differences(wanted: dict[str, Any], held: dict[str, Any]) -> list[str]:
    """The compared fields on which ``held`` is not what ``wanted`` says."""
    return [
        name
        for name in COMPARED
        if (name in wanted or name in OPTIONAL)
        and not _same(name, wanted.get(name), held.get(name))
    ]


class Comparer:
    """Compares one connection's range a chunk of days at a time; see the module docstring.

    Each line is handed to ``on_line`` as soon as it is made (matched lines are counted
    there, not kept), and a chunk's records are compared `BATCH` at a time, each batch
    with its own ledger lines, so nothing of a chunk is kept once it is done but what
    cannot be settled within it: a time record whose entry Linx created is not among the
    chunk's entries (its entry was moved to another day in Procore, or its record in
    ExakTime), and an entry Linx created whose record is not among the chunk's records.
    Those few wait until every chunk has been read (`finish`), then are compared with
    each other as one more chunk.
    """

    def __init__(
        self, connection: Connection, planner: Planner, on_line, days: tuple[date, date]
    ) -> None:
        self.connection = connection
        self.days = days  # the range reconciled: first and last day
        self.planner = planner
        self.on_line = on_line
        self.waiting_records: list[TimeRecord] = []
        self.waiting_entries = Entries()
        self.waiting_ledger: dict[str, Sent] = {}

    def compare(self, records: list[TimeRecord], entries: list[Held]) -> None:
        """One chunk of days: its time records beside its timecard entries."""
        self.by_origin = Entries()
        for entry in entries:
            self.by_origin.add(entry.origin_id or "", entry)
        # Only the records compared now: an entry of a waiting record waits with it.
        self.seen_records: dict[int | None, TimeRecord] = {}
        ordered = in_order(records)
        for start in range(0, len(ordered), BATCH):
            batch = ordered[start : start + BATCH]
            self.ledger = self._ledger(record_origins(batch))
            here = []
            for record in batch:
                if self.entry_elsewhere(record):
                    self.wait_for(record)
                else:
                    here.append(record)
            self.compare_records(here)
        self.ledger = self._ledger({origin for origin, _ in self.by_origin.left() if origin})
        self.compare_left(carry=True)
        # Nothing of the chunk is kept once it is compared: the next is read without it.
        self.by_origin, self.seen_records, self.ledger, self.missing = Entries(), {}, {}, []

    def finish(self) -> None:
        """The records and entries that waited, compared with each other."""
        self.ledger = self.waiting_ledger
        self.by_origin = self.waiting_entries
        self.seen_records = {}
        self.compare_records(in_order(self.waiting_records))
        self.compare_left(carry=False)

    def compare_records(self, records: list[TimeRecord]) -> None:
        """These records' lines, in this order, then why each missing entry is missing."""
        self.missing: list[Line] = []
        for record in records:
            self.seen_records[record.id] = record
            self.record_lines(record)
        self.explain_missing()

    def compare_left(self, *, carry: bool) -> None:
        """The entries no record took: extra, or (``carry``) waiting for their record."""
        for origin, entry in self.by_origin.left():
            if carry and self.record_elsewhere(entry, origin):
                self.waiting_entries.add(origin, entry)
                self.waiting_ledger[origin] = self.ledger[origin]
            else:
                self.unexpected(entry, origin)

    def entry_elsewhere(self, record: TimeRecord) -> bool:
        """The ledger says Procore holds an entry for this record that is not among the
        chunk's entries: dated another day (or deleted in Procore), so it waits."""
        if record.id is None:
            return False
        for kind in HOURS_FIELD:
            origin = origin_id(record.id, kind)
            sent = self.ledger.get(origin)
            if sent is not None and sent.procore_id and not self.by_origin.of(origin):
                return True
        return False

    def wait_for(self, record: TimeRecord) -> None:
        self.waiting_records.append(record)
        for kind in HOURS_FIELD:
            origin = origin_id(record.id, kind)
            if origin in self.ledger:
                self.waiting_ledger[origin] = self.ledger[origin]

    def record_elsewhere(self, entry: Held, origin: str) -> bool:
        """An entry Linx created for a record that is not among the chunk's records."""
        sent = self.ledger.get(origin) if origin else None
        return (
            sent is not None
            and sent.procore_id == entry.id
            and sent.time_record_id not in self.seen_records
        )

    # --- ExakTime's side ---------------------------------------------------------------

    def record_lines(self, record: TimeRecord) -> None:
        try:
            plan = plan_record(self.planner, record, self.ledger)
        except Unexportable as problem:
            self.unexportable(record, str(problem))
            return
        if plan.entries is None:
            return  # deleted in ExakTime: any entry left for it is extra
        if plan.keep:
            self.kept(record, plan)
            return
        for planned in plan.entries:
            self.expected(planned)

    def expected(self, planned: Planned) -> None:
        fields = planned.fields
        line = self._line(planned.record, planned.kind, fields)
        line.exaktime_hours = planned_hours(fields)
        entry = self.take(planned.origin)
        if entry is None:
            line.cls = MISSING
            self.missing.append(line)
        else:
            self._with_entry(line, entry)
            changed = differences(fields, held_fields(entry, COMPARED))
            if changed:
                line.cls = DIFFERENT
                line.message = self.which_side(planned, entry, changed)
            else:
                line.cls = MATCHED
        self.on_line(line)

    def kept(self, record: TimeRecord, plan: Plan) -> None:
        """Not approved (approved-only export) or still clocked in: not expected yet."""
        for kind, attribute in HOURS_FIELD.items():
            entry = self.take(origin_id(record.id, kind))
            hours = Decimal(getattr(record, attribute) or 0)
            if not plan.reason.startswith("not approved") or (hours <= 0 and entry is None):
                continue  # still clocked in: its hours are not known yet
            line = Line(
                NOT_APPROVED,
                record.work_date,
                kind,
                exaktime_employee_id=record.employee_id,
                time_record_id=record.id,
                exaktime_hours=hours,
                message="Not yet approved in ExakTime; exported once approved.",
            )
            if entry is not None:
                self._with_entry(line, entry)
                line.message = (
                    "Not approved in ExakTime any more, but Procore holds the entry Linx "
                    "exported before."
                )
            self.on_line(line)

    def unexportable(self, record: TimeRecord, problem: str) -> None:
        for kind, attribute in HOURS_FIELD.items():
            entry = self.take(origin_id(record.id, kind)) if record.id is not None else None
            hours = Decimal(getattr(record, attribute) or 0)
            if hours <= 0 and entry is None:
                continue
            line = Line(
                MISSING,
                record.work_date,
                kind,
                exaktime_employee_id=record.employee_id,
                time_record_id=record.id,
                exaktime_hours=hours,
                message=problem,
                **self.linked_parts(record),
            )
            if entry is not None:
                self._with_entry(line, entry)
                line.cls = DIFFERENT
                line.message = f"Procore holds entry {entry.id}, but {problem}"
            else:
                self.missing.append(line)
            self.on_line(line)

    def explain_missing(self) -> None:
        """Why each missing entry is missing: never exported, its row failed or was
        skipped (from the export run that last tried it), or deleted in Procore."""
        last_rows = last_export_rows(
            self.connection, {line.time_record_id for line in self.missing}
        )
        for line in self.missing:
            sent = self.ledger.get(origin_id(line.time_record_id, line.kind))
            row = last_rows.get(str(line.time_record_id))
            if sent is not None and sent.procore_id:
                line.message = self.gone_from_range(sent, line)
            elif row is not None and row.outcome == Outcome.FAILED:
                line.message = f"Its row failed in export run #{row.run_id}: {row.message}"
                line.run_id, line.needs = row.run_id, row.needs
            elif row is not None and row.outcome == Outcome.SKIPPED:
                line.message = f"Skipped by export run #{row.run_id}: {row.message}"
                line.run_id = row.run_id
            elif line.message:  # it cannot be exported (the plan said why)
                line.message = f"Never exported, and it cannot be: {line.message}"
            else:
                line.message = "Never exported: run an export for these dates."

    def gone_from_range(self, sent: Sent, line: Line) -> str:
        """Why an entry Linx created is not among the range's: sent for a date outside it
        (the record was moved into the range in ExakTime since), or gone in Procore."""
        first, last = self.days
        if sent.work_date is not None and not first <= sent.work_date <= last:
            return (
                f"Exported as entry {sent.procore_id} dated {sent.work_date}, outside these "
                f"dates: ExakTime moved the record to {line.date} since. Run an export for "
                "these dates to move the entry."
            )
        return (
            f"Exported as entry {sent.procore_id}, which Procore no longer holds on these "
            "dates (deleted in Procore after export, or moved by hand to another date)."
        )

    # --- Procore's side ----------------------------------------------------------------

    def unexpected(self, entry: Held, origin: str) -> None:
        line = Line(EXTRA, entry.date, self._kind_of(entry, origin))
        self._with_entry(line, entry)
        sent = self.ledger.get(origin) if origin else None
        if sent is None or (sent.procore_id and sent.procore_id != entry.id):
            line.message = (
                "Not created by Linx (entered by hand in Procore): possible double pay."
                if sent is None
                else f"A second entry for time record {sent.time_record_id}'s "
                f"{KIND_NAMES[sent.kind]} hours, not created by Linx: possible double pay."
            )
            self.on_line(line)
            return
        line.time_record_id = sent.time_record_id
        record = self.seen_records.get(sent.time_record_id)
        if record is None:
            line.message = (
                f"Created by Linx for time record {sent.time_record_id}, which ExakTime no "
                "longer has on these dates (deleted, or moved to another day)."
            )
        elif record.is_deleted:
            line.exaktime_employee_id = record.employee_id
            line.message = (
                f"Created by Linx for time record {sent.time_record_id}, which was deleted in "
                "ExakTime."
            )
        else:
            line.exaktime_employee_id = record.employee_id
            line.message = (
                f"Created by Linx for time record {sent.time_record_id}'s "
                f"{KIND_NAMES[sent.kind]} hours, which ExakTime no longer has."
            )
        self.on_line(line)

    def which_side(self, planned: Planned, entry: Held, changed: list[str]) -> str:
        """Name the fields that differ, and which side changed since Linx sent the entry."""
        names = ", ".join(COMPARED[name] for name in changed)
        sent = self.ledger.get(planned.origin)
        fields = sent and ExportLedgerLine.objects.filter(pk=sent.id).values_list("fields")[0][0]
        if not fields:
            return f"{names} differ; Linx has no record of what it sent."
        sides = []
        if differences(fields, held_fields(entry, COMPARED)):
            sides.append("edited in Procore after export")
        if differences(fields, planned.fields):
            sides.append("changed in ExakTime since export (an export sends it)")
        return f"{names} differ: {' and '.join(sides) or 'unknown which side changed'}."

    # --- helpers -----------------------------------------------------------------------

    def linked_parts(self, record: TimeRecord) -> dict[str, int | None]:
        """The worker and project of a record that cannot be planned, as far as they are
        linked, so its line still counts under them."""
        context = self.planner.context
        employee = context["employees"].get(record.employee_id)
        location = context["sub_jobs"].get(record.job_id)
        if location is not None:
            project = location.project_id
        else:
            found = context["projects"].get(record.job_id)
            project = found.procore_id if found is not None else None
        return {
            "procore_worker_id": employee.procore_id if employee and not employee.ignored else None,
            "project_id": project,
        }

    def take(self, origin: str) -> Held | None:
        """The Procore entry for ``origin``: the one the ledger names first, if several."""
        sent = self.ledger.get(origin)
        return self.by_origin.take(origin, sent.procore_id if sent is not None else None)

    def _line(self, record: TimeRecord, kind: str, fields: dict[str, Any]) -> Line:
        return Line(
            "",
            record.work_date,
            kind,
            procore_worker_id=fields.get("party_id"),
            exaktime_employee_id=record.employee_id,
            time_record_id=record.id,
            project_id=fields.get("project_id"),
            sub_job_id=fields.get("sub_job_id"),
            cost_code_id=fields.get("cost_code_id"),
        )

    @staticmethod
    def _with_entry(line: Line, entry: Held) -> None:
        line.timecard_entry_id = entry.id
        line.procore_hours = entry_hours(entry)
        line.procore_worker_id = line.procore_worker_id or entry.party_id
        line.project_id = line.project_id or entry.project_id
        line.sub_job_id = line.sub_job_id or entry.sub_job_id
        line.cost_code_id = line.cost_code_id or entry.cost_code_id
        line.date = line.date or entry.date

    def _kind_of(self, entry: Held, origin: str) -> str:
        if origin and origin.rsplit("-", 1)[-1] in HOURS_FIELD:
            return origin.rsplit("-", 1)[-1]
        time_types = self.planner.context["time_types"]
        for kind, type_id in time_types.items():
            if type_id == entry.timecard_time_type_id:
                return kind
        return "regular"

    def _ledger(self, origins: set[str]) -> dict[str, Sent]:
        """The ledger lines of these origins."""
        origins_list = sorted(origins)
        ledger = {}
        for start in range(0, len(origins_list), SLICE):
            rows = ExportLedgerLine.objects.filter(
                connection=self.connection, origin_id__in=origins_list[start : start + SLICE]
            ).values_list(*Sent._fields)
            ledger.update((row[0], Sent(*row)) for row in rows)
        return ledger


def in_order(records: list[TimeRecord]) -> list[TimeRecord]:
    """Records in the order their lines are reported: by day, then by id."""
    return sorted(records, key=lambda r: (r.work_date or date.min, r.id or 0))


def record_origins(records: list[TimeRecord]) -> set[str]:
    """The origins of the entries these records may have."""
    return {origin_id(r.id, kind) for r in records if r.id for kind in HOURS_FIELD}


def last_export_rows(connection: Connection, record_ids: set[int | None]) -> dict[str, RowResult]:
    """The latest export row (not a dry run) of each of these time records, by id text."""
    ids = sorted(str(i) for i in record_ids if i is not None)
    found: dict[str, RowResult] = {}
    for start in range(0, len(ids), SLICE):
        rows = RowResult.objects.filter(
            run__connection=connection,
            run__kind=RunKind.EXPORT,
            run__dry_run=False,
            entity_type=EntityType.TIME_RECORD,
            exaktime_id__in=ids[start : start + SLICE],
        ).order_by("-id")
        for row in rows:
            found.setdefault(row.exaktime_id, row)
    return found
