"""Planning an export: which timecard entries each ExakTime time record should have.

Everything an entry needs (worker, project or sub-job, cost code, classification, time
type, custom field values) is resolved against the connection's mappings and checked
before anything is sent; a record that cannot be exported raises `Unexportable` with a
message that names what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import ExakTimeError
from integrations.exaktime.records import TimeRecord
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreError,
)
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    ReferenceKind,
    SnapshotKind,
    TimeEntryMode,
)
from linx.sync import rules, snapshot
from linx.sync.labels import exaktime_name
from linx.sync.reference import ProjectLists
from linx.sync.rules import HOUR_KINDS, HOURS_FIELD, KIND_NAMES, MAX_HOURS
from linx.sync.runs import RunAborted, stop_unless_only_this_list

RERUN = "then re-run the failed rows"
#: The mappings a run's records are resolved against, and the columns read of them.
CONTEXT_KINDS = (
    EntityType.EMPLOYEE,
    EntityType.LOCATION,
    EntityType.SUB_JOB,
    EntityType.COST_CODE,
    EntityType.TIME_TYPE,
)
CONTEXT_COLUMNS = ("entity_type", "procore_id", "exaktime_id", "name", "data", "ignored")
#: The snapshot collection `Planner.describe` finds each kind of ExakTime record in.
DESCRIBED = {
    "employee": SnapshotKind.EMPLOYEE,
    "location": SnapshotKind.LOCATION,
    "cost_code": SnapshotKind.COST_CODE,
}


def origin_id(record_id: int, kind: str) -> str:
    """What ties a Procore entry to its source: `<time record id>-<kind>`."""
    return f"{record_id}-{kind}"


class Unexportable(Exception):
    """A time record that cannot become entries; the message says what to fix.

    ``needs`` names the record a missing link is about, so a page can lead to it in
    Mappings (see `RowResult.needs`); the message stays plain text.
    """

    def __init__(self, message: str, *, needs: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.needs = needs


@dataclass
class Planned:
    """One entry a time record should have in Procore."""

    record: TimeRecord
    kind: str
    fields: dict[str, Any]

    @property
    def origin(self) -> str:
        return origin_id(self.record.id, self.kind)

    @cached_property
    def fingerprint(self) -> str:
        # Once: a no-change export compares it with the ledger's twice, and a create
        # keeps it. ``fields`` are not changed after planning (a new plan is made instead).
        return rules.digest(self.canonical)

    @cached_property
    def canonical(self) -> str:
        """The fields as JSON text (`rules.canonical`): hashed for the fingerprint, and
        stored as they are as a new ledger line's fields, encoded once."""
        return rules.canonical(self.fields)


@dataclass
class Plan:
    """What a time record should have in Procore.

    ``entries`` None: none any more (deleted in ExakTime). ``keep``: leave whatever was
    exported before as it is (``reason`` says why, e.g. not approved, still clocked in).
    """

    entries: list[Planned] | None
    keep: bool = False
    reason: str = ""


class Planner:
    """Resolves and checks one export's time records against the connection's mappings
    and its kept Procore project lists (`reference.ProjectLists`)."""

    def __init__(
        self,
        connection: Connection,
        procore: ProcoreClient,
        exaktime: ExakTimeClient,
        *,
        approved_only: bool,
        known: snapshot.Known | None = None,
    ) -> None:
        self.connection = connection
        self.procore = procore
        self.exaktime = exaktime
        self.approved_only = approved_only
        self.context = self.load_context()
        self.lists = ProjectLists(connection, procore)
        # True while planning a record already exported at its current revision: its
        # project's lists are taken as kept, of any age (see `reference`).
        self._any_age = False
        self._described: dict[tuple[str, int], str] = {}
        # The snapshot's names for records Linx has not linked, read once, when needed.
        self.known = known or snapshot.Known(connection.pk)

    def load_context(self) -> dict[str, Any]:
        """The mappings and reference data every record is resolved against."""
        of_kind: dict[str, list[EntityMapping]] = {kind: [] for kind in CONTEXT_KINDS}
        # One query, and only the columns resolving and naming read (a big connection has
        # thousands of mappings; their times were most of loading them).
        for mapping in EntityMapping.objects.filter(
            connection=self.connection, entity_type__in=CONTEXT_KINDS
        ).only(*CONTEXT_COLUMNS):
            of_kind[mapping.entity_type].append(mapping)

        def by_exaktime(kind: str) -> dict[int, EntityMapping]:
            return {int(m.exaktime_id): m for m in of_kind[kind] if m.exaktime_id}

        time_types = {m.abbreviation: m.procore_id for m in of_kind[EntityType.TIME_TYPE]}
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

    # --- naming --------------------------------------------------------------------

    def name_of(self, record: TimeRecord) -> str:
        """A time record as a person reads it: "Alex Rivera, 2026-11-25 · PJA / SJB ·
        03-3010 Concrete Labor" (what Linx knows of it; an unlinked part by its ExakTime id,
        an unlinked employee by the snapshot's name too: "Taylor Brooks (ExakTime 100002)")."""
        context = self.context
        employee = context["employees"].get(record.employee_id)
        who = employee.name if employee and employee.name else self._unlinked(record.employee_id)
        parts = [f"{who}, {record.work_date}"]
        sub_job = context["sub_jobs"].get(record.job_id)
        if sub_job is not None:
            project = context["projects_by_procore_id"].get(sub_job.project_id)
            parts.append(" / ".join(m.name for m in (project, sub_job) if m and m.name))
        elif (project := context["projects"].get(record.job_id)) is not None:
            parts.append(project.name)
        elif record.job_id is not None:
            parts.append(f"location {record.job_id}")
        code = context["cost_codes"].get(record.cost_code_id)
        if code is not None:
            parts.append(code.name or code.full_code or "")  # e.g. "03-3010 Concrete Labor"
        return " · ".join(p for p in parts if p)

    def _unlinked(self, employee_id: int | None) -> str:
        known = self.known.get(SnapshotKind.EMPLOYEE, employee_id)
        return f"{known.name} (ExakTime {employee_id})" if known else f"employee {employee_id}"

    # --- planning ------------------------------------------------------------------

    def plan(self, record: TimeRecord, *, settled: bool = False) -> Plan:
        """The entries ``record`` should have in Procore, resolved and checked.

        ``settled``: the ledger holds the record at this revision, so it is resolved with
        local lookups only (the project's kept lists, however old).
        """
        self._any_age = settled
        try:
            return self._plan(record)
        finally:
            self._any_age = False

    def _plan(self, record: TimeRecord) -> Plan:
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
            return Plan([self._start_stop(record, base)])
        return Plan(self._by_hours(record, base), reason="no hours to export")

    def _start_stop(self, record: TimeRecord, base: dict[str, Any]) -> Planned:
        """One regular entry with the record's clock-in and clock-out times."""
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
        return Planned(record, "regular", self._with_origin(fields, record, "regular"))

    def _by_hours(self, record: TimeRecord, base: dict[str, Any]) -> list[Planned]:
        """One entry of total hours per hour kind that has hours."""
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
        return planned

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
                f"worker. Import employees (or link the employee on the Mappings page), {RERUN}.",
                needs={"entity_type": EntityType.EMPLOYEE, "exaktime_id": str(record.employee_id)},
            )
        location = context["sub_jobs"].get(record.job_id)
        sub_job_id = None
        if location is not None:
            sub_job_id = location.procore_id
            project_id = location.project_id
        else:
            location = context["projects"].get(record.job_id)
            if location is None:
                raise Unexportable(
                    f"Time record {record.id}: ExakTime location "
                    f"{self.describe('location', record.job_id)} is not linked to a Procore "
                    f"project or sub-job. Import locations (or link it on the Mappings page), "
                    f"{RERUN}.",
                    needs={"entity_type": EntityType.LOCATION, "exaktime_id": str(record.job_id)},
                )
            project_id = location.procore_id
        project_label = self._project_label(project_id)
        if sub_job_id is not None and not self._has_sub_job(project_id, sub_job_id):
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
        classification = employee.work_classification_id
        if classification:
            fields["work_classification_id"] = classification
        fields.update(self.custom_values(record))
        return fields

    def describe(self, noun: str, exaktime_id: int | None) -> str:
        """An ExakTime record as a person knows it ("9001 Pat Doe (id 100002)"): from the
        snapshot, else read from ExakTime (once per run)."""
        key = (noun, exaktime_id)
        if key not in self._described and (known := self.known.get(DESCRIBED[noun], exaktime_id)):
            self._described[key] = str(known)
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
                f"cost code. Import cost codes (or link it on the Mappings page), {RERUN}.",
                needs={
                    "entity_type": EntityType.COST_CODE,
                    "exaktime_id": str(record.cost_code_id),
                },
            )
        found = self._project_code(project_id, mapping)
        if found is None and self._missed(ReferenceKind.COST_CODES, project_id):
            found = self._project_code(project_id, mapping)
        if found is None:
            label = mapping.full_code or mapping.name
            raise Unexportable(
                f"Cost code {label} is not set up on Procore project {project_label}. Add it to "
                f"the project's budget codes, {RERUN}.",
                needs={"entity_type": EntityType.COST_CODE, "project": project_id},
            )
        return found

    def _project_code(self, project_id: int, mapping: EntityMapping) -> int | None:
        codes = self.codes_of(project_id)
        found = codes["by_standard"].get(str(mapping.procore_id))
        return found if found is not None else codes["by_full_code"].get(mapping.full_code)

    def _has_sub_job(self, project_id: int, sub_job_id: int) -> bool:
        return sub_job_id in self.sub_jobs_of(project_id) or (
            self._missed(ReferenceKind.SUB_JOBS, project_id)
            and sub_job_id in self.sub_jobs_of(project_id)
        )

    def _missed(self, kind: str, project_id: int) -> bool:
        return self._procore_list(
            f"the {ReferenceKind(kind).label.lower()} of project {project_id}",
            lambda: self.lists.missed(kind, project_id),
        )

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

    # --- Procore reference, kept per connection ------------------------------------

    def codes_of(self, project_id: int) -> dict[str, dict]:
        return self._procore_list(
            f"the cost codes of project {project_id}",
            lambda: self.lists.cost_codes(project_id, any_age=self._any_age),
        )

    def sub_jobs_of(self, project_id: int) -> set[int]:
        return self._procore_list(
            f"the sub-jobs of project {project_id}",
            lambda: self.lists.sub_jobs(project_id, any_age=self._any_age),
        )

    def _procore_list(self, what: str, fetch):
        try:
            return fetch()
        except ProcoreError as error:
            # Stops the run unless only this list is refused; then only its records fail.
            failure = stop_unless_only_this_list(
                error, what, then=" Nothing more was sent; re-run the export later."
            )
            raise Unexportable(
                f"Linx could not read {what} from Procore: {failure.message}"
            ) from error

    def _project_label(self, project_id: int) -> str:
        mapping = self.context["projects_by_procore_id"].get(project_id)
        if mapping is None:
            return str(project_id)
        number = mapping.identifier
        return f"{number} {mapping.name!r}" if number else repr(mapping.name)

    # --- applying ------------------------------------------------------------------
