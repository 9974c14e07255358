"""Procore crews as ExakTime employee groups: same-named crews on several projects are
one group (see `Importer.import_crews`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from integrations.procore.client import ProcoreClient
from integrations.procore.records import Project
from linx.models import EntityMapping, EntityType
from linx.sync import rules
from linx.sync.procore_lists import ListReader
from linx.sync.read_ahead import ReadAhead
from linx.sync.twins import Twin


class CrewGroup(NamedTuple):
    """Same-named crews on several projects: one employee group in ExakTime."""

    procore_id: int
    name: str
    crews: list
    #: Whether the group already has a twin (a re-run refreshes only those).
    existing: bool


def crews_by_name(
    lists: ListReader, procore: ProcoreClient, projects: list[Project], reads_at_once: int = 1
) -> tuple[dict[str, list], list]:
    """Every active project's crews, readable ones by name, and the unreadable ones.

    The lists are read up to ``reads_at_once`` at a time, taken in the projects' order."""
    by_name: dict[str, list] = defaultdict(list)
    unreadable = []
    active = [p for p in projects if p.active and p.id is not None]
    ahead = ReadAhead(
        procore, reads_at_once, ((p.id, lambda client, p=p: client.crews(p.id)) for p in active)
    )
    try:
        for project in active:
            crews = lists.read(
                EntityType.CREW,
                f"crews of project {project.name!r}",
                lambda project=project: ahead.take(
                    project.id, lambda client: client.crews(project.id)
                ),
            )
            for crew in crews or ():
                if crew.problems:
                    unreadable.append(crew)
                else:
                    by_name[crew.name].append(crew)
    finally:
        ahead.close()
    return by_name, unreadable


def crew_groups(
    by_name: Mapping[str, list], by_crew_id: Mapping[int, EntityMapping]
) -> Iterator[CrewGroup]:
    """Same-named crews as one group each, by name, with the group's Procore id: its
    twin's when it has one, else its first crew's."""
    for name, crews in sorted(by_name.items()):
        crew_ids = sorted(c.id for c in crews)
        mapping = next((by_crew_id[c] for c in crew_ids if c in by_crew_id), None)
        procore_id = mapping.procore_id if mapping else crew_ids[0]
        yield CrewGroup(procore_id, name, crews, existing=mapping is not None)


def crew_group(procore_id: int, name: str, crews: list, employees: Mapping[int, int]) -> Twin:
    """The employee group twin of same-named crews, holding their employees' twins
    (``employees``: ExakTime id by Procore id); it keeps each crew's project, so one crew's
    change can read the others one by one."""
    members = sorted({employees[e] for c in crews for e in c.employee_ids if e in employees})
    fields = rules.apply(rules.CREW, crews[0], {"member_ids": members})
    data = EntityMapping.data_of(
        crew_ids=sorted(c.id for c in crews),
        crew_projects={str(c.id): c.project_id for c in crews},
    )
    return Twin(EntityType.CREW, procore_id, name, fields, rules.labels(rules.CREW), data=data)
