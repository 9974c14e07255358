"""The week `make demo` punches in the ExakTime sandbox, so that the first export has work.

Crews punch the last complete week in the demo connection's time zone at PJA and its
sub-job SJB, on cost codes the Procore sandbox sets up on PJA: mostly eight-hour days,
some overtime, one long pour into double time. One punch is by Taylor Brooks, who is
only in ExakTime: its export row fails, saying to link him on the Mappings page, until
an operator does. Punches go in through ExakTime's own API, as a time clock's would,
after an import has linked the crews; a week that already holds punches is left alone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import requests

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import data as procore_data
from linx.clients import exaktime_client
from linx.models import Connection, EntityMapping, EntityType

#: How many linked workers punch (enough to read as a crew, few enough to read at once).
CREW_SIZE = 6
#: Hours worked on each weekday, per worker (rotated so that overtime falls on
#: different days): mostly regular, some overtime past eight hours.
DAYS = ["8", "8", "9.5", "8", "10"]
#: Project cost codes set up (and not deleted) on PJA in the Procore sandbox.
COST_CODES = ["3010", "3020", "3040", "1010"]
LUNCH_MINUTES = 30


def places(connection: Connection) -> tuple[list[str], list[str]]:
    """The ExakTime ids of the demo's jobs (PJA and its sub-job SJB) and cost codes."""
    jobs = [
        mapping.exaktime_id
        for entity, procore_id in (
            (EntityType.LOCATION, procore_data.PROJECT_PJA),
            (EntityType.SUB_JOB, procore_data.SUB_JOB_SJB),
        )
        for mapping in EntityMapping.objects.filter(
            connection=connection, entity_type=entity, procore_id=procore_id
        ).exclude(exaktime_id=None)
    ]
    codes = [
        mapping.exaktime_id
        for code in COST_CODES
        for mapping in EntityMapping.objects.filter(
            connection=connection,
            entity_type=EntityType.COST_CODE,
            procore_id=procore_data.STANDARD_CODE_IDS[code],
        ).exclude(exaktime_id=None)
    ]
    return jobs, codes


def crew(connection: Connection) -> list[str]:
    """The ExakTime ids of the linked workers who punch."""
    linked = EntityMapping.objects.filter(
        connection=connection, entity_type=EntityType.EMPLOYEE, ignored=False
    ).exclude(exaktime_id=None)
    return list(linked.order_by("procore_id").values_list("exaktime_id", flat=True)[:CREW_SIZE])


def punches(connection: Connection, monday: date) -> list[dict]:
    """The week's punches, as ExakTime's API takes them (it splits the hours itself)."""
    jobs, codes = places(connection)
    workers = crew(connection)
    if not jobs or not codes or not workers:
        return []
    week = []
    for number, worker in enumerate(workers):
        for day in range(5):
            hours = float(DAYS[(day + number) % len(DAYS)])
            if number == 0 and day == 3:
                hours = 13.0  # a long pour: into double time
            job, code = jobs[number % len(jobs)], codes[day % len(codes)]
            week.append(punch(connection, worker, job, code, monday + timedelta(days=day), hours))
    # Taylor Brooks is only in ExakTime: this row fails until he is linked.
    taylor = exaktime_data.EMPLOYEE_EXAKTIME_ONLY
    week.append(punch(connection, str(taylor), jobs[0], codes[0], monday, 8.0))
    return week


def punch(connection, worker: str, job: str, code: str, day: date, hours: float) -> dict:
    start = datetime.combine(day, time(6, 30), connection.zone)
    stop = start + timedelta(hours=hours, minutes=LUNCH_MINUTES)
    return {
        "employee_id": int(worker),
        "job_id": int(job),
        "cost_code_id": int(code),
        "work_date": day.isoformat(),
        "time_in": start.isoformat(),
        "time_out": stop.isoformat(),
        "lunch_minutes": LUNCH_MINUTES,
        "is_approved": True,
    }


def punch_last_week(connection: Connection) -> tuple[date, int]:
    """Punch the last complete week unless it holds punches already: (its Monday, how
    many punches were added)."""
    monday, sunday = connection.last_complete_week()
    with exaktime_client(connection) as client:
        if next(iter(client.time_records(monday, sunday)), None) is not None:
            return monday, 0
    week = punches(connection, monday)
    with requests.Session() as session:
        session.headers["Ocp-Apim-Subscription-Key"] = connection.exaktime_api_key
        for body in week:
            answer = session.post(
                f"{connection.exaktime_api_url}/v1/Time/TimeRecords", json=body, timeout=10
            )
            answer.raise_for_status()
    return monday, len(week)
