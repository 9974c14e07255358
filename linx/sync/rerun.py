"""What a run is for: every record, or a re-run's records and the families redone with
them (`Only`); one project's family as a run redoes it (`ProjectFamily`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from linx.models import EntityType


@dataclass(frozen=True)
class ProjectFamily:
    """What a run redoes of one project's family.

    A re-run that redoes any of a project's family (its location, category, group or a
    sub-job) redoes all of it: what was written while one of them was missing (sub-jobs
    without their parent location or category, a group without members) is completed
    with it. Unchanged ones cost nothing.
    """

    #: Its location (or, unreadable, its row).
    location: bool
    #: Its sub-jobs, category and group, as one.
    whole: bool
    #: The sub-jobs asked for by themselves (their rows when unreadable); None: every one.
    sub_jobs: frozenset[int] | None

    @property
    def reads_sub_jobs(self) -> bool:
        """Whether its sub-jobs are read at all: a re-run of other rows leaves them."""
        return self.whole or self.sub_jobs is None or bool(self.sub_jobs)

    def with_sub_jobs(self, sub_job_ids: Iterable[int]) -> ProjectFamily:
        """The family once its sub-jobs are read: one asked for redoes the whole family."""
        ids = list(sub_job_ids)
        asked = frozenset(ids if self.sub_jobs is None else self.sub_jobs.intersection(ids))
        return replace(self, whole=self.whole or bool(asked), sub_jobs=asked)


@dataclass(frozen=True)
class Only:
    """The records a re-run is for (entity type → Procore ids, None: all of that type).

    A run that is not a re-run (``ids`` None) is for every record. Records enter an
    import through `among`; families redone as one are worked out where they are read:
    `project` (a project with its sub-jobs, category and group) and `crew_groups` (a
    crew group refreshed for the employees in it).
    """

    ids: Mapping[str, set[int] | None] | None = None

    @property
    def is_rerun(self) -> bool:
        return self.ids is not None

    def covers(self, kind: str) -> bool:
        """Whether the run is for any record of ``kind``."""
        return self.ids is None or kind in self.ids

    def among[T](self, kind: str, records: Iterable[T]) -> Iterator[T]:
        """The records of a list the run is for, as they are read."""
        return (record for record in records if self.wants(kind, record.id))

    def wants(self, kind: str, procore_id: int | None) -> bool:
        """Whether the run is for this record."""
        if self.ids is None:
            return True
        if kind not in self.ids:
            return False
        ids = self.ids[kind]
        return ids is None or procore_id in ids

    def project(self, project_id: int) -> ProjectFamily:
        """What the run redoes of this project's family (see `ProjectFamily`)."""
        parts = (EntityType.LOCATION, EntityType.LOCATION_CATEGORY, EntityType.LOCATION_GROUP)
        sub_jobs = None
        if self.ids is not None:
            asked = self.ids.get(EntityType.SUB_JOB, set())
            sub_jobs = None if asked is None else frozenset(asked)
        return ProjectFamily(
            location=self.wants(EntityType.LOCATION, project_id),
            whole=any(self.wants(part, project_id) for part in parts),
            sub_jobs=sub_jobs,
        )

    def crew_groups[G](self, groups: Iterable[G]) -> Iterator[tuple[G, bool]]:
        """The crew groups the run writes, as they are read, each with whether it was
        asked for. A re-run that redoes employees also refreshes the existing groups of
        crews they are in (an employee created only now joins its group); those were not
        asked for: only a failure of one is a row."""
        for group in groups:
            if self.wants(EntityType.CREW, group.procore_id):
                yield group, True
            elif group.existing and self._has_employees(group.crews):
                yield group, False

    def _has_employees(self, crews: Iterable[Any]) -> bool:
        """Whether a re-run redoes any employee in these crews."""
        return self.is_rerun and any(
            self.wants(EntityType.EMPLOYEE, e) for crew in crews for e in crew.employee_ids
        )

    def deactivates(self, kind: str, procore_id: int) -> bool:
        """Whether the run may deactivate this record's twin: a re-run, only its own."""
        return self.wants(kind, procore_id)

    def leaves(self, kind: str, procore_id: int) -> bool:
        """Whether a re-run leaves this record as it is: what its twin holds (an ID, a
        name) stays taken by it through the run."""
        return self.is_rerun and not self.wants(kind, procore_id)
