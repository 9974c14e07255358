"""Import (SyncLinx): read Procore's records, shape them by `rules`, write their twins.

Per entity, in dependency order (employees before crews, projects before their
sub-jobs), each eligible Procore record is turned into ExakTime fields by the tables in
`rules` and handed to `twins.TwinWriter`, which checks ExakTime's limits and creates,
links, updates or leaves the twin (see there). A mapped record that is inactive or gone
in Procore is deactivated, never deleted. Between full passes, when only what changed
is read, that is what the read shows: workers made inactive (the inactive list is read
whole) or no longer employees, projects made inactive with their sub-jobs, and the
sub-jobs gone from a changed project; what only a full read shows waits for the next
full pass. Failing records are tried again by every plain import (`plain_reads`).

ExakTime writes whose id nothing waits for (employees, cost codes, sub-jobs, groups) are
sent several at once (`twins`); each entity's are all answered before the next starts.

Every record ends as one row. A record that breaks a limit, or that ExakTime refuses,
fails alone; a refusal that concerns a whole list (cost codes not enabled, app not
installed) ends that part of the run with the steps that fix it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.conf import settings

from integrations.exaktime.client import ExakTimeClient
from integrations.procore.client import ProcoreClient
from integrations.procore.records import Project
from linx.models import Connection, EntityMapping, EntityType, Outcome
from linx.sync import rules
from linx.sync.collections_paused import fewer_collections
from linx.sync.crew_groups import crew_group, crew_groups, crews_by_name
from linx.sync.plain_reads import FailingRecords, PlainReads
from linx.sync.procore_lists import ListReader
from linx.sync.read_ahead import ReadAhead
from linx.sync.reference import ProjectLists
from linx.sync.rerun import Only, ProjectFamily
from linx.sync.runs import RunAborted, RunRecorder, RunWork
from linx.sync.targets import NOUNS
from linx.sync.thread_handoffs import quick_handoffs
from linx.sync.twins import RERUN_HINT, Twin, TwinWriter

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


class Importer(PlainReads, RunWork):
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
        super().__init__(connection, recorder, procore, exaktime, dry_run=dry_run)
        self.only = Only(only)  # a re-run: the records it is for, nothing else
        # Incremental entities: read only what changed since then; only what that read
        # shows inactive (and the inactive workers) is deactivated.
        self.since = dict(since or {})
        # Entity type → Procore ids whose import is failing: a changed-since read retries
        # them too, though Procore does not list them as changed (they are still broken).
        self.failing = dict(failing or {})
        # Failing workers and projects as last read: retried without reading them again.
        self.failing_records = FailingRecords(connection, recorder.run, dry_run)
        self.retried_only: set[tuple[str, int]] = set()  # gone through only as failing
        self._inactive: set[int] | None = None
        self.twins = TwinWriter(connection, recorder, exaktime, dry_run=dry_run, only=self.only)
        self.lists = ListReader(recorder, self.twins.row, ENTITY_OF)
        self.reference = ProjectLists(connection, procore)  # sub-jobs read, kept for exports
        self.completed: set[str] = set()  # entities read to the end without a refusal
        self._projects: list[Project] | None = None
        self._work_classifications: dict[int, str] | None = None
        # Projects whose location group is written once their sub-jobs are answered.
        self._groups_due: list[tuple[Project, list[int]]] = []
        # Projects' sub-job lists read a few at a time ahead of the loop that uses them.
        self._ahead = ReadAhead(procore, 1)

    # --- entry point ---------------------------------------------------------------

    def run(self, entities: Iterable[str]) -> None:
        chosen = set(entities)
        unknown = chosen - set(ENTITIES)
        if unknown:
            raise RunAborted(
                f"Unknown entities: {', '.join(sorted(unknown))}. Choose from {', '.join(ENTITIES)}."
            )
        redoes_employees = self.only.is_rerun and self.only.covers(EntityType.EMPLOYEE)
        if redoes_employees and self.twins.mappings_of(EntityType.CREW):
            # Crew groups list employees: a re-run that writes employees (a create that
            # failed the first time) writes the crew groups they belong to as well.
            chosen.add("crews")
        steps = {
            "employees": self.import_employees,
            "locations": self.import_locations,
            "cost_codes": self.import_cost_codes,
            "crews": self.import_crews,
        }
        # A company's mappings are held all run long while its ExakTime writes (and its
        # lists, while Procore answers slowly) go on threads of their own: the same
        # settings as an export's (see there).
        with fewer_collections(), quick_handoffs():
            self._run_steps(chosen, steps)

    def _run_steps(self, chosen: set[str], steps: dict) -> None:
        try:
            for entity in ENTITIES:
                if entity in chosen:
                    steps[entity]()
                    self.twins.drain()
                    self.recorder.flush()
                    self.failing_records.save()
                    if entity not in self.lists.part_failures:
                        self.completed.add(entity)
        finally:
            self._ahead.close()
            self.twins.close()  # writes still out are saved even when the run stops
            self.reference.save_kept()  # so are the sub-job lists read

    # --- employees -----------------------------------------------------------------

    def import_employees(self) -> None:
        kind = EntityType.EMPLOYEE
        since = self.since.get("employees")
        workers = self._workers_to_import(since)  # all, the changed, the failing
        if workers is None:
            return
        seen: set[int] = set()
        gone: set[int] = set()  # read, and no longer to be an active employee
        context = {"work_classifications": self.work_classifications()}
        for worker in self.only.among(kind, workers):
            self.failing_records.went_through(kind, worker)
            verdict = self.import_worker(worker, context)
            if verdict is not None:
                (seen if verdict else gone).add(worker.id)
        if since is None:  # only a full list shows who is gone
            self.deactivate_missing(kind, seen)
        else:  # who changed shows who stopped being an employee; who left is listed apart
            self.deactivate_listed(kind, sorted(gone | self._inactive_workers()))

    def import_worker(self, worker, context: dict) -> bool | None:
        """Import one worker: True when seen (its twin stays active), False when no
        longer to be an active employee (its twin is deactivated), else None."""
        kind = EntityType.EMPLOYEE
        name = rules.person_name(worker)
        if self.twins.skipped_as_ignored(kind, worker.id, name):
            return True  # ignored is not gone: its twin is left as it is
        if worker.problems:
            self.unreadable(kind, worker.id, name, worker.problems)
            return True  # unreadable is not gone: its twin stays as it is
        if not worker.is_employee:
            self.twins.row(
                kind,
                Outcome.SKIPPED,
                worker.id,
                name=name,
                message="Not an employee in Procore (Is Employee is off), so not imported.",
            )
            return False
        if not worker.is_active:
            return False
        if not (worker.employee_id or "").strip():
            self.twins.row(
                kind,
                Outcome.FAILED,
                worker.id,
                name=name,
                message=(
                    f"{name} has no Employee ID in Procore's Directory. Enter one on the "
                    f"worker's Directory page in Procore, {RERUN_HINT}."
                ),
            )
            return None
        fields = rules.apply(rules.EMPLOYEE, worker, context)
        # Export books the worker's hours with this classification.
        facts = EntityMapping.data_of(work_classification_id=worker.work_classification_id)
        self.twins.write(
            Twin(kind, worker.id, name, fields, rules.labels(rules.EMPLOYEE), data=facts),
            wait=False,
        )
        return True

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
            listing = self.lists.read(EntityType.LOCATION, "projects", self.procore.projects)
            if listing is None:
                return None
            self._projects = list(listing)
        return self._projects

    def import_locations(self) -> None:
        kind = EntityType.LOCATION
        since = self.since.get("locations")
        projects = self._projects_to_import(since)
        if projects is None:
            return
        self.recorder.expect(kind, len(projects))
        seen: set[int] = set()
        seen_sub_jobs: set[int] = set()
        families = []  # (project, what `_sub_jobs_of` found), written once answered
        self._read_sub_jobs_ahead(projects)
        for project in projects:
            family = self.only.project(project.id)
            self.failing_records.went_through(kind, project)
            if project.problems:
                # Unreadable is not gone: neither it nor its sub-jobs are deactivated.
                seen.add(project.id)
                seen_sub_jobs |= self.sub_jobs_mapped_to(project.id)
                if family.location:
                    self.unreadable(kind, project.id, project.name, project.problems)
                continue
            if not project.active:
                if since is not None:  # a full read deactivates it as not seen, below
                    self.deactivate_project(project.id)
                continue
            seen.add(project.id)
            if family.location:
                fields = rules.apply(rules.LOCATION, project, {})
                self.twins.write(
                    Twin(kind, project.id, project.name, fields, rules.labels(rules.LOCATION)),
                    wait=False,
                )
            if self.connection.import_sub_jobs:
                kept = self._kept_sub_jobs(project)  # a failing project's, not read again
                if kept is None or not self._family_from_kept(project, family, kept):
                    found = self._sub_jobs_of(project, family, category=kept is None)
                    families.append((project, found))
        self.reference.save_kept()
        # Sub-jobs name their project's location and category by ExakTime id: every
        # project's are answered first (while their sub-jobs were being read).
        self.twins.drain()
        for project, found in families:
            written = self._write_sub_jobs(project, found)
            seen_sub_jobs |= written
            if since is not None and not self.only.is_rerun:
                # A changed project's sub-jobs were read whole: one not among them
                # is gone. (An unchanged project's wait for the next full pass.)
                mapped = self.sub_jobs_mapped_to(project.id)
                self.deactivate_missing(EntityType.SUB_JOB, written, among=mapped)
        self._write_project_groups()
        if since is None:
            self.deactivate_missing(kind, seen)
            if self.connection.import_sub_jobs and not self.only.is_rerun:
                self.deactivate_missing(EntityType.SUB_JOB, seen_sub_jobs)

    def _read_sub_jobs_ahead(self, projects: list[Project]) -> None:
        """Start reading, a few at a time, the sub-job lists the loop over ``projects``
        will ask for, in its order (`_sub_jobs_of` takes them)."""
        if not self.connection.import_sub_jobs:
            return
        wanted = [
            project
            for project in projects
            if not project.problems
            and project.active
            and self.only.project(project.id).reads_sub_jobs
            and self._kept_sub_jobs(project) is None
        ]
        self._ahead.close()
        self._ahead = ReadAhead(
            self.procore,
            settings.LINX_PROCORE_READS_AT_ONCE,
            ((p.id, lambda client, p=p: client.sub_jobs(p.id)) for p in wanted),
        )

    def deactivate_project(self, project_id: int) -> None:
        """A project Procore shows as inactive: its location and its sub-jobs' go too."""
        self.deactivate_listed(EntityType.LOCATION, [project_id])
        if self.connection.import_sub_jobs:
            mapped = sorted(self.sub_jobs_mapped_to(project_id))
            self.deactivate_listed(EntityType.SUB_JOB, mapped)

    def import_sub_jobs(self, project: Project, family: ProjectFamily) -> set[int]:
        """One project's sub-jobs as locations under it (its location is written by now);
        its category and group if chosen, as far as the run redoes the project's family.
        The ids of the sub-jobs read (the webhook import's way in)."""
        found = self._sub_jobs_of(project, family)
        self.reference.save_kept()
        self.twins.drain()
        written = self._write_sub_jobs(project, found)
        self._write_project_groups()
        return written

    def _sub_jobs_of(
        self, project: Project, family: ProjectFamily, *, category: bool = True
    ) -> tuple[list, ProjectFamily] | None:
        """The project's active sub-jobs, and what the run redoes of its family; its
        category is sent for writing (unless already written: ``category`` False).
        None when there are none to go through."""
        kind = EntityType.SUB_JOB
        if not family.reads_sub_jobs:
            return None  # a re-run of other rows: this project's sub-jobs are not asked for
        if kind in self.lists.refused:
            self._ahead.stop()
            return None  # Procore refused sub-jobs once: that row says how to enable them
        listing = self.lists.read(
            kind,
            f"sub-jobs of project {project.project_number} {project.name!r}",
            lambda: self._ahead.take(project.id, lambda client: client.sub_jobs(project.id)),
        )
        if listing is None:
            return None
        sub_jobs = [s for s in listing if s.active]
        if kind not in self.lists.unsteady:  # read whole: exports may reuse it
            self.reference.keep_sub_jobs(project.id, sub_jobs)
        if not sub_jobs:
            return None
        family = family.with_sub_jobs(s.id for s in sub_jobs)
        if family.whole and category:
            self.project_category(project)
        return sub_jobs, family

    def _write_sub_jobs(
        self, project: Project, found: tuple[list, ProjectFamily] | None
    ) -> set[int]:
        """The project's sub-jobs as locations under it (its location and category are
        answered by now); its group is due if chosen. The ids of the sub-jobs read."""
        if found is None:
            return set()
        sub_jobs, family = found
        seen = set()
        for sub_job in sub_jobs:
            seen.add(sub_job.id)
            if sub_job.problems:
                if sub_job.id in family.sub_jobs:
                    name = rules.sub_job_name(project, sub_job)
                    self.unreadable(EntityType.SUB_JOB, sub_job.id, name, sub_job.problems)
                continue
            if family.whole:
                self.write_sub_job(project, sub_job)
        if self.connection.projects_as_groups and family.whole:
            # Written once every project's sub-jobs are answered: the group lists their ids.
            self._groups_due.append((project, [s.id for s in sub_jobs]))
        return seen

    def write_sub_job(self, project: Project, sub_job) -> None:
        """One sub-job as a location under its project's (and in its category, when
        chosen): their twins are answered by now."""
        fields = rules.apply(rules.SUB_JOB, sub_job, {"project": project})
        fields["parent_job_id"] = self.twins.mapped_id(EntityType.LOCATION, project.id)
        if self.connection.projects_as_categories:
            fields["category_id"] = self.twins.mapped_id(EntityType.LOCATION_CATEGORY, project.id)
        facts = EntityMapping.data_of(project_id=project.id)
        name, labels = rules.sub_job_name(project, sub_job), rules.labels(rules.SUB_JOB)
        twin = Twin(EntityType.SUB_JOB, sub_job.id, name, fields, labels, facts)
        self.twins.write(twin, wait=False)

    def project_category(self, project: Project, *, wait: bool = False) -> None:
        """The project as the location category of its sub-jobs, when chosen (by
        default answered later: its sub-jobs read its id once every project's is)."""
        if not self.connection.projects_as_categories:
            return
        self.twins.write(
            Twin(
                EntityType.LOCATION_CATEGORY,
                project.id,
                project.name,
                rules.apply(rules.PROJECT_CATEGORY, project, {}),
                rules.labels(rules.PROJECT_CATEGORY),
            ),
            wait=wait,
        )

    def _write_project_groups(self) -> None:
        """Each project as a location group of its sub-jobs (their twins, as written
        or as they were when a write failed), when chosen."""
        self.twins.drain()
        for project, sub_job_ids in self._groups_due:
            members = [
                mapped
                for sub_job_id in sub_job_ids
                if (mapped := self.twins.mapped_id(EntityType.SUB_JOB, sub_job_id))
            ]
            self.twins.write(
                Twin(
                    EntityType.LOCATION_GROUP,
                    project.id,
                    project.name,
                    rules.apply(rules.PROJECT_GROUP, project, {"member_ids": members}),
                    rules.labels(rules.PROJECT_GROUP),
                ),
                wait=False,
            )
        self._groups_due = []

    # --- cost codes ----------------------------------------------------------------

    def import_cost_codes(self) -> None:
        kind = EntityType.COST_CODE
        lists = self.lists.read(kind, "cost code lists", self.procore.standard_cost_code_lists)
        if lists is None:
            return
        seen: set[int] = set()
        for code_list in list(lists):
            codes = self.lists.read(
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
            for code in self.only.among(kind, codes):
                if code.problems:
                    # Checked before `is_division`: an unreadable parent is not "none".
                    seen.add(code.id)
                    self.unreadable(kind, code.id, rules.cost_code_name(code), code.problems)
                    continue
                if code.is_division:
                    continue  # divisions themselves are not imported
                if not rules.under_division(code, divisions):
                    self.off_division(code, repr(code_list.name))
                    continue
                if not code.active:
                    continue
                seen.add(code.id)
                self.write_cost_code(code)
        self.deactivate_missing(kind, seen)

    def off_division(self, code, where: str) -> None:
        """A cost code under no division of its list (``where``) fails alone."""
        name = rules.cost_code_name(code)
        self.twins.row(
            EntityType.COST_CODE,
            Outcome.FAILED,
            code.id,
            name=name,
            message=f"Cost code {name} belongs to division id {code.parent_id}, which Procore "
            f"does not list in {where}. Put it under a division in Procore's cost code "
            f"list, {RERUN_HINT}.",
        )

    def write_cost_code(self, code) -> None:
        """One active cost code under a division of its list."""
        fields = rules.apply(rules.COST_CODE, code, {})
        # Export finds the project's cost code by its full code when it is not linked by
        # id; a webhook import trusts the division it was imported under.
        facts = EntityMapping.data_of(full_code=code.full_code, division_id=code.parent_id)
        name, labels = rules.cost_code_name(code), rules.labels(rules.COST_CODE)
        twin = Twin(EntityType.COST_CODE, code.id, name, fields, labels, facts)
        self.twins.write(twin, wait=False)

    # --- crews ---------------------------------------------------------------------

    def import_crews(self) -> None:
        """Crews as employee groups; same-named crews on several projects are one group."""
        if not self.connection.crews_as_groups:
            return
        kind = EntityType.CREW
        projects = self.projects()
        if projects is None:
            return
        by_name, unreadable = crews_by_name(
            self.lists, self.procore, projects, settings.LINX_PROCORE_READS_AT_ONCE
        )
        employees = self.twins.mapping_ids(EntityType.EMPLOYEE)
        by_crew_id = {
            crew_id: mapping
            for mapping in self.twins.mappings_of(kind).values()
            for crew_id in mapping.crew_ids
        }
        if self.only.covers(kind):
            self.recorder.expect(kind, len(by_name) + len(unreadable))
        # Unreadable is not gone: its group stays as it is.
        seen = {by_crew_id[c.id].procore_id for c in unreadable if c.id in by_crew_id}
        for crew in self.only.among(kind, unreadable):
            self.unreadable(kind, crew.id, crew.name, crew.problems)
        for group, asked in self.only.crew_groups(crew_groups(by_name, by_crew_id)):
            procore_id, name, crews = group.procore_id, group.name, group.crews
            seen.add(procore_id)
            with self.twins.recording_failures_only(not asked):
                # An unasked group's row depends on this context: it is answered in it.
                self.twins.write(crew_group(procore_id, name, crews, employees), wait=not asked)
        self.deactivate_missing(kind, seen, delete_group=True)

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
        if not self.only.covers(kind):
            return
        if kind in self.lists.unsteady:
            return  # not seen is not gone this time; the next full pass decides
        for procore_id, mapping in list(self.twins.mappings_of(kind).items()):
            if procore_id in seen or (among is not None and procore_id not in among):
                continue
            self.twins.deactivate(kind, mapping, delete_group=delete_group)

    def deactivate_listed(self, kind: str, gone: Iterable[int | None]) -> None:
        """Deactivate the twins of records Procore itself shows as inactive or not
        imported (a changed-since read, the inactive workers): seen, so certain, even
        when the rest of the list could not be read."""
        if not self.only.covers(kind):
            return
        for procore_id in gone:
            mapping = self.twins.mappings_of(kind).get(procore_id)
            if mapping is not None:
                self.twins.deactivate(kind, mapping)

    # --- helpers -------------------------------------------------------------------

    def unreadable(self, kind: str, procore_id, name: str, problems) -> None:
        """A record Linx could not read as Procore sent it fails alone, naming why."""
        self.twins.row(
            kind,
            Outcome.FAILED,
            procore_id,
            "",
            name,
            message=f"{NOUNS[kind]} {name!r} cannot be imported: {'; '.join(problems)}. "
            f"Correct it in Procore, {RERUN_HINT}.",
        )

    def sub_jobs_mapped_to(self, project_id: int | None) -> set[int]:
        return {
            procore_id
            for procore_id, mapping in self.twins.mappings_of(EntityType.SUB_JOB).items()
            if mapping.project_id == project_id
        }
