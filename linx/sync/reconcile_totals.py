"""A reconciliation's totals, added up line by line as each chunk of days is compared.

Counts per class, hours on each side, and hours per worker, per project and per day,
each with its difference. Matched lines are counted here and then dropped; only the
differing lines are kept (the report lists them, the CSV and XLSX carry them).
"""

from __future__ import annotations

from decimal import Decimal

from linx.models import Connection, EntityMapping, EntityType, SnapshotKind
from linx.sync import snapshot
from linx.sync.reconcile_compare import CLASSES, Line

GROUPS = ("by_worker", "by_project", "by_day")
ZERO = Decimal(0)
NOTHING = (ZERO, ZERO)
#: Workers' sums held as one pair per distinct pair of values (most workers' hours add up
#: to the same few), up to this many pairs, so that odd ones cannot grow it without end.
SHARED_SUMS = 4096


class Tally:
    """Totals of the lines seen so far; see the module docstring."""

    def __init__(self, connection: Connection) -> None:
        self.workers, self.projects = labels(connection)
        self.counts = dict.fromkeys(CLASSES, 0)
        self.both = [ZERO, ZERO]
        #: Per group, per name: (ExakTime hours, Procore hours).
        self.groups: dict[str, dict[str, tuple[Decimal, Decimal]]] = {g: {} for g in GROUPS}
        self.shared: dict[tuple[Decimal, Decimal], tuple[Decimal, Decimal]] = {}

    def add(self, line: Line) -> None:
        self.counts[line.cls] += 1
        hours = (line.exaktime_hours or ZERO, line.procore_hours or ZERO)
        keys = {
            "by_worker": self.workers.label(line.procore_worker_id, line.exaktime_employee_id),
            "by_project": self.projects.get(line.project_id)
            or (f"Procore project {line.project_id}" if line.project_id else "No project"),
            "by_day": line.date.isoformat() if line.date else "No date",
        }
        for group, key in keys.items():
            sums = self.groups[group].get(key, NOTHING)
            sums = (sums[0] + hours[0], sums[1] + hours[1])
            self.groups[group][key] = self.share(sums) if group == "by_worker" else sums
        self.both[0] += hours[0]
        self.both[1] += hours[1]

    def share(self, sums: tuple[Decimal, Decimal]) -> tuple[Decimal, Decimal]:
        """An equal pair of sums already held, if any (only their values are reported)."""
        if not (sums[0] and sums[1]) or len(self.shared) >= SHARED_SUMS:
            return sums  # zeros as they are: Decimal 0 and -0 are equal but print apart
        return self.shared.setdefault(sums, sums)

    def result(self) -> dict:
        exaktime, procore = self.both
        totals: dict = {
            "exaktime_hours": float(exaktime),
            "procore_hours": float(procore),
            "difference": float(procore - exaktime),
            **self.counts,
        }
        for group, sums in self.groups.items():
            totals[group] = [
                {
                    "name": key,
                    "exaktime_hours": float(e),
                    "procore_hours": float(p),
                    "difference": float(p - e),
                }
                for key, (e, p) in sorted(sums.items())
            ]
        return totals


def labels(connection: Connection) -> tuple[Workers, dict[int, str]]:
    """Workers (`Workers`) and projects by Procore id, as people know them."""
    workers, projects = {}, {}
    mappings = EntityMapping.objects.filter(
        connection=connection, entity_type__in=[EntityType.EMPLOYEE, EntityType.LOCATION]
    ).only("entity_type", "procore_id", "name", "data")
    for m in mappings:
        named = " ".join(str(part) for part in (m.identifier, m.name) if part)
        target = workers if m.entity_type == EntityType.EMPLOYEE else projects
        target[m.procore_id] = named or f"id {m.procore_id}"
    return Workers(connection.pk, workers), projects


class Workers:
    """A line's worker as people know them: a linked one by its mapping ("1001 Alex
    Rivera"), an employee linked to no Procore worker by the snapshot's name ("Taylor
    Brooks (ExakTime 100002, not linked)"). ``known`` is shared with the reconciliation's
    planner, so the snapshot is read once per reconciliation."""

    def __init__(self, connection_id: int, by_procore_id: dict[int, str]) -> None:
        self.by_procore_id = by_procore_id
        self.known = snapshot.Known(connection_id)

    def label(self, procore_worker_id: int | None, exaktime_employee_id: int | None) -> str:
        if procore_worker_id is not None:
            return self.by_procore_id.get(procore_worker_id) or (
                f"Procore worker {procore_worker_id}"
            )
        if exaktime_employee_id is None:
            return "Unknown worker"
        if known := self.known.get(SnapshotKind.EMPLOYEE, exaktime_employee_id):
            return f"{known.name} (ExakTime {exaktime_employee_id}, not linked)"
        return f"ExakTime employee {exaktime_employee_id} (not linked)"
