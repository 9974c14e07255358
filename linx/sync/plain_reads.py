"""What a plain (changed-since) import reads of workers and projects, and what it goes
through: the records Procore lists as changed, and the failing ones.

A record whose import is failing is tried again by every plain import, though Procore
does not list it as changed (what broke it may have been fixed in ExakTime or in Linx).
Procore has no filter by id, so Linx keeps each failing worker's and project's record as
it last read it (on its open failure): a record Procore does not list as changed since
then is still exactly that, and is tried again from it without another read. Only when
a failing record has nothing kept (it failed before records were kept, or what fails is
one of a project's sub-jobs, its category or its group) is the whole list read, and gone
through for the changed and the failing records, as before.

A project tried again only because it is failing (its location, category or group) is
not changed, and neither are its sub-jobs as far as a plain import can tell (it reads
sub-jobs only of changed projects). While its kept sub-job list (see `reference`) is
fresh, none of them is failing and its location is not, they are not read again: its
category and group are written from the kept list. When that category is created just
now, its sub-jobs (written without it) are read and written again with it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from integrations.procore.records import Project, Worker
from linx.models import Connection, EntityType, OpenFailure, RunKind, SyncRun

#: The record types kept on their open failure, by entity type.
KEPT = {EntityType.EMPLOYEE: Worker, EntityType.LOCATION: Project}
#: The failures each keeps its record on: a project's on its location's, category's, group's.
KEPT_ON = {
    EntityType.EMPLOYEE: (EntityType.EMPLOYEE,),
    EntityType.LOCATION: (
        EntityType.LOCATION,
        EntityType.LOCATION_CATEGORY,
        EntityType.LOCATION_GROUP,
    ),
}

#: A failing sub-job whose project is not known: every project is gone through again.
ALL_PROJECTS: frozenset[int] = frozenset({-1})


def record_data(record) -> dict[str, Any]:
    """A worker's or project's fields as JSON (dates and times tagged)."""
    data = {}
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, datetime):
            value = {"datetime": value.isoformat()}
        elif isinstance(value, date):
            value = {"date": value.isoformat()}
        elif isinstance(value, tuple):
            value = list(value)
        data[field.name] = value
    return data


def record_from(kind: str, data: dict[str, Any]):
    """The record `record_data` kept."""
    cls = KEPT[kind]
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in data:
            continue
        value = data[field.name]
        if isinstance(value, dict) and "datetime" in value:
            value = datetime.fromisoformat(value["datetime"])
        elif isinstance(value, dict) and "date" in value:
            value = date.fromisoformat(value["date"])
        elif isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return cls(**values)


class FailingRecords:
    """One import run's kept failing records: read before they are tried again, and
    saved on the open failures the run's rows opened or kept (real runs only)."""

    def __init__(self, connection: Connection, run: SyncRun | None, dry_run: bool) -> None:
        self.connection = connection
        self.run = run
        self.dry_run = dry_run
        self._went_through: dict[str, dict[int, Any]] = defaultdict(dict)

    def kept(self, kind: str, ids: set[int]) -> dict[int, Any] | None:
        """The kept records of these failing ids; None when one of them has none."""
        rows = (
            OpenFailure.objects.filter(
                connection=self.connection,
                kind=RunKind.IMPORT,
                entity_type__in=KEPT_ON[kind],
                procore_id__in=sorted(ids),
                procore_record__isnull=False,
            )
            .order_by("last_seen_at")
            .values_list("procore_id", "procore_record")
        )  # newest wins
        try:
            found = {procore_id: record_from(kind, data) for procore_id, data in rows}
        except (TypeError, ValueError, KeyError):  # kept by another version: read again
            return None
        return found if ids and ids <= set(found) else None

    def went_through(self, kind: str, record) -> None:
        if kind in KEPT and record.id is not None and not self.dry_run:
            self._went_through[kind][record.id] = record

    def save(self) -> None:
        """Keep, on each open failure this run's rows left, the record as this run read it
        (called once the rows are written)."""
        went_through, self._went_through = self._went_through, defaultdict(dict)
        if self.dry_run or self.run is None:
            return
        for kind, records in went_through.items():
            failing = list(
                OpenFailure.objects.filter(
                    connection=self.connection,
                    kind=RunKind.IMPORT,
                    entity_type__in=KEPT_ON[kind],
                    last_run=self.run,
                    procore_id__isnull=False,
                ).only("pk", "procore_id", "procore_record")
            )
            changed = []
            for failure in failing:
                record = records.get(failure.procore_id)
                data = None if record is None else record_data(record)
                if data is not None and data != failure.procore_record:
                    failure.procore_record = data
                    changed.append(failure)
            OpenFailure.objects.bulk_update(changed, ["procore_record"])


class PlainReads:
    """The reads of a plain import (a mixin of `imports.Importer`, see the module)."""

    def _workers_to_import(self, since: datetime | None) -> Iterable[Worker] | None:
        kind = EntityType.EMPLOYEE
        failing = self.failing.get(kind, set()) if since else set()
        kept = self.failing_records.kept(kind, failing) if failing else None
        # Failing workers with nothing kept: the whole list (Procore has no filter by id),
        # gone through for the changed and the failing ones only.
        read_since = None if failing and kept is None else since
        # Read to the end: the next page is asked for while one is gone through.
        workers = self.lists.read(
            kind,
            "workers",
            lambda: self.procore.workers(updated_since=read_since, pages_ahead=True),
        )
        if workers is None:
            return None
        if failing and kept is None:
            return self.lists.changed_or_failing(kind, workers, since, failing)
        if kept:
            # A failing worker made inactive is in the inactive list, not tried again.
            return self._changed_then_kept(kind, workers, kept, self._inactive_workers())
        return self.lists.counted(kind, workers)

    def _changed_then_kept(self, kind: str, listing, kept: dict, leave_out: set[int]) -> Iterator:
        """The changed records as Procore lists them, then the kept failing ones it did
        not list (none of ``leave_out``)."""
        extra = {i: r for i, r in kept.items() if i not in leave_out}
        total = getattr(listing, "total", None)
        self.recorder.expect(kind, (total or 0) + len(extra))
        for record in listing:
            extra.pop(record.id, None)
            yield record
        if kind in self.lists.unsteady:
            return  # the list was cut short or moved: a kept one may have changed unseen
        for _, record in sorted(extra.items()):
            self.retried_only.add((kind, record.id))
            yield record

    def _inactive_workers(self) -> set[int]:
        """Procore's inactive workers, read whole (one list, once per run): a
        changed-since read of the active workers cannot show who was made inactive."""
        if self._inactive is None:
            listing = self.lists.read(
                EntityType.EMPLOYEE, "inactive workers", self.procore.inactive_workers
            )
            self._inactive = set() if listing is None else {w.id for w in listing if w.id}
        return self._inactive

    def _projects_to_import(self, since: datetime | None) -> list[Project] | None:
        """The projects an import goes through: all (a full pass), the changed ones, or
        the changed and the failing ones; None when Procore refused the list."""
        kind = EntityType.LOCATION
        if since is None:
            return self.projects()
        failing = self._failing_projects()
        kept = None
        if failing and failing is not ALL_PROJECTS:
            kept = self.failing_records.kept(kind, failing)
        if failing and kept is None:
            # Retrying failing locations: the whole list of every status (no filter by
            # id), gone through for the changed projects (made inactive ones included)
            # and the failing ones only.
            listing = self.lists.read(kind, "projects", lambda: self.procore.projects("All"))
            if listing is None:
                return None
            listing = list(listing)
            if self._projects is None:  # crews need the active ones: no second read
                self._projects = [p for p in listing if p.active is not False]
            everything = failing is ALL_PROJECTS
            return self.lists.changed_or_failing(kind, listing, since, failing, everything)
        # Of every status: a project made inactive is a change too.
        listing = self.lists.read(
            kind,
            "changed projects",
            lambda: self.procore.projects("All", updated_since=since),
        )
        if listing is None:
            return None
        return list(self._changed_then_kept(kind, listing, kept or {}, set()))

    def _failing_projects(self) -> set[int]:
        """Projects whose location, group, category or a sub-job is failing.

        ``ALL_PROJECTS`` when a failing sub-job's project is not known (it never got
        a mapping): every project's sub-jobs are read again, as a full pass does.
        """
        projects = set()
        for kind in (EntityType.LOCATION, EntityType.LOCATION_GROUP, EntityType.LOCATION_CATEGORY):
            projects |= self.failing.get(kind, set())
        for sub_job_id in self.failing.get(EntityType.SUB_JOB, set()):
            mapping = self.twins.mappings_of(EntityType.SUB_JOB).get(sub_job_id)
            project = mapping.project_id if mapping else None
            if project is None:
                return ALL_PROJECTS
            projects.add(project)
        return projects

    def _kept_sub_jobs(self, project: Project) -> set[int] | None:
        """A project tried again only because it is failing: its active sub-jobs as
        kept, when they need not be read again (see the module); None: read them."""
        if (EntityType.LOCATION, project.id) not in self.retried_only:
            return None
        kept = self.reference.kept_sub_jobs(project.id)
        if not kept:
            return kept  # None: nothing kept, or too old; empty: nothing under it
        if project.id in self.failing.get(EntityType.LOCATION, set()):
            return None  # its sub-jobs were written without their parent location
        if kept & self.failing.get(EntityType.SUB_JOB, set()):
            return None
        return kept

    def _family_from_kept(self, project: Project, family, kept: set[int]) -> bool:
        """The project's category (answered now) and group from its kept sub-jobs;
        False when the category was created just now, so its sub-jobs, written without
        it, must be read and written again."""
        if not kept or not family.whole:
            return True
        if self.connection.projects_as_categories:
            had = self.twins.mapped_id(EntityType.LOCATION_CATEGORY, project.id)
            self.project_category(project, wait=True)
            if not had and self.twins.mapped_id(EntityType.LOCATION_CATEGORY, project.id):
                return False
        if self.connection.projects_as_groups:
            self._groups_due.append((project, sorted(kept)))
        return True
