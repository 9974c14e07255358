"""Export (AccountLinx): ExakTime time records → Procore timecard entries, exactly once.

Each time record becomes one timecard entry per hour kind that has hours (regular, OT1,
OT2), booked as the time type the connection maps that kind to. Everything an entry
needs is resolved and checked before anything is sent; a record that cannot be exported
fails on its own row with a message that names what to fix.

**Exactly once.** Procore does not refuse a second entry with the same `origin_id`, so
Linx keeps its own ledger: an `EntityMapping` of type `time_entry` per (time record,
hour kind), keyed by the entry's `origin_id`. It is written *before* the create is sent
(pending, no Procore id) and completed with the entry's id after. A pending line means
the outcome of a create is unknown (a lost answer, a killed worker): before creating
anything, a run lists the Procore entries of those dates and workers and matches their
`origin_id`: found, the line is completed; not found, it is safe to create. Then:
unchanged → nothing sent; changed → PATCH; hours gone or record deleted → DELETE.

**Healing within the run.** A write whose outcome is unknown (Procore answered 5xx, or
the answer was lost) is never sent again blindly. A create is looked for by `origin_id`
twice, a short pause apart (`LINX_RECHECK_PAUSE_MS`), and sent again only when both
readings miss it; an update is re-read and sent again only when the entry does not hold
the new values yet; a delete is re-read, and gone is done. At most `WRITE_ATTEMPTS` sends
in all; then the row fails as one a re-run can fix.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import ExakTimeAuthError, ExakTimeError
from integrations.exaktime.records import TimeRecord
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreNotFound,
    ProcoreOutcomeUnknown,
    ProcoreRateLimited,
    ProcoreUnavailable,
    ProcoreValidationError,
)
from integrations.procore.records import TimecardEntry
from integrations.values import parse_iso_date
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    Outcome,
    SyncRun,
    TimeEntryMode,
)
from linx.sync import rules
from linx.sync.labels import exaktime_name
from linx.sync.rules import HOUR_KINDS, HOURS_FIELD, KIND_NAMES, MAX_HOURS
from linx.sync.runs import Row, RunAborted, RunRecorder

log = logging.getLogger(__name__)

BULK = 100  # the contract's largest bulk create
LEDGER_SLICE = 2000  # origin ids per query when reading the ledger
RERUN = "then re-run the failed rows"
#: Sends of one write whose outcome stays unknown, each after Procore was checked,
#: before its row fails (a re-run, or the next export, settles it then).
WRITE_ATTEMPTS = 3


def origin_id(record_id: int, kind: str) -> str:
    """What ties a Procore entry to its source: `<time record id>-<kind>`."""
    return f"{record_id}-{kind}"


def line_data(plan: Planned, state: str) -> dict[str, Any]:
    """What a ledger line keeps: its state, and the date and worker to look it up by."""
    return {
        "state": state,
        "date": plan.fields["date"],
        "party_id": plan.fields["party_id"],
        "fields": rules.json_ready(plan.fields),
    }


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


class Unexportable(Exception):
    """A time record that cannot become entries; the message says what to fix."""


@dataclass
class Planned:
    """One entry a time record should have in Procore."""

    record: TimeRecord
    kind: str
    fields: dict[str, Any]

    @property
    def origin(self) -> str:
        return origin_id(self.record.id, self.kind)

    @property
    def fingerprint(self) -> str:
        return rules.fingerprint(self.fields)


@dataclass
class RecordResult:
    """What happened to one time record's entries, gathered into its row."""

    record: TimeRecord
    outcomes: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    retryable: bool = False
    entry_ids: list[int] = field(default_factory=list)
    waiting: int = 0  # creates queued for the bulk batches, not yet answered
    reason: str = ""  # why nothing was sent, for a skipped row


@dataclass
class Plan:
    """What a time record should have in Procore.

    ``entries`` None: none any more (deleted in ExakTime). ``keep``: leave whatever was
    exported before as it is (``reason`` says why, e.g. not approved, still clocked in).
    """

    entries: list[Planned] | None
    keep: bool = False
    reason: str = ""


class Exporter:
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
        self.connection = connection
        self.recorder = recorder
        self.procore = procore
        self.exaktime = exaktime
        self.dry_run = run.dry_run
        parameters = run.parameters
        try:
            self.start_date = date.fromisoformat(parameters["from"])
            self.end_date = date.fromisoformat(parameters["to"])
        except (KeyError, TypeError, ValueError):
            raise RunAborted(
                "An export needs a date range: --from and --to as YYYY-MM-DD."
            ) from None
        if self.end_date < self.start_date:
            raise RunAborted(
                f"The export's range ends ({self.end_date}) before it starts ({self.start_date})."
            )
        self.approved_only = parameters.get("approved_only", connection.export_approved_only)
        self.employees = set(parameters.get("employees") or [])
        self.only = set(parameters.get("only_time_records") or []) or None
        self._project_codes: dict[int, dict[str, dict]] = {}
        self._sub_jobs: dict[int, set[int]] = {}
        self._described: dict[tuple[str, int], str] = {}

    # --- entry point ---------------------------------------------------------------

    def run(self) -> None:
        self.context = self.load_context()
        records = self.read_records()
        self.recorder.expect(EntityType.TIME_RECORD, len(records))
        ledger = self.load_ledger(records)
        if not self.dry_run:
            self.reconcile(ledger)
        to_create: list[tuple[Planned, RecordResult]] = []
        for record in records:
            result = RecordResult(record)
            try:
                self.apply(self.plan(record), ledger, result, to_create)
            except Unexportable as problem:
                result.failures.append(str(problem))
            if not result.waiting:
                self.finish_record(result)
        self.create(to_create)

    # --- reading -------------------------------------------------------------------

    def load_context(self) -> dict[str, Any]:
        """The mappings and reference data every record is resolved against."""
        mappings = EntityMapping.objects.filter(connection=self.connection)

        def by_exaktime(kind: str) -> dict[int, EntityMapping]:
            return {
                int(m.exaktime_id): m for m in mappings.filter(entity_type=kind) if m.exaktime_id
            }

        time_types = {
            (m.data or {}).get("abbreviation"): m.procore_id
            for m in mappings.filter(entity_type=EntityType.TIME_TYPE)
        }
        kinds = {}
        for kind, attribute in HOUR_KINDS.items():
            abbreviation = getattr(self.connection, attribute)
            if abbreviation not in time_types:
                raise RunAborted(
                    f"Procore has no timecard time type {abbreviation!r} for {KIND_NAMES[kind]} "
                    f"hours. Choose one Procore has (known: "
                    f"{', '.join(sorted(a for a in time_types if a)) or 'none: run the pre-import'}"
                    f") with `linx_connection set {self.connection.name} --time-type "
                    f"{kind}=ABBR` or on the connection's page, then export again."
                )
            kinds[kind] = time_types[abbreviation]
        custom_fields = {
            str(f.exaktime_id): f
            for f in self.connection.selected_custom_fields()
            if f.exaktime_id is not None
        }
        projects = by_exaktime(EntityType.LOCATION)
        return {
            "employees": by_exaktime(EntityType.EMPLOYEE),
            "projects": projects,
            "projects_by_procore_id": {m.procore_id: m for m in projects.values()},
            "sub_jobs": by_exaktime(EntityType.SUB_JOB),
            "cost_codes": by_exaktime(EntityType.COST_CODE),
            "time_types": kinds,
            "custom_fields": custom_fields,
        }

    def read_records(self) -> list[TimeRecord]:
        changed: list[bool] = []
        try:
            records = list(
                self.exaktime.time_records(
                    self.start_date, self.end_date, on_changed=lambda: changed.append(True)
                )
            )
            if changed:
                # The list changed while its pages were read (a punch added, or moved to
                # another day): the record at the seam of two pages may have gone unseen,
                # and these dates may never be exported again. A second reading finds it.
                records += self.exaktime.time_records(self.start_date, self.end_date)
        except ExakTimeAuthError as error:
            raise RunAborted(error.message) from error
        except ExakTimeError as error:
            raise RunAborted(
                f"Linx could not read ExakTime's time records: {error.message}"
            ) from error
        # By id: a list that changes while its pages are read (a punch added that sorts
        # before the others) shows the last record of a page again on the next one. Its
        # entries must be planned once; the later reading is the fresher one.
        kept: dict[int, TimeRecord] = {}
        for record in records:
            if self.only is not None and record.id not in self.only:
                continue
            if self.employees and record.employee_id not in self.employees:
                continue
            kept[record.id] = record
        return list(kept.values())

    def load_ledger(self, records: list[TimeRecord]) -> dict[str, EntityMapping]:
        """This connection's entry lines for these records, by origin_id."""
        origins = [origin_id(r.id, kind) for r in records for kind in HOURS_FIELD]
        ledger = {}
        # In slices: SQLite builds cap how many values one IN (...) may hold.
        for start in range(0, len(origins), LEDGER_SLICE):
            ledger.update(
                (m.exaktime_id, m)
                for m in EntityMapping.objects.filter(
                    connection=self.connection,
                    entity_type=EntityType.TIME_ENTRY,
                    exaktime_id__in=origins[start : start + LEDGER_SLICE],
                )
            )
        return ledger

    # --- reconciling unknown outcomes ----------------------------------------------

    def reconcile(self, ledger: dict[str, EntityMapping]) -> None:
        """Settle pending lines from what Procore actually holds (by origin_id)."""
        pending = [m for m in ledger.values() if m.procore_id is None]
        if not pending:
            return
        dates = [date.fromisoformat(m.data["date"]) for m in pending]
        parties = sorted({m.data["party_id"] for m in pending})
        try:
            found = self._entries_by_origin(min(dates), max(dates), parties)
            if any(m.exaktime_id not in found for m in pending):
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
        except (ProcoreUnavailable, ProcoreRateLimited) as error:
            raise RunAborted(
                f"Linx must check what Procore already holds before exporting again, and "
                f"Procore did not answer: {error.message} Nothing was sent."
            ) from error
        except ProcoreError as error:
            raise RunAborted(
                f"Linx could not check Procore's timecard entries: {error.message}"
            ) from error
        for mapping in pending:
            entries = found.get(mapping.exaktime_id, [])
            if entries:
                keep, *extra = sorted(entries, key=lambda e: e.id)
                for duplicate in extra:  # another writer doubled it: Linx's origin, Linx's to fix
                    where = ([duplicate.date and duplicate.date.isoformat()], [duplicate.party_id])
                    self._delete_entry(duplicate.id, *where)
                mapping.procore_id = keep.id
                mapping.data = {**mapping.data, "state": "done"}
                mapping.synced_at = timezone.now()
                mapping.save(update_fields=["procore_id", "data", "synced_at"])
            else:
                mapping.delete()
                ledger.pop(mapping.exaktime_id, None)

    def pause(self) -> None:
        time.sleep(settings.LINX_RECHECK_PAUSE_MS / 1000)

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

    # --- planning ------------------------------------------------------------------

    def plan(self, record: TimeRecord) -> Plan:
        """The entries ``record`` should have in Procore, resolved and checked."""
        if record.problems:
            what = "A time record" if record.id is None else f"Time record {record.id}"
            raise Unexportable(
                f"{what} cannot be exported: {'; '.join(record.problems)}. Correct it in "
                f"ExakTime, {RERUN}."
            )
        if record.is_deleted:
            return Plan(None, reason="deleted in ExakTime and never exported")
        if self.approved_only and not record.is_approved:
            return Plan([], keep=True, reason="not approved in ExakTime (approved records only)")
        if record.time_out is None:
            return Plan([], keep=True, reason="still clocked in; exported once clocked out")
        if record.time_in and record.time_out < record.time_in:
            raise Unexportable(
                f"Time record {record.id} clocks out ({record.time_out:%Y-%m-%d %H:%M}) before it "
                f"clocks in ({record.time_in:%Y-%m-%d %H:%M}). Correct it in ExakTime, {RERUN}."
            )
        base = self.resolve(record)
        if self.connection.time_entry_mode == TimeEntryMode.START_STOP:
            if record.time_in is None:
                raise Unexportable(
                    f"Time record {record.id} has no clock-in time. Correct it in ExakTime, {RERUN}."
                )
            lunch = int(record.lunch_minutes or 0)
            if lunch < 0:
                raise Unexportable(
                    f"Time record {record.id} has a lunch of {lunch} minutes; a lunch cannot be "
                    f"negative. Correct it in ExakTime, {RERUN}."
                )
            worked = record.time_out - record.time_in - timedelta(minutes=lunch)
            if worked > timedelta(hours=int(MAX_HOURS)):
                raise Unexportable(
                    f"Time record {record.id} runs {worked.total_seconds() / 3600:g} hours, from "
                    f"{record.time_in:%Y-%m-%d %H:%M} to {record.time_out:%Y-%m-%d %H:%M}; a "
                    f"Procore timecard entry holds at most 24. Correct it in ExakTime, {RERUN}."
                )
            fields = {
                **base,
                "time_in": record.time_in.isoformat(),
                "time_out": record.time_out.isoformat(),
                "lunch_time": lunch,
                "timecard_time_type_id": self.context["time_types"]["regular"],
            }
            return Plan([Planned(record, "regular", self._with_origin(fields, record, "regular"))])
        hours_of = {kind: Decimal(getattr(record, a) or 0) for kind, a in HOURS_FIELD.items()}
        if negative := [f"{h} {KIND_NAMES[k]} hours" for k, h in hours_of.items() if h < 0]:
            # Never left out as if it were zero: the row says what ExakTime holds.
            raise Unexportable(
                f"Time record {record.id} has {' and '.join(negative)} on {record.work_date}; "
                f"hours cannot be negative. Correct it in ExakTime, {RERUN}."
            )
        planned = []
        for kind, hours in hours_of.items():
            if hours <= 0:
                continue
            if hours > MAX_HOURS:
                raise Unexportable(
                    f"Time record {record.id} has {hours} {KIND_NAMES[kind]} hours on "
                    f"{record.work_date}; a Procore timecard entry holds at most 24. Correct it "
                    f"in ExakTime, {RERUN}."
                )
            fields = {
                **base,
                "hours": str(hours),
                "timecard_time_type_id": self.context["time_types"][kind],
            }
            planned.append(Planned(record, kind, self._with_origin(fields, record, kind)))
        total = sum(hours_of.values())
        if total > MAX_HOURS:
            split = ", ".join(f"{KIND_NAMES[k]} {h}" for k, h in hours_of.items())
            raise Unexportable(
                f"Time record {record.id} has {total} hours on {record.work_date} ({split}); "
                f"one time record holds at most 24. Correct it in ExakTime, {RERUN}."
            )
        return Plan(planned, reason="no hours to export")

    def _with_origin(self, fields: dict[str, Any], record: TimeRecord, kind: str) -> dict[str, Any]:
        return {
            **fields,
            "origin_id": origin_id(record.id, kind),
            "origin_data": str(record.revision),
        }

    def resolve(self, record: TimeRecord) -> dict[str, Any]:
        """Project, sub-job, worker, cost code, classification and custom fields, checked."""
        context = self.context
        employee = context["employees"].get(record.employee_id)
        if employee is None or employee.ignored:
            raise Unexportable(
                f"Time record {record.id}: ExakTime employee "
                f"{self.describe('employee', record.employee_id)} is not linked to a Procore "
                f"worker. Import employees (or link the employee on the Mappings page), {RERUN}."
            )
        location = context["sub_jobs"].get(record.job_id)
        sub_job_id = None
        if location is not None:
            sub_job_id = location.procore_id
            project_id = location.data.get("project")
        else:
            location = context["projects"].get(record.job_id)
            if location is None:
                raise Unexportable(
                    f"Time record {record.id}: ExakTime location "
                    f"{self.describe('location', record.job_id)} is not linked to a Procore "
                    f"project or sub-job. Import locations (or link it on the Mappings page), "
                    f"{RERUN}."
                )
            project_id = location.procore_id
        project_label = self._project_label(project_id)
        if sub_job_id is not None and sub_job_id not in self.sub_jobs_of(project_id):
            raise Unexportable(
                f"Time record {record.id}: sub-job {location.name!r} is not set up (or not active) on "
                f"Procore project {project_label}. Set it up under the project's Work Breakdown "
                f"Structure, {RERUN}."
            )
        fields: dict[str, Any] = {
            "project_id": project_id,
            "party_id": employee.procore_id,
            "date": record.work_date.isoformat(),
            "description": f"ExakTime time record {record.id}",
            "billable": False,
        }
        if sub_job_id is not None:
            fields["sub_job_id"] = sub_job_id
        if record.cost_code_id is not None:
            fields["cost_code_id"] = self.project_cost_code(record, project_id, project_label)
        classification = employee.data.get("work_classification_id")
        if classification:
            fields["work_classification_id"] = classification
        fields.update(self.custom_values(record))
        return fields

    def describe(self, noun: str, exaktime_id: int | None) -> str:
        """An ExakTime record as a person knows it ("9001 Pat Doe (id 100002)"), read once."""
        key = (noun, exaktime_id)
        if key not in self._described:
            try:
                found = getattr(self.exaktime, f"get_{noun}")(exaktime_id)
                label = " ".join(
                    str(part) for part in (found.identifier, exaktime_name(found)) if part
                )
                self._described[key] = f"{label} (id {exaktime_id})"
            except ExakTimeError:
                self._described[key] = f"id {exaktime_id}"
        return self._described[key]

    def project_cost_code(self, record: TimeRecord, project_id: int, project_label: str) -> int:
        mapping = self.context["cost_codes"].get(record.cost_code_id)
        if mapping is None:
            raise Unexportable(
                f"Time record {record.id}: ExakTime cost code "
                f"{self.describe('cost_code', record.cost_code_id)} is not linked to a Procore "
                f"cost code. Import cost codes (or link it on the Mappings page), {RERUN}."
            )
        codes = self.codes_of(project_id)
        found = codes["by_standard"].get(mapping.procore_id)
        if found is None:
            found = codes["by_full_code"].get(mapping.data.get("full_code"))
        if found is None:
            label = mapping.data.get("full_code") or mapping.name
            raise Unexportable(
                f"Cost code {label} is not set up on Procore project {project_label}. Add it to "
                f"the project's budget codes, {RERUN}."
            )
        return found

    def custom_values(self, record: TimeRecord) -> dict[str, Any]:
        """The selected custom fields' values in Procore's types (checked, never altered)."""
        values = {}
        for exaktime_id, value in (record.custom_fields or {}).items():
            definition = self.context["custom_fields"].get(str(exaktime_id))
            if definition is None or value in (None, ""):
                continue
            try:
                converted = rules.custom_value(definition.data_type, value, definition.options)
            except rules.Refused as refused:
                raise Unexportable(
                    f"Time record {record.id}: custom field {definition.label!r} "
                    f"{refused.problem}. {refused.fix} {RERUN}."
                ) from None
            values[f"custom_field_{definition.procore_id}"] = converted
        return values

    # --- Procore reference, cached per run -----------------------------------------

    def codes_of(self, project_id: int) -> dict[str, dict]:
        if project_id not in self._project_codes:
            by_standard, by_full = {}, {}
            for code in self._procore_list(
                f"the cost codes of project {project_id}",
                lambda: self.procore.project_cost_codes(project_id),
            ):
                if code.is_deleted:
                    continue  # a deleted code counts as not set up
                if code.standard_cost_code_id is not None:
                    by_standard[code.standard_cost_code_id] = code.id
                by_full.setdefault(code.full_code, code.id)
            self._project_codes[project_id] = {"by_standard": by_standard, "by_full_code": by_full}
        return self._project_codes[project_id]

    def sub_jobs_of(self, project_id: int) -> set[int]:
        if project_id not in self._sub_jobs:
            self._sub_jobs[project_id] = {
                s.id
                for s in self._procore_list(
                    f"the sub-jobs of project {project_id}",
                    lambda: self.procore.sub_jobs(project_id),
                )
                if s.active
            }
        return self._sub_jobs[project_id]

    def _procore_list(self, what: str, fetch) -> list:
        try:
            return list(fetch())
        except ProcoreAuthError as error:
            raise RunAborted(error.message) from error
        except (ProcoreUnavailable, ProcoreRateLimited) as error:
            raise RunAborted(
                f"Procore did not answer while Linx read {what}: {error.message} Nothing more "
                "was sent; re-run the export later."
            ) from error
        except ProcoreError as error:
            raise Unexportable(
                f"Linx could not read {what} from Procore: {error.message}"
            ) from error

    def _project_label(self, project_id: int) -> str:
        mapping = self.context["projects_by_procore_id"].get(project_id)
        if mapping is None:
            return str(project_id)
        number = (mapping.data.get("fields") or {}).get("identifier")
        return f"{number} {mapping.name!r}" if number else repr(mapping.name)

    # --- applying ------------------------------------------------------------------

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
                    self.delete(line, result, kind)
            elif line is None:
                to_create.append((entry, result))
                result.waiting += 1
            elif line.fingerprint == entry.fingerprint:
                result.outcomes.append(Outcome.UNCHANGED)
                result.entry_ids.append(line.procore_id)
            else:
                self.update(line, entry, result)
        if not result.outcomes and not result.waiting:
            result.reason = plan.reason

    def update(self, line: EntityMapping, plan: Planned, result: RecordResult) -> None:
        before = (line.data or {}).get("fields") or {}
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
            self._failed(result, error)
            return
        self._record_line(line, plan, line.procore_id)
        result.outcomes.append(Outcome.UPDATED)
        result.changes[plan.kind] = diff
        result.entry_ids.append(line.procore_id)

    def _send_update(self, line: EntityMapping, plan: Planned) -> None:
        """PATCH an entry. After an unknown outcome the entry is re-read: holding the new
        values, it is done; else it is patched again, up to WRITE_ATTEMPTS sends in all
        (then ProcoreOutcomeUnknown is raised)."""
        before = line.data or {}
        where = (
            [before.get("date"), plan.fields["date"]],
            [before.get("party_id"), plan.fields["party_id"]],
        )
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                self.procore.update_timecard_entry(line.procore_id, self._patch(plan.fields))
                return
            except ProcoreOutcomeUnknown as unknown:
                if attempt == WRITE_ATTEMPTS:
                    raise
                self.pause()
                current = self._reread(line.procore_id, *where, unknown)
                if current is not None and holds(current, plan.fields):
                    return
                log.info(
                    "Timecard entry %s does not hold its update; sending it again", line.procore_id
                )

    def _reread(self, entry_id: int, dates, parties, unknown: ProcoreError) -> TimecardEntry | None:
        """The entry as Procore lists it now (None: not listed), looked for on these dates
        and workers; a list that cannot be read leaves the write's outcome ``unknown``."""
        days = [date.fromisoformat(d) for d in dates if d]
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

    def _patch(self, fields: dict[str, Any]) -> dict[str, Any]:
        # The project is fixed by the entry's URL in Procore's model; the rest is patched.
        return {k: v for k, v in fields.items() if k != "project_id"}

    def delete(self, line: EntityMapping, result: RecordResult, kind: str) -> None:
        if self.dry_run:
            result.outcomes.append(Outcome.DELETED)
            result.changes[kind] = {"entry": [line.procore_id, None]}
            return
        if line.procore_id is not None:
            where = ([(line.data or {}).get("date")], [(line.data or {}).get("party_id")])
            try:
                self._delete_entry(line.procore_id, *where)
            except ProcoreError as error:
                self._failed(result, error)
                return
        line.delete()
        result.outcomes.append(Outcome.DELETED)
        result.changes[kind] = {"entry": [line.procore_id, None]}

    def _delete_entry(self, entry_id: int, dates, parties) -> None:
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
            if self._reread(entry_id, dates, parties, unknown) is not None:
                return False
        return True

    def create(self, to_create: list[tuple[Planned, RecordResult]]) -> None:
        """Create the new entries in bulk batches; a refused batch falls back so only bad ones fail."""
        if self.dry_run:
            for plan, result in to_create:
                self._created(plan, result, None)
            return
        for start in range(0, len(to_create), BULK):
            self._create_batch(to_create[start : start + BULK])

    def _created(self, plan: Planned, result: RecordResult, entry_id: int | None) -> None:
        result.outcomes.append(Outcome.CREATED)
        result.changes[plan.kind] = rules.changes({}, plan.fields)
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
            self.finish_record(result)

    def _create_batch(self, batch: list[tuple[Planned, RecordResult]], attempt: int = 1) -> None:
        lines = self._write_intent(batch)
        try:
            created = self.procore.create_timecard_entries([plan.fields for plan, _ in batch])
        except ProcoreValidationError as error:
            bad = {index for index in error.index_errors if 0 <= index < len(batch)}
            if not bad:
                # No per-entry detail: send one by one so only the bad entries fail.
                self._forget(lines)
                for item in batch:
                    self._create_one(item)
                return
            for index in sorted(bad):
                plan, result = batch[index]
                lines[index].delete()
                self._not_created(
                    result,
                    f"Procore refused the {KIND_NAMES[plan.kind]} entry: "
                    + " ".join(error.index_errors[index]),
                    retryable=False,
                )
            self._forget([line for i, line in enumerate(lines) if i not in bad])
            rest = [item for i, item in enumerate(batch) if i not in bad]
            if rest:
                self._create_batch(rest, attempt)
            return
        except ProcoreOutcomeUnknown:
            self._settle_unknown(batch, lines, attempt, self._create_batch)
            return
        except (ProcoreUnavailable, ProcoreRateLimited, ProcoreAuthError) as error:
            self._forget(lines)  # refused before anything was created
            if isinstance(error, ProcoreAuthError):
                raise RunAborted(error.message) from error
            for _, result in batch:
                self._not_created(result, error.message, retryable=True)
            return
        except ProcoreError as error:
            self._forget(lines)
            for _, result in batch:
                self._not_created(result, error.message, retryable=not error.permanent)
            return
        with transaction.atomic():  # one commit for the batch's answers, not one per entry
            for (plan, _), line, entry in zip(batch, lines, created, strict=True):
                self._record_line(line, plan, entry.id)
        for (plan, result), entry in zip(batch, created, strict=True):
            self._created(plan, result, entry.id)

    def _create_one(self, item: tuple[Planned, RecordResult], attempt: int = 1) -> None:
        plan, result = item
        (line,) = self._write_intent([item])
        try:
            entry = self.procore.create_timecard_entry(plan.fields["project_id"], plan.fields)
        except ProcoreOutcomeUnknown:
            self._settle_unknown([item], [line], attempt, self._create_each)
            return
        except ProcoreError as error:
            line.delete()
            self._not_created(result, error.message, retryable=not error.permanent)
            return
        self._record_line(line, plan, entry.id)
        self._created(plan, result, entry.id)

    def _create_each(self, items: list[tuple[Planned, RecordResult]], attempt: int) -> None:
        for item in items:
            self._create_one(item, attempt)

    def _settle_unknown(self, batch, lines: list[EntityMapping], attempt: int, send) -> None:
        """A create whose outcome is unknown: look in Procore before deciding anything.

        Found: it was created. Missing from two readings a pause apart: it never landed,
        so ``send`` sends it again, until WRITE_ATTEMPTS sends; then its row fails.
        """
        ledger = {line.exaktime_id: line for line in lines}
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
                self._record_line(line, plan, line.procore_id)
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

    # --- the ledger ----------------------------------------------------------------

    def _write_intent(self, batch) -> list[EntityMapping]:
        """Ledger lines written before the create is sent: a crash leaves them pending."""
        # One INSERT for the batch, committed before the create is sent.
        with transaction.atomic():
            return EntityMapping.objects.bulk_create(
                EntityMapping(
                    connection=self.connection,
                    entity_type=EntityType.TIME_ENTRY,
                    exaktime_id=plan.origin,
                    name=f"time record {plan.record.id} {KIND_NAMES[plan.kind]}",
                    fingerprint=plan.fingerprint,
                    revision=plan.record.revision,
                    data=line_data(plan, "pending"),
                )
                for plan, _ in batch
            )

    def _forget(self, lines: Iterable[EntityMapping]) -> None:
        EntityMapping.objects.filter(pk__in=[line.pk for line in lines]).delete()

    def _record_line(self, line: EntityMapping, plan: Planned, entry_id: int) -> None:
        line.procore_id = entry_id
        line.fingerprint = plan.fingerprint
        line.revision = plan.record.revision
        line.data = line_data(plan, "done")
        line.synced_at = timezone.now()
        line.save(update_fields=["procore_id", "fingerprint", "revision", "data", "synced_at"])

    # --- rows ----------------------------------------------------------------------

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
                name=f"{record.work_date} employee {record.employee_id}",
                changes=result.changes,
                message=message,
                retryable=result.retryable,
            )
        )

    def _failed(self, result: RecordResult, error: ProcoreError) -> None:
        result.failures.append(error.message)
        result.retryable = result.retryable or not error.permanent
