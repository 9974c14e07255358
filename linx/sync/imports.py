"""Import (SyncLinx): Procore records → rules → fingerprint diff → ExakTime write → row.

Per entity, in dependency order (employees before crews, projects before their
sub-jobs), each eligible Procore record is turned into ExakTime fields by the tables in
`rules`, checked against ExakTime's limits, and compared with what Linx last wrote:

- a mapped record whose fingerprint is unchanged costs no request at all;
- a mapped record that changed is read, changed and written back whole (PUT);
- an unmapped record is linked to an ExakTime record with the same ID when one exists
  (first import, or a create whose answer was lost), else created;
- a mapped record that is inactive or gone in Procore is deactivated, never deleted.
  Between full passes, when only what changed is read, that is what the read shows:
  workers made inactive (the inactive list is read whole) or no longer employees,
  projects made inactive with their sub-jobs, and the sub-jobs gone from a changed
  project; what only a full read shows waits for the next full pass.

Every record ends as one row. A record that breaks a limit, or that ExakTime refuses,
fails alone; a refusal that concerns a whole list (cost codes not enabled, app not
installed) ends that part of the run with the steps that fix it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from integrations.errors import IntegrationError
from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import (
    ExakTimeAuthError,
    ExakTimeError,
    ExakTimeNotFound,
    ExakTimeOutcomeUnknown,
    ExakTimePermissionError,
)
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreError,
)
from integrations.procore.records import Project
from linx.models import Connection, EntityMapping, EntityType, FailureKind, Outcome
from linx.sync import rules
from linx.sync.classify import classify
from linx.sync.runs import Row, RunAborted, RunRecorder, stop_unless_only_this_list

log = logging.getLogger(__name__)

#: What `--entities` accepts, in the order they run (crews need employees).
ENTITIES = ("employees", "locations", "cost_codes", "crews")
#: The entities Procore can list "changed since" (filters[updated_at]); the others are
#: always read whole.
INCREMENTAL = ("employees", "locations")
#: Which import entity a row's entity type belongs to.
ENTITY_OF = {
    EntityType.EMPLOYEE: "employees",
    EntityType.LOCATION: "locations",
    EntityType.SUB_JOB: "locations",
    EntityType.LOCATION_GROUP: "locations",
    EntityType.LOCATION_CATEGORY: "locations",
    EntityType.COST_CODE: "cost_codes",
    EntityType.CREW: "crews",
}


@dataclass(frozen=True)
class Target:
    """An ExakTime collection: the client's method names and how records are found."""

    noun: str  # client methods: list_<plural>, get_<noun>, create_<noun>, update_<noun>
    plural: str
    key: str  # the field an existing record is matched on when linking
    group_type: str | None = None
    unique: tuple[str, ...] = ()  # fields ExakTime refuses twice (besides `key`)

    def list(self, client: ExakTimeClient) -> Iterable[Any]:
        records = getattr(client, f"list_{self.plural}")()
        if self.group_type:
            return (r for r in records if r.group_type == self.group_type)
        return records

    def get(self, client: ExakTimeClient, record_id: int) -> Any:
        return getattr(client, f"get_{self.noun}")(record_id)

    def create(self, client: ExakTimeClient, fields: Mapping[str, Any]) -> Any:
        return getattr(client, f"create_{self.noun}")(dict(fields))

    def update(self, client: ExakTimeClient, record_id: int, whole: Mapping[str, Any]) -> Any:
        return getattr(client, f"update_{self.noun}")(record_id, dict(whole))


TARGETS: dict[str, Target] = {
    EntityType.EMPLOYEE: Target("employee", "employees", "identifier"),
    EntityType.LOCATION: Target("location", "locations", "identifier"),
    EntityType.SUB_JOB: Target("location", "locations", "identifier"),
    EntityType.COST_CODE: Target("cost_code", "cost_codes", "identifier", unique=("name",)),
    EntityType.CREW: Target("group", "groups", "name", group_type="employee"),
    EntityType.LOCATION_GROUP: Target("group", "groups", "name", group_type="location"),
    EntityType.LOCATION_CATEGORY: Target("location_category", "location_categories", "name"),
    EntityType.CUSTOM_FIELD: Target("custom_field", "custom_fields", "name"),
}

#: The users' name for each entity in messages.
NOUNS = {
    EntityType.EMPLOYEE: "Employee",
    EntityType.LOCATION: "Location",
    EntityType.SUB_JOB: "Sub-job location",
    EntityType.COST_CODE: "Cost code",
    EntityType.CREW: "Crew",
    EntityType.LOCATION_GROUP: "Project group",
    EntityType.LOCATION_CATEGORY: "Project category",
    EntityType.CUSTOM_FIELD: "Custom field",
}

#: A record that needs a fix first is not re-run by hand: the next import retries it.
RERUN_HINT = "then import again"
#: A failing sub-job whose project is not known: every project is gone through again.
ALL_PROJECTS: frozenset[int] = frozenset({-1})

#: After this many ExakTime failures in a row that retrying could fix (timeouts, 5xx,
#: rate limits beyond the client's patience), the service is taken to be down and the
#: run stops rather than spend minutes of retries on every remaining row.
TRANSIENT_FAILURES_BEFORE_ABORT = 5


def _limits_key(entity_type: str) -> str:
    return EntityType.LOCATION if entity_type == EntityType.SUB_JOB else entity_type


class Importer:
    """One import run's work for one connection (see the module docstring)."""

    def __init__(
        self,
        connection: Connection,
        recorder: RunRecorder,
        procore: ProcoreClient,
        exaktime: ExakTimeClient,
        *,
        dry_run: bool = False,
        only: Mapping[str, set[int] | None] | None = None,
        since: Mapping[str, datetime] | None = None,
        failing: Mapping[str, set[int]] | None = None,
    ) -> None:
        self.connection = connection
        self.recorder = recorder
        self.procore = procore
        self.exaktime = exaktime
        self.dry_run = dry_run
        self.only = only  # re-run: entity type → the Procore ids to process, nothing else
        # Incremental entities: read only what changed since then; only what that read
        # shows inactive (and the inactive workers) is deactivated.
        self.since = dict(since or {})
        # Entity type → Procore ids whose import is failing: a changed-since read retries
        # them too, though Procore does not list them as changed (they are still broken).
        self.failing = dict(failing or {})
        self.completed: set[str] = set()  # entities read to the end without a refusal
        self._part_failures: set[str] = set()
        self.mappings: dict[str, dict[int, EntityMapping]] = {}
        self._existing: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._projects: list[Project] | None = None
        self._work_classifications: dict[int, str] | None = None
        self._transient_failures = 0
        self._refused: set[str] = set()  # parts Procore refused outright (not enabled, ...)
        # Kinds read from a Procore list that changed while its pages were read: a record
        # may have gone unseen, so no record of theirs is deactivated for not being seen.
        self._unsteady: set[str] = set()
        # (entity type, ExakTime ID) → the Procore record that has it in this run, so a
        # second record with the same ID fails with both named instead of a bare 409.
        self._claimed: dict[tuple[str, str | None, str, Any], tuple[int, str]] = {}
        # A re-run: per (collection, field), the values held by records it does not redo.
        self._held: dict[tuple[str, str | None, str], dict[Any, tuple[int, str]]] = {}
        # Rows of records the run was not asked for (a re-run refreshing a crew group's
        # members) are not recorded, unless they fail.
        self._unasked = False

    # --- entry point ---------------------------------------------------------------

    def run(self, entities: Iterable[str]) -> None:
        chosen = set(entities)
        unknown = chosen - set(ENTITIES)
        if unknown:
            raise RunAborted(
                f"Unknown entities: {', '.join(sorted(unknown))}. Choose from {', '.join(ENTITIES)}."
            )
        redoes_employees = self.only is not None and EntityType.EMPLOYEE in self.only
        if redoes_employees and self._mappings(EntityType.CREW):
            # Crew groups list employees: a re-run that writes employees (a create that
            # failed the first time) writes the crew groups they belong to as well.
            chosen.add("crews")
        for entity in ENTITIES:
            if entity in chosen:
                getattr(self, f"import_{entity}")()
                self.recorder.flush()
                if entity not in self._part_failures:
                    self.completed.add(entity)

    # --- employees -----------------------------------------------------------------

    def import_employees(self) -> None:
        kind = EntityType.EMPLOYEE
        since = self.since.get("employees")
        failing = self.failing.get(kind, set()) if since else set()
        # With failing workers to retry, the whole list is read (Procore has no filter
        # by id) and only the changed and the failing ones are gone through.
        read_since = None if failing else since
        workers = self._read(
            kind, "workers", lambda: self.procore.workers(updated_since=read_since)
        )
        if workers is None:
            return
        seen: set[int] = set()
        gone: set[int] = set()  # read, and no longer to be an active employee
        context = {"work_classifications": self.work_classifications()}
        if failing:
            workers = self._changed_or_failing(kind, workers, since, failing)
        else:
            workers = self._counted(kind, workers)
        for worker in workers:
            if not self._wanted(kind, worker.id):
                continue
            name = rules.person_name(worker)
            if self._skipped_as_ignored(kind, worker.id, name):
                seen.add(worker.id)  # ignored is not gone: its twin is left as it is
                continue
            if worker.problems:
                seen.add(worker.id)  # unreadable is not gone: its twin stays as it is
                self._unreadable(kind, worker.id, name, worker.problems)
                continue
            if not worker.is_employee:
                self._row(
                    kind,
                    Outcome.SKIPPED,
                    worker.id,
                    name=name,
                    message="Not an employee in Procore (Is Employee is off), so not imported.",
                )
                gone.add(worker.id)
                continue
            if not worker.is_active:
                gone.add(worker.id)
                continue
            if not (worker.employee_id or "").strip():
                self._row(
                    kind,
                    Outcome.FAILED,
                    worker.id,
                    name=name,
                    message=(
                        f"{name} has no Employee ID in Procore's Directory. Enter one on the "
                        f"worker's Directory page in Procore, {RERUN_HINT}."
                    ),
                )
                continue
            seen.add(worker.id)
            fields = rules.apply(rules.EMPLOYEE, worker, context)
            # Export books the worker's hours with this classification.
            facts = {"work_classification_id": worker.work_classification_id}
            self.upsert(kind, worker.id, name, fields, rules.labels(rules.EMPLOYEE), data=facts)
        if since is None:  # only a full list shows who is gone
            self.deactivate_missing(kind, seen)
        else:  # who changed shows who stopped being an employee; who left is listed apart
            self.deactivate_listed(kind, sorted(gone | self._inactive_workers()))

    def _inactive_workers(self) -> set[int]:
        """Procore's inactive workers, read whole (one list): a changed-since read of
        the active workers cannot show who was made inactive."""
        listing = self._read(EntityType.EMPLOYEE, "inactive workers", self.procore.inactive_workers)
        return set() if listing is None else {w.id for w in listing if w.id is not None}

    def work_classifications(self) -> dict[int, str]:
        """Procore work classification names by id, as the pre-import stored them."""
        if self._work_classifications is None:
            self._work_classifications = dict(
                EntityMapping.objects.filter(
                    connection=self.connection, entity_type=EntityType.WORK_CLASSIFICATION
                ).values_list("procore_id", "name")
            )
        return self._work_classifications

    # --- locations -----------------------------------------------------------------

    def projects(self) -> list[Project] | None:
        """Active projects, read once per run (crews need them too)."""
        if self._projects is None:
            listing = self._read(EntityType.LOCATION, "projects", self.procore.projects)
            if listing is None:
                return None
            self._projects = list(listing)
        return self._projects

    def import_locations(self) -> None:
        kind = EntityType.LOCATION
        since = self.since.get("locations")
        failing = self._failing_projects() if since else set()
        if since is None:
            projects = self.projects()
        elif failing:
            # Retrying failing locations: the whole list of every status (no filter by
            # id), gone through for the changed projects (made inactive ones included)
            # and the failing ones only.
            listing = self._read(kind, "projects", lambda: self.procore.projects("All"))
            projects = None
            if listing is not None:
                listing = list(listing)
                if self._projects is None:  # crews need the active ones: no second read
                    self._projects = [p for p in listing if p.active is not False]
                everything = failing is ALL_PROJECTS
                projects = self._changed_or_failing(kind, listing, since, failing, everything)
        else:
            # Of every status: a project made inactive is a change too.
            listing = self._read(
                kind,
                "changed projects",
                lambda: self.procore.projects("All", updated_since=since),
            )
            projects = None if listing is None else list(listing)
        if projects is None:
            return
        self.recorder.expect(kind, len(projects))
        seen: set[int] = set()
        seen_sub_jobs: set[int] = set()
        for project in projects:
            if project.problems:
                # Unreadable is not gone: neither it nor its sub-jobs are deactivated.
                seen.add(project.id)
                seen_sub_jobs |= self._sub_jobs_mapped_to(project.id)
                if self._wanted(kind, project.id):
                    self._unreadable(kind, project.id, project.name, project.problems)
                continue
            if not project.active:
                if since is not None:  # a full read deactivates it as not seen, below
                    self._deactivate_project(project.id)
                continue
            seen.add(project.id)
            location_id = None
            if self._wanted(kind, project.id):
                fields = rules.apply(rules.LOCATION, project, {})
                location_id = self.upsert(
                    kind, project.id, project.name, fields, rules.labels(rules.LOCATION)
                )
            else:
                location_id = self._mapped_id(kind, project.id)
            if self.connection.import_sub_jobs:
                found = self.import_sub_jobs(project, location_id)
                seen_sub_jobs |= found
                if since is not None and self.only is None:
                    # A changed project's sub-jobs were read whole: one not among them
                    # is gone. (An unchanged project's wait for the next full pass.)
                    mapped = self._sub_jobs_mapped_to(project.id)
                    self.deactivate_missing(EntityType.SUB_JOB, found, among=mapped)
        if since is None:
            self.deactivate_missing(kind, seen)
            if self.connection.import_sub_jobs and self.only is None:
                self.deactivate_missing(EntityType.SUB_JOB, seen_sub_jobs)

    def _deactivate_project(self, project_id: int) -> None:
        """A project Procore shows as inactive: its location and its sub-jobs' go too."""
        self.deactivate_listed(EntityType.LOCATION, [project_id])
        if self.connection.import_sub_jobs:
            mapped = sorted(self._sub_jobs_mapped_to(project_id))
            self.deactivate_listed(EntityType.SUB_JOB, mapped)

    def _failing_projects(self) -> set[int]:
        """Projects whose location, group, category or a sub-job is failing.

        ``ALL_PROJECTS`` when a failing sub-job's project is not known (it never got
        a mapping): every project's sub-jobs are read again, as a full pass does.
        """
        projects = set()
        for kind in (EntityType.LOCATION, EntityType.LOCATION_GROUP, EntityType.LOCATION_CATEGORY):
            projects |= self.failing.get(kind, set())
        for sub_job_id in self.failing.get(EntityType.SUB_JOB, set()):
            mapping = self._mappings(EntityType.SUB_JOB).get(sub_job_id)
            project = (mapping.data or {}).get("project") if mapping else None
            if project is None:
                return ALL_PROJECTS
            projects.add(project)
        return projects

    def import_sub_jobs(self, project: Project, location_id: int | None) -> set[int]:
        """The project's sub-jobs as locations under it; its category and group if chosen."""
        kind = EntityType.SUB_JOB
        # A re-run that re-does any of a project's family (its location, category, group
        # or a sub-job) re-does all of it: what was written while one of them was missing
        # (sub-jobs without their parent location or category, a group without members)
        # is completed with it. Unchanged ones cost nothing.
        family = (EntityType.LOCATION, EntityType.LOCATION_CATEGORY, EntityType.LOCATION_GROUP)
        whole = any(self._wanted(part, project.id) for part in family)
        if not whole and kind not in self.only:
            return set()  # a re-run of other rows: this project's sub-jobs are not asked for
        if kind in self._refused:
            return set()  # Procore refused sub-jobs once: that row says how to enable them
        listing = self._read(
            kind,
            f"sub-jobs of project {project.project_number} {project.name!r}",
            lambda: self.procore.sub_jobs(project.id),
        )
        if listing is None:
            return set()
        sub_jobs = [s for s in listing if s.active]
        if not sub_jobs:
            return set()
        whole = whole or any(self._wanted(kind, s.id) for s in sub_jobs)
        category_id = None
        if self.connection.projects_as_categories:
            category_id = (
                self.upsert(
                    EntityType.LOCATION_CATEGORY,
                    project.id,
                    project.name,
                    rules.apply(rules.PROJECT_CATEGORY, project, {}),
                    rules.labels(rules.PROJECT_CATEGORY),
                )
                if whole
                else self._mapped_id(EntityType.LOCATION_CATEGORY, project.id)
            )
        members = []
        seen = set()
        for sub_job in sub_jobs:
            seen.add(sub_job.id)
            name = rules.sub_job_name(project, sub_job)
            if sub_job.problems:
                if self._wanted(kind, sub_job.id):
                    self._unreadable(kind, sub_job.id, name, sub_job.problems)
                if mapped := self._mapped_id(kind, sub_job.id):
                    members.append(mapped)
                continue
            if not whole:
                if mapped := self._mapped_id(kind, sub_job.id):
                    members.append(mapped)
                continue
            fields = rules.apply(rules.SUB_JOB, sub_job, {"project": project})
            fields["parent_job_id"] = location_id
            if self.connection.projects_as_categories:
                fields["category_id"] = category_id
            mapped = self.upsert(
                kind,
                sub_job.id,
                name,
                fields,
                rules.labels(rules.SUB_JOB),
                data={"project": project.id},
            )
            if mapped:
                members.append(mapped)
        if self.connection.projects_as_groups and whole:
            self.upsert(
                EntityType.LOCATION_GROUP,
                project.id,
                project.name,
                rules.apply(rules.PROJECT_GROUP, project, {"member_ids": members}),
                rules.labels(rules.PROJECT_GROUP),
            )
        return seen

    # --- cost codes ----------------------------------------------------------------

    def import_cost_codes(self) -> None:
        kind = EntityType.COST_CODE
        lists = self._read(kind, "cost code lists", self.procore.standard_cost_code_lists)
        if lists is None:
            return
        seen: set[int] = set()
        for code_list in list(lists):
            codes = self._read(
                kind,
                f"cost codes of list {code_list.name!r}",
                lambda code_list=code_list: self.procore.standard_cost_codes(code_list.id),
            )
            if codes is None:
                continue
            codes = list(codes)
            divisions = rules.divisions(codes)
            self.recorder.expect(
                kind,
                self.recorder.progress.get(kind, {}).get("total", 0) + len(codes) - len(divisions),
            )
            for code in codes:
                if code.problems and self._wanted(kind, code.id):
                    # Checked before `is_division`: an unreadable parent is not "none".
                    seen.add(code.id)
                    self._unreadable(kind, code.id, rules.cost_code_name(code), code.problems)
                    continue
                if code.is_division or not self._wanted(kind, code.id):
                    continue  # divisions themselves are not imported
                name = rules.cost_code_name(code)
                if not rules.under_division(code, divisions):
                    self._row(
                        kind,
                        Outcome.FAILED,
                        code.id,
                        name=name,
                        message=(
                            f"Cost code {name} belongs to division id {code.parent_id}, which "
                            f"Procore does not list in {code_list.name!r}. Put it under a "
                            f"division in Procore's cost code list, {RERUN_HINT}."
                        ),
                    )
                    continue
                if not code.active:
                    continue
                seen.add(code.id)
                fields = rules.apply(rules.COST_CODE, code, {})
                # Export finds the project's cost code by this when it is not linked by id.
                self.upsert(
                    kind,
                    code.id,
                    name,
                    fields,
                    rules.labels(rules.COST_CODE),
                    data={"full_code": code.full_code},
                )
        self.deactivate_missing(kind, seen)

    # --- crews ---------------------------------------------------------------------

    def import_crews(self) -> None:
        """Crews as employee groups; same-named crews on several projects are one group."""
        if not self.connection.crews_as_groups:
            return
        kind = EntityType.CREW
        projects = self.projects()
        if projects is None:
            return
        by_name: dict[str, list] = defaultdict(list)
        unreadable = []
        for project in projects:
            if not project.active or project.id is None:
                continue
            crews = self._read(
                kind,
                f"crews of project {project.name!r}",
                lambda project=project: self.procore.crews(project.id),
            )
            if crews is None:
                continue
            for crew in crews:
                if crew.problems:
                    unreadable.append(crew)
                else:
                    by_name[crew.name].append(crew)
        employees = self._mapping_ids(EntityType.EMPLOYEE)
        by_crew_id = {
            crew_id: mapping
            for mapping in self._mappings(kind).values()
            for crew_id in mapping.data.get("crew_ids", [mapping.procore_id])
        }
        if self.only is None or kind in self.only:
            self.recorder.expect(kind, len(by_name) + len(unreadable))
        seen = set()
        for crew in unreadable:
            if crew.id in by_crew_id:  # unreadable is not gone: its group stays as it is
                seen.add(by_crew_id[crew.id].procore_id)
            if self._wanted(kind, crew.id):
                self._unreadable(kind, crew.id, crew.name, crew.problems)
        for name, crews in sorted(by_name.items()):
            crew_ids = sorted(c.id for c in crews)
            existing = next((by_crew_id[c] for c in crew_ids if c in by_crew_id), None)
            procore_id = existing.procore_id if existing else crew_ids[0]
            asked = self._wanted(kind, procore_id)
            if not (asked or self._members_redone(existing, crews)):
                continue
            seen.add(procore_id)
            members = sorted(
                {employees[e] for c in crews for e in c.employee_ids if e in employees}
            )
            fields = rules.apply(rules.CREW, crews[0], {"member_ids": members})
            data = {"crew_ids": crew_ids}
            with self._recording_failures_only(not asked):
                self.upsert(kind, procore_id, name, fields, rules.labels(rules.CREW), data=data)
        self.deactivate_missing(kind, seen, delete_group=True)

    def _members_redone(self, existing: EntityMapping | None, crews: list) -> bool:
        """A re-run that redoes employees refreshes the groups of crews they are in (an
        employee created only now joins its group), without a row for the group."""
        return (
            self.only is not None
            and existing is not None
            and any(self._wanted(EntityType.EMPLOYEE, e) for c in crews for e in c.employee_ids)
        )

    @contextlib.contextmanager
    def _recording_failures_only(self, on: bool):
        """Work on a record the run was not asked for: only a failure of it is a row."""
        before, self._unasked = self._unasked, on
        try:
            yield
        finally:
            self._unasked = before

    # --- the generic step ----------------------------------------------------------

    def upsert(
        self,
        kind: str,
        procore_id: int,
        name: str,
        fields: dict[str, Any],
        names: Mapping[str, str],
        *,
        data: dict[str, Any] | None = None,
    ) -> int | None:
        """Bring one Procore record's ExakTime twin up to date; record its row.

        Returns the ExakTime id (None when it failed, or would be created by a dry run).
        """
        target = TARGETS[kind]
        mapping = self._mappings(kind).get(procore_id)
        noun = NOUNS[kind]
        if self._skipped_as_ignored(kind, procore_id, name):
            return self._int(mapping.exaktime_id)
        problems = rules.check(_limits_key(kind), fields, names)
        for unique in (target.key, *target.unique):
            value = fields.get(unique)
            if value is None:
                continue
            claim = (target.plural, target.group_type, unique, value)
            holder = self._claimed.setdefault(
                claim, self._held_outside_run(target, unique, value) or (procore_id, name)
            )
            if holder[0] != procore_id:
                label = names.get(unique, unique)
                problems.append(
                    f"its {label} {value!r} is also the {label} of {holder[1]!r} (Procore "
                    f"{holder[0]}); ExakTime needs each to be unique"
                )
        if problems:
            self._row(
                kind,
                Outcome.FAILED,
                procore_id,
                mapping.exaktime_id if mapping else "",
                name,
                message=f"{noun} {name!r} cannot be imported: {'; '.join(problems)}. "
                f"Correct it in Procore, {RERUN_HINT}.",
            )
            return self._int(mapping.exaktime_id) if mapping else None
        fingerprint = rules.fingerprint(fields)
        try:
            if mapping is not None and mapping.exaktime_id:
                if mapping.fingerprint == fingerprint:
                    self._row(kind, Outcome.UNCHANGED, procore_id, mapping.exaktime_id, name)
                    self._touch(mapping, name, data)
                    return int(mapping.exaktime_id)
                return self._update(kind, target, mapping, name, fields, fingerprint, data)
            existing = self._existing_record(kind, target, fields.get(target.key))
            if existing is not None:
                return self._link(
                    kind, target, procore_id, existing, name, fields, fingerprint, data
                )
            if fields.get("is_active") is False:
                self._row(
                    kind,
                    Outcome.SKIPPED,
                    procore_id,
                    name=name,
                    message="Inactive in Procore and never imported, so not created.",
                )
                return None
            return self._create(kind, target, procore_id, name, fields, fingerprint, data)
        except (ExakTimeAuthError, ExakTimePermissionError) as error:
            raise RunAborted(error.message) from error
        except ExakTimeOutcomeUnknown as error:
            self._note_failure(error)
            self._row(
                kind,
                Outcome.FAILED,
                procore_id,
                mapping.exaktime_id if mapping else "",
                name,
                message=(
                    f"{error.message} ExakTime may or may not have saved {noun.lower()} {name!r}; "
                    "re-running the failed rows links it if it did, or creates it if not."
                ),
                retryable=True,
            )
        except ExakTimeError as error:
            self._row(
                kind,
                Outcome.FAILED,
                procore_id,
                mapping.exaktime_id if mapping else "",
                name,
                message=f"{noun} {name!r}: {error.message}",
                retryable=not error.permanent,
            )
            self._note_failure(error)
        return self._int(mapping.exaktime_id) if mapping else None

    def _note_failure(self, error: IntegrationError) -> None:
        if error.permanent:
            return
        self._transient_failures += 1
        if self._transient_failures >= TRANSIENT_FAILURES_BEFORE_ABORT:
            raise RunAborted(
                f"ExakTime failed {self._transient_failures} times in a row with errors that "
                f"retrying did not fix (last: {error.message}). The run stopped; re-run it "
                "when ExakTime answers again.",
                kind=FailureKind.UNAVAILABLE,
            )

    def _create(self, kind, target, procore_id, name, fields, fingerprint, data) -> int | None:
        if self.dry_run:
            self._row(
                kind, Outcome.CREATED, procore_id, "", name, changes=rules.changes({}, fields)
            )
            return None
        created = target.create(self.exaktime, fields)
        self._save_mapping(kind, procore_id, created.id, name, fingerprint, fields, data)
        self._row(
            kind,
            Outcome.CREATED,
            procore_id,
            str(created.id),
            name,
            changes=rules.changes({}, fields),
        )
        return created.id

    def _link(
        self, kind, target, procore_id, existing, name, fields, fingerprint, data
    ) -> int | None:
        """First import: an ExakTime record with the same ID becomes this record's twin."""
        exaktime_id = existing.id
        if exaktime_id in self._mapping_ids(kind).values():
            self._row(
                kind,
                Outcome.FAILED,
                procore_id,
                "",
                name,
                message=(
                    f"{NOUNS[kind]} {name!r}: ExakTime's {target.key} {fields.get(target.key)!r} "
                    "already belongs to another Procore record (a duplicate ID in Procore). "
                    f"Give each record its own ID in Procore, {RERUN_HINT}."
                ),
            )
            return None
        before = existing.to_api()
        diff = rules.changes(before, fields)
        if not self.dry_run:
            if diff:
                target.update(self.exaktime, exaktime_id, {**before, **fields})
            self._save_mapping(kind, procore_id, exaktime_id, name, fingerprint, fields, data)
        self._row(
            kind,
            Outcome.LINKED,
            procore_id,
            str(exaktime_id),
            name,
            changes=diff,
            message="Linked to the ExakTime record that already had this ID.",
        )
        return exaktime_id

    def _update(self, kind, target, mapping, name, fields, fingerprint, data) -> int | None:
        exaktime_id = int(mapping.exaktime_id)
        try:
            current = target.get(self.exaktime, exaktime_id)
        except ExakTimeNotFound:
            # Removed on the ExakTime side: make it again rather than fail for ever.
            mapping.delete()
            self._mappings(kind).pop(mapping.procore_id, None)
            return self._create(kind, target, mapping.procore_id, name, fields, fingerprint, data)
        before = current.to_api()
        diff = rules.changes(before, fields)
        if not self.dry_run:
            if diff:
                target.update(self.exaktime, exaktime_id, {**before, **fields})
            self._save_mapping(
                kind, mapping.procore_id, exaktime_id, name, fingerprint, fields, data
            )
        outcome = Outcome.UPDATED if diff else Outcome.UNCHANGED
        if fields.get("is_active") is False and before.get("is_active") is not False:
            outcome = Outcome.DEACTIVATED
        self._row(kind, outcome, mapping.procore_id, str(exaktime_id), name, changes=diff)
        return exaktime_id

    def deactivate_missing(
        self,
        kind: str,
        seen: set[int],
        *,
        delete_group: bool = False,
        among: set[int] | None = None,
    ) -> None:
        """Deactivate twins of records no longer active in Procore (never delete them).

        ``seen``: the records a whole list showed; every other twin (of ``among`` only,
        when given: one changed project's sub-jobs) is taken to be gone. Groups have no
        active flag: a crew that is gone keeps its group, emptied.
        """
        if self.only is not None and kind not in self.only:
            return
        if kind in self._unsteady:
            return  # not seen is not gone this time; the next full pass decides
        for procore_id, mapping in list(self._mappings(kind).items()):
            if procore_id in seen or (among is not None and procore_id not in among):
                continue
            self._deactivate(kind, mapping, delete_group=delete_group)

    def deactivate_listed(self, kind: str, gone: Iterable[int | None]) -> None:
        """Deactivate the twins of records Procore itself shows as inactive or not
        imported (a changed-since read, the inactive workers): seen, so certain, even
        when the rest of the list could not be read."""
        if self.only is not None and kind not in self.only:
            return
        for procore_id in gone:
            mapping = self._mappings(kind).get(procore_id)
            if mapping is not None:
                self._deactivate(kind, mapping)

    def _deactivate(self, kind: str, mapping: EntityMapping, *, delete_group: bool = False) -> None:
        """Make one twin inactive in ExakTime (a group: empty it); one row says so."""
        procore_id = mapping.procore_id
        if mapping.ignored or not mapping.exaktime_id or not self._wanted(kind, procore_id):
            return
        last = dict(mapping.data.get("fields") or {})
        wanted = {**last, "member_ids": []} if delete_group else {**last, "is_active": False}
        if last and rules.fingerprint(wanted) == mapping.fingerprint:
            return  # already deactivated: nothing to do, nothing to report
        target = TARGETS[kind]
        try:
            current = target.get(self.exaktime, int(mapping.exaktime_id))
            before = current.to_api()
            change = {"member_ids": []} if delete_group else {"is_active": False}
            diff = rules.changes(before, change)
            if not self.dry_run:
                if diff:
                    target.update(self.exaktime, int(mapping.exaktime_id), {**before, **change})
                self._save_mapping(
                    kind,
                    procore_id,
                    int(mapping.exaktime_id),
                    mapping.name,
                    rules.fingerprint(wanted),
                    wanted,
                    mapping.data,
                )
            self._row(
                kind,
                Outcome.DEACTIVATED,
                procore_id,
                mapping.exaktime_id,
                mapping.name,
                changes=diff,
                message="Inactive or gone in Procore.",
            )
        except ExakTimeNotFound:
            if not self.dry_run:
                mapping.delete()
                self._mappings(kind).pop(procore_id, None)
            self._row(
                kind,
                Outcome.DEACTIVATED,
                procore_id,
                mapping.exaktime_id,
                mapping.name,
                message="Gone from both Procore and ExakTime; the link was removed.",
            )
        except (ExakTimeAuthError, ExakTimePermissionError) as error:
            raise RunAborted(error.message) from error
        except ExakTimeError as error:
            self._row(
                kind,
                Outcome.FAILED,
                procore_id,
                mapping.exaktime_id,
                mapping.name,
                message=f"Could not deactivate {NOUNS[kind].lower()} {mapping.name!r}: {error.message}",
                retryable=not error.permanent,
            )

    # --- helpers -------------------------------------------------------------------

    def _read(self, kind: str, what: str, fetch: Callable[[], Any]):
        """Start reading a Procore list; a refusal of the whole list ends this part."""
        try:
            listing = fetch()
            # Force the first page now so a refusal surfaces here, not mid-loop.
            return _Primed(
                listing,
                on_changed=lambda: self._list_changed(kind, what),
                on_error=lambda error: self._list_cut_short(kind, what, error),
            )
        except ProcoreError as error:
            stop_unless_only_this_list(error, what, then=" The run stopped; re-run it later.")
            self._part_failed(kind, what, error)
            return None

    def _list_changed(self, kind: str, what: str) -> None:
        """Procore's list changed while Linx read it: some record may have gone unseen.

        Nothing read from it (nor from what hangs on it: projects carry sub-jobs and
        crews) is deactivated for being missing, and the part is not complete, so the
        next import reads it again from the same point.
        """
        log.warning("Procore's %s changed while Linx read it", what)
        self._unsettle(kind)

    def _list_cut_short(self, kind: str, what: str, error: ProcoreError) -> None:
        """A page after the first could not be read: what was read stands, the rest of
        the list fails as one row, and nothing is deactivated for not being in it."""
        if classify(error).stops_the_run:
            raise RunAborted(error.message) from error
        self._part_failed(kind, f"the rest of the {what}", error)

    def _unsettle(self, kind: str) -> None:
        """Not every record of ``kind`` was seen: none is deactivated for being missing
        (nor, for projects, any of their sub-jobs and crews), and the part is not
        complete, so the next import reads it again from the same point."""
        kinds = (
            {kind, EntityType.SUB_JOB, EntityType.CREW} if kind == EntityType.LOCATION else {kind}
        )
        self._unsteady |= kinds
        self._part_failures |= {ENTITY_OF.get(k, k) for k in kinds}

    def _changed_or_failing(
        self, kind: str, listing: Iterable[Any], since: datetime, failing: set[int], every=False
    ) -> list[Any]:
        """Of a whole list read in place of a changed-since one: what the changed-since
        read would have listed, and the failing records (all of it when ``every``)."""
        records = [
            record
            for record in listing
            if every
            or record.id in failing
            or record.updated_at is None
            or record.updated_at >= since
        ]
        self.recorder.expect(kind, len(records))
        return records

    def _counted(self, kind: str, listing: _Primed):
        if listing.total is not None:
            self.recorder.expect(kind, listing.total)
        yield from listing  # a page that cannot be read ends it (see _list_cut_short)

    def _unreadable(self, kind: str, procore_id, name: str, problems) -> None:
        """A record Linx could not read as Procore sent it fails alone, naming why."""
        self._row(
            kind,
            Outcome.FAILED,
            procore_id,
            "",
            name,
            message=f"{NOUNS[kind]} {name!r} cannot be imported: {'; '.join(problems)}. "
            f"Correct it in Procore, {RERUN_HINT}.",
        )

    def _sub_jobs_mapped_to(self, project_id: int | None) -> set[int]:
        return {
            procore_id
            for procore_id, mapping in self._mappings(EntityType.SUB_JOB).items()
            if (mapping.data or {}).get("project") == project_id
        }

    def _part_failed(self, kind: str, what: str, error: IntegrationError) -> None:
        """A refusal of a whole list: one failed row says what to fix (the client's hint).

        Not every record of the kind was seen (one project's sub-jobs refused hides
        them, and every later project's): none is deactivated for being missing.
        """
        if error.permanent:
            self._refused.add(kind)
        self._unsettle(kind)
        self._row(
            kind,
            Outcome.FAILED,
            None,
            "",
            f"(reading {what})",
            message=f"Linx could not read {what} from Procore: {error.message} Then re-run the failed rows.",
            retryable=not error.permanent,
        )

    def _existing_record(self, kind: str, target: Target, key: Any):
        """The ExakTime record with this ID (or name), listed once per collection per run."""
        if key is None:
            return None
        cache_key = (target.plural, target.group_type)
        if cache_key not in self._existing:
            self._existing[cache_key] = {
                getattr(r, target.key): r for r in target.list(self.exaktime)
            }
        return self._existing[cache_key].get(key)

    def _mappings(self, kind: str) -> dict[int, EntityMapping]:
        if kind not in self.mappings:
            self.mappings[kind] = {
                m.procore_id: m
                for m in EntityMapping.objects.filter(
                    connection=self.connection, entity_type=kind
                ).select_related("ignored_by")
            }
        return self.mappings[kind]

    def _mapping_ids(self, kind: str) -> dict[int, int]:
        return {
            procore_id: int(m.exaktime_id)
            for procore_id, m in self._mappings(kind).items()
            if m.exaktime_id
        }

    def _mapped_id(self, kind: str, procore_id: int) -> int | None:
        mapping = self._mappings(kind).get(procore_id)
        return self._int(mapping.exaktime_id) if mapping else None

    def _save_mapping(self, kind, procore_id, exaktime_id, name, fingerprint, fields, data) -> None:
        mapping, _ = EntityMapping.objects.update_or_create(
            connection=self.connection,
            entity_type=kind,
            procore_id=procore_id,
            defaults={
                "exaktime_id": str(exaktime_id),
                "name": rules.safe_label(name)[:255],
                "fingerprint": fingerprint,
                "data": {**(data or {}), "fields": rules.json_ready(fields)},
                "synced_at": timezone.now(),
            },
        )
        self._mappings(kind)[procore_id] = mapping

    def _touch(self, mapping: EntityMapping, name: str, data: dict[str, Any] | None) -> None:
        """Keep an unchanged record's name and Procore facts current (no ExakTime write)."""
        if self.dry_run:
            return
        facts = {**mapping.data, **(data or {})}
        if mapping.name != name[:255] or facts != mapping.data:
            EntityMapping.objects.filter(pk=mapping.pk).update(name=name[:255], data=facts)
            mapping.name, mapping.data = name[:255], facts

    def _skipped_as_ignored(self, kind: str, procore_id: int, name: str) -> bool:
        """An operator's "Ignored on Import": the record's row says so, nothing else happens."""
        mapping = self._mappings(kind).get(procore_id)
        if mapping is None or not mapping.ignored:
            return False
        self._row(
            kind,
            Outcome.SKIPPED,
            procore_id,
            mapping.exaktime_id,
            name,
            message=f"skipped: ignored by {mapping.ignored_by or 'an operator'} (Ignored on Import).",
        )
        return True

    def _held_outside_run(self, target: Target, unique: str, value: Any) -> tuple[int, str] | None:
        """In a re-run, the record it does not redo whose twin already has ``value``.

        The first run named the other record of a duplicate; a re-run of only one of
        them must name it too, rather than pass ExakTime's bare refusal on.
        """
        if self.only is None:
            return None
        key = (target.plural, target.group_type, unique)
        if key not in self._held:
            held: dict[Any, tuple[int, str]] = {}
            for kind, other in TARGETS.items():
                if (other.plural, other.group_type) != key[:2]:
                    continue
                for procore_id, mapping in self._mappings(kind).items():
                    stored = ((mapping.data or {}).get("fields") or {}).get(unique)
                    if isinstance(stored, str | int) and not self._wanted(kind, procore_id):
                        held.setdefault(stored, (procore_id, mapping.name))
            self._held[key] = held
        return self._held[key].get(value) if isinstance(value, str | int) else None

    def _wanted(self, kind: str, procore_id: int) -> bool:
        """Whether this run processes the record (a re-run names the rows it is for)."""
        if self.only is None:
            return True
        if kind not in self.only:
            return False
        ids = self.only[kind]
        return ids is None or procore_id in ids

    def _row(
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
    ) -> None:
        if outcome != Outcome.FAILED:
            self._transient_failures = 0
            if self._unasked:
                return
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
            )
        )

    @staticmethod
    def _int(value: str | None) -> int | None:
        return int(value) if value else None


class _Primed:
    """A Procore listing whose first page has been fetched (so errors surface early)."""

    def __init__(
        self,
        listing,
        on_changed: Callable[[], None] | None = None,
        on_error: Callable[[ProcoreError], None] | None = None,
    ) -> None:
        self._iter = iter(listing)
        self._listing = listing
        self._on_changed = on_changed
        self._on_error = on_error
        self._first: list = []
        with contextlib.suppress(StopIteration):
            self._first.append(next(self._iter))

    @property
    def total(self) -> int | None:
        return getattr(self._listing, "total", None)

    def __iter__(self):
        yield from self._first
        self._first = []
        try:
            yield from self._iter
        except ProcoreError as error:
            if self._on_error is None:
                raise
            self._on_error(error)  # raises, or records the rest of the list as failed
            return
        if getattr(self._listing, "changed", False) and self._on_changed:
            self._on_changed()
