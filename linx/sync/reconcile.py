"""A reconciliation: does Procore hold exactly the hours ExakTime's people punched?

`reconcile` records a `Reconciliation` (who, when, the range) before anything is read,
then reads the range's time records and timecard entries in pages, with no database
transaction open, compares them (`reconcile_compare`), and saves the totals and the
differing lines in one write. If a read fails, the reconciliation is saved as failed
with the reason, and no totals or lines: nothing half-reported. It changes nothing in
either system.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.utils import timezone

from integrations.exaktime.errors import ExakTimeError
from integrations.exaktime.records import TimeRecord
from integrations.procore.errors import ProcoreError
from integrations.procore.records import TimecardEntry
from linx.clients import exaktime_client, procore_client
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    Reconciliation,
    ReconciliationStatus,
    RunTrigger,
    User,
)
from linx.sync.classify import classify
from linx.sync.execute import check_secrets, check_service_urls
from linx.sync.export_plan import Planner
from linx.sync.reconcile_compare import CLASSES, MATCHED, Comparer, Line
from linx.sync.runs import RunAborted


class CouldNotReconcile(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def reconcile(
    connection: Connection,
    first_day: date,
    last_day: date,
    *,
    trigger: str = RunTrigger.COMMAND,
    user: User | None = None,
) -> Reconciliation:
    """Compare the range and record it; returns the saved reconciliation."""
    done = Reconciliation.objects.create(
        connection=connection,
        first_day=first_day,
        last_day=last_day,
        trigger=trigger,
        started_by=user if user is not None and user.pk else None,
    )
    try:
        if last_day < first_day:
            raise CouldNotReconcile(f"The range ends ({last_day}) before it starts ({first_day}).")
        lines = compare_range(connection, first_day, last_day)
    except (CouldNotReconcile, RunAborted) as problem:
        done.status = ReconciliationStatus.FAILED
        done.message = f"The reconciliation could not run: {problem.message}"
    else:
        done.totals = totals(connection, lines)
        done.lines = [line.as_json() for line in lines if line.cls != MATCHED]
        differs = any(line.cls != MATCHED for line in lines)
        done.status = ReconciliationStatus.DIFFERENCES if differs else ReconciliationStatus.MATCHED
    done.finished_at = timezone.now()
    done.save()
    return done


def compare_range(connection: Connection, first_day: date, last_day: date) -> list[Line]:
    check_service_urls(connection)
    check_secrets(connection)
    with procore_client(connection) as procore, exaktime_client(connection) as exaktime:
        planner = Planner(
            connection, procore, exaktime, approved_only=connection.export_approved_only
        )
        records = read_records(exaktime, first_day, last_day)
        entries = read_entries(procore, first_day, last_day)
        return Comparer(connection, planner).compare(records, entries)


def read_records(exaktime, first_day: date, last_day: date) -> list[TimeRecord]:
    """The range's time records, in pages; the fresher reading of a record seen twice."""
    try:
        return list({r.id: r for r in exaktime.time_records(first_day, last_day)}.values())
    except ExakTimeError as error:
        raise CouldNotReconcile(
            f"Linx could not read ExakTime's time records: {classify(error).message}"
        ) from error


def read_entries(procore, first_day: date, last_day: date) -> list[TimecardEntry]:
    """Every timecard entry dated within the range, Linx's or not, in pages."""
    try:
        return list({e.id: e for e in procore.timecard_entries(first_day, last_day)}.values())
    except ProcoreError as error:
        raise CouldNotReconcile(
            f"Linx could not read Procore's timecard entries: {classify(error).message}"
        ) from error


# --- totals ---------------------------------------------------------------------------


def totals(connection: Connection, lines: list[Line]) -> dict:
    """Counts per class, hours per side, and hours per worker, project and day."""
    counts = dict.fromkeys(CLASSES, 0)
    workers, projects = labels(connection)
    groups: dict[str, dict[str, list[Decimal]]] = {
        "by_worker": defaultdict(lambda: [Decimal(0), Decimal(0)]),
        "by_project": defaultdict(lambda: [Decimal(0), Decimal(0)]),
        "by_day": defaultdict(lambda: [Decimal(0), Decimal(0)]),
    }
    both = [Decimal(0), Decimal(0)]
    for line in lines:
        counts[line.cls] += 1
        hours = (line.exaktime_hours or Decimal(0), line.procore_hours or Decimal(0))
        keys = {
            "by_worker": worker_label(line, workers),
            "by_project": projects.get(line.project_id)
            or (f"Procore project {line.project_id}" if line.project_id else "No project"),
            "by_day": line.date.isoformat() if line.date else "No date",
        }
        for group, key in keys.items():
            groups[group][key][0] += hours[0]
            groups[group][key][1] += hours[1]
        both[0] += hours[0]
        both[1] += hours[1]
    result: dict = {
        "exaktime_hours": float(both[0]),
        "procore_hours": float(both[1]),
        "difference": float(both[1] - both[0]),
        **counts,
    }
    for group, sums in groups.items():
        result[group] = [
            {
                "name": key,
                "exaktime_hours": float(e),
                "procore_hours": float(p),
                "difference": float(p - e),
            }
            for key, (e, p) in sorted(sums.items())
        ]
    return result


def labels(connection: Connection) -> tuple[dict[int, str], dict[int, str]]:
    """Workers and projects by Procore id, as people know them."""
    workers, projects = {}, {}
    mappings = EntityMapping.objects.filter(
        connection=connection, entity_type__in=[EntityType.EMPLOYEE, EntityType.LOCATION]
    ).only("entity_type", "procore_id", "name", "data")
    for m in mappings:
        named = " ".join(str(part) for part in (m.identifier, m.name) if part)
        target = workers if m.entity_type == EntityType.EMPLOYEE else projects
        target[m.procore_id] = named or f"id {m.procore_id}"
    return workers, projects


def worker_label(line: Line, workers: dict[int, str]) -> str:
    if line.procore_worker_id is not None:
        return workers.get(line.procore_worker_id) or f"Procore worker {line.procore_worker_id}"
    if line.exaktime_employee_id is not None:
        return f"ExakTime employee {line.exaktime_employee_id} (not linked)"
    return "Unknown worker"
