"""The ExakTime sandbox's accounts, what they hold before any import, and generated punches.

ExakTime ids only exist once Linx has imported employees, locations and cost codes, so time
records are made by `generate_time_records()`, called after an import (by a test, the demo,
or `POST /_sandbox/time_records`), for whatever active employees and jobs are there.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from integrations.sandbox import Store

# Demo credentials: sandbox-only values, fine to print.
API_KEY = "exaktime-sandbox-key"
READ_ONLY_API_KEY = "exaktime-sandbox-readonly-key"
SECOND_API_KEY = "exaktime-sandbox-key-2"  # a second, empty account: nothing leaks across
ACCOUNT_ID, SECOND_ACCOUNT_ID = 1, 2
API_KEYS = {  # key -> (account, read only)
    API_KEY: (ACCOUNT_ID, False),
    READ_ONLY_API_KEY: (ACCOUNT_ID, True),
    SECOND_API_KEY: (SECOND_ACCOUNT_ID, False),
}

ID_BASES = {
    "employee": 100_001,
    "job": 200_001,
    "cost_code": 300_001,
    "group": 400_001,
    "location_category": 500_001,
    "custom_field": 600_001,
    "time_record": 1_000_001,
}

# What the main account holds before Linx's first import.
EMPLOYEE_LINKED = 100_001  # identifier "1001": Procore worker WORKER_LINKED's employee_id
EMPLOYEE_EXAKTIME_ONLY = 100_002  # "9001": never in Procore
JOB_SHOP = 200_001  # "SHOP": a location that is not a Procore project
COST_CODE_OVERHEAD = 300_001  # "OH"

TIME_ZONE = ZoneInfo("America/Los_Angeles")  # where the generated crews punch
REGULAR_DAY, DOUBLE_TIME_AFTER = Decimal(8), Decimal(12)  # ExakTime's daily overtime split


def generate(seed: int = 1) -> list[tuple[str, int, dict]]:
    """The records each account starts with, as (kind, account, body) rows."""
    return [
        ("employee", ACCOUNT_ID, {
            "id": EMPLOYEE_LINKED, "identifier": "1001", "first_name": "Alex",
            "last_name": "Rivera", "email": "alex.rivera@example.com",
            "address1": "12 Old Mill Rd", "city": "Sacramento", "state": "CA", "zip": "95814",
            "phone": "(916) 555-0100", "work_classification": "Carpenter", "is_active": True,
        }),
        ("employee", ACCOUNT_ID, {
            "id": EMPLOYEE_EXAKTIME_ONLY, "identifier": "9001", "first_name": "Taylor",
            "last_name": "Brooks", "email": None, "address1": None, "city": None,
            "state": None, "zip": None, "phone": None, "work_classification": "Shop Hand",
            "is_active": True,
        }),
        ("job", ACCOUNT_ID, {
            "id": JOB_SHOP, "identifier": "SHOP", "name": "Main Shop and Yard",
            "address1": "400 Industrial Way", "city": "Sacramento", "state": "CA",
            "zip": "95815", "phone": None, "start_date": None, "latitude": 38.6035,
            "longitude": -121.4520, "is_active": True, "parent_job_id": None,
            "category_id": None,
        }),
        ("cost_code", ACCOUNT_ID, {
            "id": COST_CODE_OVERHEAD, "identifier": "OH", "name": "Overhead", "is_active": True,
        }),
    ]  # fmt: skip


def split_hours(worked: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Regular, OT1 and OT2 hours of one day's work (8 regular, then OT1 up to 12)."""
    worked = max(worked, Decimal(0))
    regular = min(worked, REGULAR_DAY)
    ot1 = min(worked, DOUBLE_TIME_AFTER) - regular
    return regular, ot1, worked - regular - ot1


def iso_utc(moment: datetime) -> str:
    """`2026-01-05T16:00:00+00:00`: how modified_at is stored (sortable as text)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def last_week() -> date:
    """Monday of last week: a complete week, the demo's default."""
    today = date.today()
    return today - timedelta(days=today.weekday() + 7)


def generate_time_records(
    store: Store, week_start: date, seed: int = 1, account_id: int = ACCOUNT_ID
) -> int:
    """Punch a working week for every active employee at the account's active jobs.

    Days run 8 to 13 hours, so regular, OT1 and OT2 all occur. Among them: a deleted
    record, an edited one (revision 3), unapproved ones, one still clocked in, and
    values for each active custom field. The same seed and week give the same punches.
    """
    rng = random.Random(f"{seed}/{week_start.isoformat()}")  # noqa: S311 (sample data)
    # In the order of their IDs and names, not of their ids: an import that writes several
    # records at once makes them in whatever order the answers come.
    employees, jobs, codes, fields = (
        sorted(
            store.select(kind, scope=account_id, eq={"is_active": True}),
            key=lambda r: (str(r.get("identifier") or r.get("name") or ""), r["id"]),
        )
        for kind in ("employee", "job", "cost_code", "custom_field")
    )
    if not employees or not jobs:
        return 0
    next_id = store.next_id("time_record")
    rows = []
    for number, employee in enumerate(employees):
        job = rng.choice(jobs)
        for day in range(rng.choice([5, 5, 5, 6])):
            if rng.random() < 0.2:  # moved to another job mid-week
                job = rng.choice(jobs)
            work_date = week_start + timedelta(days=day)
            start = datetime.combine(work_date, time(6, rng.choice([0, 15, 30])), TIME_ZONE)
            worked = Decimal(rng.choice(["8", "8", "8", "8.5", "9", "9.5", "10", "10.5", "11"]))
            if number == 0 and day == 2:
                worked = Decimal(13)  # a long pour: double time
            lunch = 30
            stop = start + timedelta(hours=float(worked), minutes=lunch)
            regular, ot1, ot2 = split_hours(worked)
            rows.append({
                "id": next_id + len(rows),
                "employee_id": employee["id"],
                "job_id": job["id"],
                "cost_code_id": rng.choice(codes)["id"] if codes and rng.random() > 0.1 else None,
                "work_date": work_date.isoformat(),
                "time_in": start.isoformat(),
                "time_out": stop.isoformat(),
                "lunch_minutes": lunch,
                "regular_hours": float(regular),
                "ot1_hours": float(ot1),
                "ot2_hours": float(ot2),
                "is_approved": rng.random() < 0.8,
                "custom_fields": {str(f["id"]): _custom_value(f, work_date, rng) for f in fields},
                "modified_at": iso_utc(stop + timedelta(minutes=10)),
                "is_deleted": False,
                "revision": 1,
            })  # fmt: skip
    _vary(rows)
    store.insert_many(("time_record", account_id, row) for row in rows)
    return len(rows)


def _vary(rows: list[dict]) -> None:
    """The cases an export must handle besides plain records."""
    edited, deleted, open_shift = rows[1], rows[2 % len(rows)], rows[-1]
    later = datetime.fromisoformat(edited["modified_at"]) + timedelta(days=1)
    # Corrected twice by a supervisor: the worker left an hour earlier than punched.
    stop = datetime.fromisoformat(edited["time_out"]) - timedelta(hours=1)
    worked = Decimal(str(edited["regular_hours"] + edited["ot1_hours"] + edited["ot2_hours"]))
    regular, ot1, ot2 = split_hours(worked - 1)
    edited.update(time_out=stop.isoformat(), regular_hours=float(regular), ot1_hours=float(ot1),
                  ot2_hours=float(ot2), revision=3, modified_at=iso_utc(later))  # fmt: skip
    deleted.update(is_deleted=True, revision=2, modified_at=iso_utc(later))
    if open_shift is not edited and open_shift is not deleted:  # still clocked in
        open_shift.update(time_out=None, regular_hours=0.0, ot1_hours=0.0, ot2_hours=0.0,
                          is_approved=False)  # fmt: skip


def _custom_value(field: dict, work_date: date, rng: random.Random):
    kind = field["field_type"]
    if kind == "date":
        return work_date.isoformat()
    if kind == "checkbox":
        return rng.random() < 0.3
    if kind == "select":
        return rng.choice(field["options"]) if field["options"] else None
    text = rng.choice(["Excavator", "Boom lift", "Skid steer", "Hand tools", ""])
    return text[: field.get("max_length") or 255]
