"""A reconciliation holds a run of days compactly (`reconcile_items`): what it holds must
read exactly as what was read, down to how each value is written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from integrations.exaktime.records import TimeRecord
from integrations.procore.records import TimecardEntry
from linx.sync.reconcile_items import Entries, Interner, compact_record, held


def a_record(**changes) -> TimeRecord:
    return TimeRecord.from_api(
        {
            "id": 7, "employee_id": 100001, "job_id": 200001, "cost_code_id": 300001,
            "work_date": "2026-11-18", "time_in": "2026-11-18T06:00:00-08:00",
            "time_out": "2026-11-18T14:30:00-08:00", "lunch_minutes": 30,
            "regular_hours": "8.0", "ot1_hours": "0", "ot2_hours": "0", "is_approved": True,
            "modified_at": "2026-11-18T22:00:00Z", "revision": 2, **changes,
        }
    )  # fmt: skip


def test_equal_values_written_differently_are_not_merged():
    intern = Interner()
    eight, eight_point_zero = intern(Decimal("8")), intern(Decimal("8.0"))
    assert (str(eight), str(eight_point_zero)) == ("8", "8.0")
    pacific = datetime(2026, 11, 18, 6, tzinfo=timezone(timedelta(hours=-8)))
    utc = intern(pacific.astimezone(UTC))  # the same instant
    assert intern(pacific).isoformat() == "2026-11-18T06:00:00-08:00"
    assert utc.isoformat() == "2026-11-18T14:00:00+00:00"
    assert intern(True) is True and intern(1) == 1 and type(intern(1)) is int
    assert intern(Decimal("8")) is eight  # an equal value in the same form is shared


UTC_ZONE = UTC


def test_a_compact_record_is_the_record_read():
    intern = Interner()
    with_fields = a_record(custom_fields={"5": "Sunny"})
    for record in (a_record(), with_fields, a_record(id=8, regular_hours="8")):
        compact = compact_record(record, intern)
        assert compact == record
        assert str(compact.regular_hours) == str(record.regular_hours)
    assert compact_record(with_fields, intern).custom_fields == {5: "Sunny"}
    first, second = compact_record(a_record(), intern), compact_record(a_record(id=9), intern)
    assert first.time_in is second.time_in and first.work_date is second.work_date


def test_entries_by_origin_take_the_ledger_named_one_and_leave_the_rest_in_order():
    def entry(entry_id: int, origin: str | None) -> object:
        return held(
            TimecardEntry(id=entry_id, project_id=1, party_id=2, date=date(2026, 11, 18),
                          hours=Decimal("8"), origin_id=origin),
            Interner(),
        )  # fmt: skip

    index = Entries()
    for entry_id, origin in ((1, "7-regular"), (2, ""), (3, "7-regular"), (4, "8-regular")):
        index.add(origin, entry(entry_id, origin or None))
    assert index.take("7-regular", preferred_id=3).id == 3
    assert index.take("8-regular", preferred_id=None).id == 4
    assert index.take("8-regular", preferred_id=None) is None
    assert [(origin, e.id) for origin, e in index.left()] == [("7-regular", 1), ("", 2)]
