"""Applying Procore's change notices: each changed record read once, then imported as usual.

A notice says what changed, never the new values. Each record named by the waiting
notices is read back with one single-record read (a 404, or an inactive record,
deactivates its twin) and handed to the same `Importer` steps, rules, fingerprints and
row results as any import. Crews and cost codes hang together (a crew group lists
workers of several projects; a cost code needs its division), so a notice about either
reads that part whole, as a scheduled import does.
"""

from __future__ import annotations

from collections.abc import Iterable

from integrations.procore.errors import ProcoreError
from linx.models import EntityType, Outcome, WebhookEvent
from linx.sync import rules
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
        self.workers: set[int] = set()
        self.projects: set[int] = set()
        self.whole: set[str] = set()
        for event in events:
            if event.resource_name == "Company Users":
                self.workers.add(event.resource_id)
            elif event.resource_name == "Projects":
                self.projects.add(event.resource_id)
            elif event.resource_name == "Sub Jobs" and event.project_id:
                self.projects.add(event.project_id)  # its sub-jobs are read with it
            elif event.resource_name == "Sub Jobs":
                self.whole.add("locations")  # no project named: read them all
            elif event.resource_name in RESOURCES:
                self.whole.add(RESOURCES[event.resource_name])

    def run(self) -> None:
        importer = self.importer
        context = {"work_classifications": importer.work_classifications()}
        try:
            for worker_id in sorted(self.workers):
                self._worker(worker_id, context)
            importer.twins.drain()  # employees' writes go out several at once
            importer.recorder.flush()
            if "locations" in self.whole:
                importer.import_locations()
            else:
                for project_id in sorted(self.projects):
                    self._project(project_id)
            importer.twins.drain()
            importer.recorder.flush()
        finally:
            importer.twins.close()  # writes still out are saved even when the run stops
        for entity in ("cost_codes", "crews"):
            if entity in self.whole:
                importer.run([entity])

    def _read(self, kind: str, record_id: int, what: str, read):
        """One single-record read; a refusal fails that record's row alone."""
        try:
            return read(record_id), True
        except ProcoreError as error:
            failure = stop_unless_only_this_list(error, what)
            self.importer.twins.row(
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

    def _worker(self, worker_id: int, context: dict) -> None:
        kind = EntityType.EMPLOYEE
        worker, read = self._read(kind, worker_id, f"worker {worker_id}", self.procore.worker)
        if not read:
            return
        # Gone (404) or no longer an active employee: its twin is deactivated.
        if worker is None or self.importer.import_worker(worker, context) is False:
            self.importer.deactivate_listed(kind, [worker_id])

    def _project(self, project_id: int) -> None:
        kind = EntityType.LOCATION
        project, read = self._read(kind, project_id, f"project {project_id}", self.procore.project)
        if not read:
            return
        importer = self.importer
        if project is None or project.active is False:
            importer.deactivate_project(project_id)
            return
        if project.problems:
            importer.unreadable(kind, project.id, project.name, project.problems)
            return
        fields = rules.apply(rules.LOCATION, project, {})
        importer.twins.write(
            Twin(kind, project.id, project.name, fields, rules.labels(rules.LOCATION))
        )
        if importer.connection.import_sub_jobs:
            # The project's sub-jobs, read whole: one no longer among them is gone.
            found = importer.import_sub_jobs(project, importer.only.project(project.id))
            mapped = importer.sub_jobs_mapped_to(project.id)
            importer.deactivate_missing(EntityType.SUB_JOB, found, among=mapped)
