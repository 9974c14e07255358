"""Transient failures against the sandboxes: 5xx bursts, hung answers, dropped connections.

Reads are retried with backoff until they succeed. A write whose answer never came is
never sent again: the client raises the outcome-unknown error, and listing what the
sandbox holds (by origin_id for Procore entries) shows the write happened exactly once.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from integrations.exaktime.errors import ExakTimeOutcomeUnknown
from integrations.http import RetryPolicy
from integrations.procore.errors import ProcoreOutcomeUnknown
from integrations.procore.sandbox import data as procore_data
from tests.against_sandboxes.conftest import (
    calls,
    exaktime_client,
    procore_client,
    settle,
    statuses,
)

CID = procore_data.COMPANY_ID
USERS = f"/rest/v1.3/companies/{CID}/users"
PROJECTS = "/rest/v1.1/projects"
COST_CODES = "/rest/v1.0/cost_codes"
ENTRIES = f"/rest/v1.0/companies/{CID}/timecard_entries"
TIMESHEETS = f"/rest/v1.0/companies/{CID}/timesheets"
EMPLOYEES = "/v1/Common/Persons/Employees"
DAY = date(2026, 1, 6)
#: Short enough that a slow fault of SLOW seconds outlasts it.
READ_TIMEOUT = 0.3
SLOW = 0.8


def entry(origin_id: str, day: date = DAY, **fields) -> dict:
    """A valid Total Hours entry for the linked worker on PJA."""
    return {
        "project_id": procore_data.PROJECT_PJA,
        "party_id": procore_data.WORKER_LINKED,
        "date": day.isoformat(),
        "hours": "8.0",
        "cost_code_id": procore_data.PJA_COST_CODE_CONCRETE_LABOR,
        "timecard_time_type_id": procore_data.TIME_TYPE_REG,
        "origin_id": origin_id,
        "origin_data": "exaktime:test",
        **fields,
    }


def held(sandbox, origin_id: str) -> list[dict]:
    return sandbox.records("timecard_entry", scope=CID, origin_id=origin_id)


def test_procore_reads_recover_from_500_502_and_504_bursts(procore_sandbox, procore, waits):
    procore_sandbox.max_per_page = 5
    faults = procore_sandbox.faults
    faults.set("status", status=500, count=2, path=USERS)
    faults.set("status", status=502, count=3, path=PROJECTS)
    faults.set("status", status=504, count=1, path=COST_CODES)

    workers = [w.id for w in procore.workers()]
    projects = [p.id for p in procore.projects("All")]
    codes = [c.id for c in procore.project_cost_codes(procore_data.PROJECT_PJA)]

    assert workers == [u["id"] for u in procore_sandbox.records("user", scope=CID, is_active=True)]
    assert projects == [p["id"] for p in procore_sandbox.records("project", scope=CID)]
    pja = procore_sandbox.records("cost_code", scope=procore_data.PROJECT_PJA)
    assert codes == [c["id"] for c in pja]
    assert statuses(procore_sandbox, "GET", USERS) == [500, 500, 200, 200, 200, 200, 200]
    assert statuses(procore_sandbox, "GET", PROJECTS) == [502, 502, 502, 200, 200]
    assert statuses(procore_sandbox, "GET", COST_CODES)[:2] == [504, 200]
    assert procore_sandbox.faults.active() == []
    # Six retries, each after a backoff of at least the seed's one second, doubling caps.
    policy = RetryPolicy()
    assert len(waits.seconds) == 6
    for retry, wait in zip([0, 1, 0, 1, 2, 0], waits.seconds, strict=True):
        assert policy.base_delay <= wait <= policy.base_delay * 2 ** (retry + 1)


def test_procore_read_that_outlasts_the_read_timeout_is_abandoned_and_retried(
    procore_sandbox, waits
):
    procore_sandbox.faults.set("slow", seconds=SLOW, method="GET", path=USERS)

    with procore_client(procore_sandbox, waits, timeout=(2.0, READ_TIMEOUT)) as client:
        read = [w.id for w in client.workers()]

    assert read == [u["id"] for u in procore_sandbox.records("user", scope=CID, is_active=True)]
    log = settle(procore_sandbox, 3)  # the token, the retried read, then the slow one ends
    assert sorted((e["path"], e.get("fault", "")) for e in log[1:]) == [
        (USERS, ""),
        (USERS, "slow"),
    ]
    assert len(waits.seconds) == 1


def test_procore_create_whose_answer_times_out_raises_outcome_unknown_and_exists_once(
    procore_sandbox, waits
):
    procore_sandbox.faults.set("slow", seconds=SLOW, method="POST", path=ENTRIES)

    with procore_client(procore_sandbox, waits, timeout=(2.0, READ_TIMEOUT)) as client:
        with pytest.raises(ProcoreOutcomeUnknown) as caught:
            client.create_timecard_entry(procore_data.PROJECT_PJA, entry("exaktime-1000001"))
        settle(procore_sandbox, 2)
        # Reconciling: the entry is there, exactly once, and can be found by origin_id.
        listed = [e for e in client.timecard_entries(DAY, DAY) if e.origin_id == "exaktime-1000001"]

    assert "may or may not have carried out POST" in str(caught.value)
    assert caught.value.permanent is False
    assert len(held(procore_sandbox, "exaktime-1000001")) == 1
    assert len(listed) == 1 and listed[0].hours == 8
    assert len(calls(procore_sandbox, "POST", ENTRIES)) == 1, "never sent twice"
    assert waits.seconds == []


def test_procore_bulk_create_cut_off_after_the_write_is_reconciled_by_origin_id(
    procore_sandbox, procore, waits
):
    procore_sandbox.faults.set("drop_after_write", method="POST", path=TIMESHEETS)
    batch = [entry(f"exaktime-20000{n}", DAY + timedelta(days=n)) for n in range(3)]

    with pytest.raises(ProcoreOutcomeUnknown) as caught:
        procore.create_timecard_entries(batch)
    found = {e.origin_id: e for e in procore.timecard_entries(DAY, DAY + timedelta(days=6))}

    assert "connection was lost after the request was sent" in str(caught.value)
    assert sorted(found) == [e["origin_id"] for e in batch]
    for sent in batch:
        (stored,) = held(procore_sandbox, sent["origin_id"])
        assert found[sent["origin_id"]].id == stored["id"]
        assert stored["date"] == sent["date"]
    assert [e.get("fault") for e in calls(procore_sandbox, "POST", TIMESHEETS)] == [
        "drop_after_write"
    ]
    assert waits.seconds == []


def test_procore_write_refused_with_a_5xx_is_not_repeated(procore_sandbox, procore, waits):
    # A 502 from a proxy may come after Procore acted: the client cannot know, so it asks
    # the caller to reconcile rather than send it again. (Here nothing was stored.)
    procore_sandbox.faults.set("status", status=502, method="POST", path=TIMESHEETS)

    with pytest.raises(ProcoreOutcomeUnknown):
        procore.create_timecard_entries([entry("exaktime-3")])

    assert held(procore_sandbox, "exaktime-3") == []
    assert statuses(procore_sandbox, "POST", TIMESHEETS) == [502]
    # Sent again by the caller after reconciling, it is created once.
    (created,) = procore.create_timecard_entries([entry("exaktime-3")])
    assert [e["id"] for e in held(procore_sandbox, "exaktime-3")] == [created.id]


def test_exaktime_reads_recover_from_5xx_and_hung_answers(exaktime_sandbox, waits):
    faults = exaktime_sandbox.faults
    faults.set("status", status=500, count=1, path=EMPLOYEES)
    faults.set("status", status=504, count=1, path=EMPLOYEES)
    faults.set("slow", seconds=SLOW, method="GET", path="/v1/Time/Jobs")

    with exaktime_client(exaktime_sandbox, waits, timeout=(2.0, READ_TIMEOUT)) as client:
        employees = [e.id for e in client.list_employees()]
        jobs = [j.id for j in client.list_locations()]

    assert employees == [e["id"] for e in exaktime_sandbox.records("employee")]
    assert jobs == [j["id"] for j in exaktime_sandbox.records("job")]
    settle(exaktime_sandbox, 5)
    assert statuses(exaktime_sandbox, "GET", EMPLOYEES) == [500, 504, 200]
    assert sorted(e.get("fault", "") for e in calls(exaktime_sandbox, "GET", "/v1/Time/Jobs")) == [
        "",
        "slow",
    ]
    assert len(waits.seconds) == 3


@pytest.mark.parametrize("fault", ["drop_after_write", "slow"])
def test_exaktime_create_cut_off_raises_outcome_unknown_and_exists_once(
    exaktime_sandbox, waits, fault
):
    options = {"seconds": SLOW} if fault == "slow" else {}
    exaktime_sandbox.faults.set(fault, method="POST", path=EMPLOYEES, **options)
    before = len(exaktime_sandbox.records("employee"))

    with exaktime_client(exaktime_sandbox, waits, timeout=(2.0, READ_TIMEOUT)) as client:
        with pytest.raises(ExakTimeOutcomeUnknown):
            client.create_employee({"identifier": "1011", "first_name": "Ana", "last_name": "Cruz"})
        settle(exaktime_sandbox, 1)
        by_identifier = [e for e in client.list_employees() if e.identifier == "1011"]

    assert len(exaktime_sandbox.records("employee")) == before + 1
    assert len(by_identifier) == 1
    assert len(calls(exaktime_sandbox, "POST", EMPLOYEES)) == 1
    assert waits.seconds == []
