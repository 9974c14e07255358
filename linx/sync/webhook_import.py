"""Applying Procore's change notices: each changed record read once, then imported as usual.

A notice says what changed, never the new values. Each record named by the waiting
notices is read back with one single-record read (a 404, or an inactive record,
deactivates its twin) and handed to the same `Importer` steps, rules, fingerprints and
row results as any import:

- a worker: that worker;
- a project: that project, then its sub-jobs (one no longer among them is gone);
- a sub-job: that sub-job, written under its project's location as that twin was last
  written; the project itself is read (one record) only when its location, or its
  category when projects are categories, has no twin yet, and is written first.
  Several sub-jobs of one project: that project's sub-jobs list, one request for all;
- a crew (crews as groups): that crew, and the other crews of its group one by one (a
  group holds the employees of every same-named crew); a group of one crew: one read;
- a standard cost code: that code, and its division only when the code's twin does not
  already hold that division.

Read whole, as a scheduled import reads it, only where one record cannot decide:

- a sub-job notice naming no project, about a sub-job Linx does not know: every
  project's sub-jobs (`import_locations`);
- a sub-job that joins or leaves its project's location group (projects as groups): its
  project and that project's sub-jobs, as a project notice (the group lists them all);
- a crew notice naming no project, a crew renamed out of a group it shares or into a
  group that exists, or a group whose twin does not hold its crews' projects (written
  before they were kept): every crew (`import_crews`);
- a standard cost code gone (404) that Linx never imported, when it may have been the
  division of imported codes (one of their twins does not hold its division): every
  cost code (`import_cost_codes`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from integrations.procore.errors import ProcoreError
from integrations.procore.records import Project
from linx.models import EntityType, Outcome, WebhookEvent
from linx.sync import rules
from linx.sync.crew_groups import crew_group
from linx.sync.imports import Importer
from linx.sync.runs import stop_unless_only_this_list
from linx.sync.twins import RERUN_HINT, Twin

#: Procore's resource names (contract, modelled) → the import entity each changes.
RESOURCES = {
    "Company Users": "employees",
    "Projects": "locations",
    "Sub Jobs": "locations",
    "Crews": "crews",
    "Standard Cost Codes": "cost_codes",
}


def entities_of(events: Iterable[WebhookEvent]) -> list[str]:
    """The import entities a set of notices touches, in import order."""
    from linx.sync.imports import ENTITIES

    touched = {RESOURCES[e.resource_name] for e in events if e.resource_name in RESOURCES}
    return [entity for entity in ENTITIES if entity in touched]


class WebhookImport:
    """One webhook run's work: the records its notices name, each read once."""

    def __init__(self, importer: Importer, events: Iterable[WebhookEvent]) -> None:
        self.importer = importer
        self.procore = importer.procore
        self.twins = importer.twins
        self.connection = importer.connection
        self.workers: set[int] = set()
        self.projects: set[int] = set()
        self.sub_jobs: dict[int, int | None] = {}  # sub-job → its project, when named
        self.crews: dict[int, int | None] = {}  # crew → its project, when named
        self.codes: set[int] = set()
        self.whole: set[str] = set()
        self._codes_read: dict[int, tuple] = {}  # standard cost codes read this run
        for event in events:
            self._take(event)

    def _take(self, event: WebhookEvent) -> None:
        resource, record = event.resource_name, event.resource_id
        if resource == "Company Users":
            self.workers.add(record)
        elif resource == "Projects":
            self.projects.add(record)
        elif resource == "Sub Jobs" and self.connection.import_sub_jobs:
            self.sub_jobs[record] = event.project_id or self.sub_jobs.get(record)
        elif resource == "Crews" and self.connection.crews_as_groups:
            self.crews[record] = event.project_id or self.crews.get(record)
        elif resource == "Standard Cost Codes":
            self.codes.add(record)

    def run(self) -> None:
        importer = self.importer
        context = {"work_classifications": importer.work_classifications()}
        try:
            for worker_id in sorted(self.workers):
                self._worker(worker_id, context)
            self._settle()  # employees' writes go out several at once
            self._sub_jobs()
            self._settle()
            if "locations" in self.whole:
                importer.import_locations()
            else:
                for project_id in sorted(self.projects):
                    self._project(project_id)
            self._settle()
            for code_id in sorted(self.codes):
                if "cost_codes" not in self.whole:
                    self._cost_code(code_id)
            self._settle()
            for crew_id, project_id in sorted(self.crews.items()):
                if "crews" not in self.whole:
                    self._crew(crew_id, project_id)
            self._settle()
        finally:
            importer.twins.close()  # writes still out are saved even when the run stops
        for entity in ("cost_codes", "crews"):
            if entity in self.whole:
                importer.run([entity])

    def _settle(self) -> None:
        self.twins.drain()
        self.importer.recorder.flush()

    def _read(self, kind: str, record_id: int, what: str, read, *args):
        """One single-record read; a refusal fails that record's row alone."""
        try:
            return read(*args, record_id), True
        except ProcoreError as error:
            failure = stop_unless_only_this_list(error, what)
            self.twins.row(
                kind,
                Outcome.FAILED,
                record_id,
                name=what,
                message=f"Linx could not read {what} from Procore: {failure.message} "
                f"Then {RERUN_HINT}.",
                retryable=failure.retry_may_help,
                hint=failure.hint,
            )
            return None, False

    # --- workers and projects ------------------------------------------------------

    def _worker(self, worker_id: int, context: dict) -> None:
        kind = EntityType.EMPLOYEE
        worker, read = self._read(kind, worker_id, f"worker {worker_id}", self.procore.worker)
        if not read:
            return
        # Gone (404) or no longer an active employee: its twin is deactivated.
        if worker is None or self.importer.import_worker(worker, context) is False:
            self.importer.deactivate_listed(kind, [worker_id])

    def _project(self, project_id: int) -> None:
        project = self._location(project_id)
        if project is not None and self.connection.import_sub_jobs:
            self._sub_jobs_of(project)

    def _sub_jobs_of(self, project: Project) -> None:
        """The project's sub-jobs, read whole: one no longer among them is gone."""
        importer = self.importer
        found = importer.import_sub_jobs(project, importer.only.project(project.id))
        mapped = importer.sub_jobs_mapped_to(project.id)
        importer.deactivate_missing(EntityType.SUB_JOB, found, among=mapped)

    def _location(self, project_id: int) -> Project | None:
        """Read one project and write its location; None when it is not (gone or
        inactive: deactivated with its sub-jobs; unreadable: its row says why)."""
        kind = EntityType.LOCATION
        project, read = self._read(kind, project_id, f"project {project_id}", self.procore.project)
        if not read:
            return None
        importer = self.importer
        if project is None or project.active is False:
            importer.deactivate_project(project_id)
            return None
        if project.problems:
            importer.unreadable(kind, project.id, project.name, project.problems)
            return None
        fields = rules.apply(rules.LOCATION, project, {})
        self.twins.write(Twin(kind, project.id, project.name, fields, rules.labels(rules.LOCATION)))
        return project

    # --- sub-jobs ------------------------------------------------------------------

    def _sub_jobs(self) -> None:
        """One sub-job read alone; several of one project: that project's list, once."""
        by_project: dict[int, list[int]] = defaultdict(list)
        for sub_job_id, project_id in sorted(self.sub_jobs.items()):
            mapping = self.twins.mapping(EntityType.SUB_JOB, sub_job_id)
            project_id = project_id or (mapping.project_id if mapping else None)
            if project_id is None:
                self.whole.add("locations")  # no project named, none known: read them all
                return
            by_project[project_id].append(sub_job_id)
        for project_id, sub_job_ids in by_project.items():
            if project_id in self.projects:
                continue  # its project is read with its sub-jobs anyway
            if len(sub_job_ids) == 1:
                self._sub_job(sub_job_ids[0], project_id)
            elif project := self._project_of(project_id):
                self._sub_jobs_of(project)

    def _sub_job(self, sub_job_id: int, project_id: int) -> None:
        kind = EntityType.SUB_JOB
        mapping = self.twins.mapping(kind, sub_job_id)
        grouped = self.connection.projects_as_groups
        if grouped and mapping is None:
            self.projects.add(project_id)  # it may join the project's group
            return
        what = f"sub-job {sub_job_id}"
        sub_job, read = self._read(kind, sub_job_id, what, self.procore.sub_job, project_id)
        if not read:
            return
        if sub_job is None or not sub_job.active:
            if grouped:
                self.projects.add(project_id)  # it leaves the project's group
            else:
                self.importer.deactivate_listed(kind, [sub_job_id])
            return
        project = self._project_of(project_id)
        if project is None:
            return
        if sub_job.problems:
            name = rules.sub_job_name(project, sub_job)
            self.importer.unreadable(kind, sub_job.id, name, sub_job.problems)
            return
        self.importer.write_sub_job(project, sub_job)

    def _project_of(self, project_id: int) -> Project | None:
        """The project a sub-job is written under: as its location was last written, or
        read and written first when its location (or category) has no twin yet."""
        mapping = self.twins.mapping(EntityType.LOCATION, project_id)
        written = mapping.last_written if mapping and mapping.exaktime_id else {}
        uncategorised = self.connection.projects_as_categories and not self.twins.mapped_id(
            EntityType.LOCATION_CATEGORY, project_id
        )
        if written.get("identifier") and written.get("name") and not uncategorised:
            return Project(
                id=project_id,
                project_number=written["identifier"],
                name=written["name"],
                active=written.get("is_active") is not False,
            )
        project = self._location(project_id)
        if project is not None:
            self.importer.project_category(project)
            self.twins.drain()  # the sub-job names their ExakTime ids
        return project

    # --- standard cost codes -------------------------------------------------------

    def _code(self, code_id: int) -> tuple:
        """One standard cost code, read once per run (a division serves its codes)."""
        if code_id not in self._codes_read:
            what = f"standard cost code {code_id}"
            self._codes_read[code_id] = self._read(
                EntityType.COST_CODE, code_id, what, self.procore.standard_cost_code
            )
        return self._codes_read[code_id]

    def _cost_code(self, code_id: int) -> None:
        kind, importer = EntityType.COST_CODE, self.importer
        code, read = self._code(code_id)
        if not read:
            return
        mapping = self.twins.mapping(kind, code_id)
        if code is None and mapping is None:
            if self._may_be_a_division(code_id):
                self.whole.add("cost_codes")
            return
        if code is None or (not code.problems and (code.is_division or not code.active)):
            importer.deactivate_listed(kind, [code_id])  # gone, a division now, or inactive
            return
        if code.problems:
            importer.unreadable(kind, code.id, rules.cost_code_name(code), code.problems)
            return
        if mapping is None or mapping.division_id != code.parent_id:
            division, read = self._code(code.parent_id)
            if not read:
                return
            if division is None or not division.is_division or division.list_id != code.list_id:
                importer.off_division(code, "its cost code list")
                importer.deactivate_listed(kind, [code_id])
                return
        importer.write_cost_code(code)

    def _may_be_a_division(self, code_id: int) -> bool:
        """Whether a gone code Linx never imported was the division of imported ones."""
        mappings = self.twins.mappings_of(EntityType.COST_CODE).values()
        return any(m.division_id in (None, code_id) for m in mappings if m.exaktime_id)

    # --- crews ---------------------------------------------------------------------

    def _crew(self, crew_id: int, project_id: int | None) -> None:
        kind = EntityType.CREW
        if project_id is None:
            self.whole.add("crews")  # no project named: a crew is read within its project
            return
        crew, read = self._read(kind, crew_id, f"crew {crew_id}", self.procore.crew, project_id)
        if not read:
            return
        if crew is not None and crew.problems:
            self.importer.unreadable(kind, crew.id, crew.name, crew.problems)
            return
        groups = self.twins.mappings_of(kind).values()
        was = next((m for m in groups if crew_id in m.crew_ids), None)
        if crew is None:
            if was is not None:
                self._regroup(was, [], leaving=crew_id)
            return
        named = next((m for m in groups if m.name == label(crew.name)), None)
        if was is not None and was is named:
            self._regroup(was, [crew], leaving=crew_id)
        elif was is None and named is not None:
            self._regroup(named, [crew], leaving=crew_id)  # it joins a group
        elif named is None and (was is None or was.crew_ids == [crew_id]):
            # A new group, or a group of one crew renamed with it.
            procore_id = was.procore_id if was is not None else crew_id
            self._write_group(procore_id, crew.name, [crew])
        else:
            self.whole.add("crews")  # renamed out of a group it shares, or into another

    def _regroup(self, group, fresh: list, *, leaving: int) -> None:
        """Write a group again: ``fresh`` crews and its other crews, read one by one."""
        projects = group.crew_projects
        others = [c for c in group.crew_ids if c != leaving]
        if any(c not in projects for c in others):
            self.whole.add("crews")  # its crews' projects are not kept yet
            return
        crews, name = list(fresh), label(fresh[0].name) if fresh else group.name
        for other in others:
            crew, read = self._read(
                EntityType.CREW, other, f"crew {other}", self.procore.crew, projects[other]
            )
            if not read:
                return  # its row says why; the group is written by a later import
            if crew is not None and not crew.problems and label(crew.name) == name:
                crews.append(crew)  # still of this group
        if crews:
            self._write_group(group.procore_id, crews[0].name, crews)
        else:  # its last crew is gone: the group stays, emptied, as a full import leaves it
            self.twins.deactivate(EntityType.CREW, group, delete_group=True)

    def _write_group(self, procore_id: int, name: str, crews: list) -> None:
        employees = self.twins.mapping_ids(EntityType.EMPLOYEE)
        self.twins.write(crew_group(procore_id, name, crews, employees), wait=False)


def label(name: str) -> str:
    """A name as a twin's mapping keeps it."""
    return rules.safe_label(name)[:255]
