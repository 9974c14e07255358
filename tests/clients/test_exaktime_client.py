"""The ExakTime client: API key, total_count pagination, whole-object writes, time records."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry
from urllib3.exceptions import ProtocolError

from integrations.exaktime import (
    ExakTimeClient,
    ExakTimeConflict,
    ExakTimeError,
    ExakTimeOutcomeUnknown,
    ExakTimePermissionError,
    ExakTimeRateLimited,
)
from integrations.exaktime.records import CostCode, Employee, Location, TimeRecord

API = "https://api.exaktime.test"
KEY = "exaktime-KEY-value-42"
EMPLOYEES = f"{API}/v1/Common/Persons/Employees"
JOBS = f"{API}/v1/Time/Jobs"


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def page(data, page_no, total, page_size=100):
    return {"data": data, "page": page_no, "page_size": page_size, "total_count": total}


def employee(n: int, **extra) -> dict[str, object]:
    return {"id": n, "identifier": f"E{n}", "first_name": "F", "last_name": f"L{n}", **extra}


@pytest.fixture
def client(clock, rng) -> ExakTimeClient:
    return ExakTimeClient(API, KEY, sleep=clock.sleep, clock=clock, rng=rng)


@responses.activate
def test_every_call_carries_the_api_key(client):
    responses.get(EMPLOYEES, json=page([], 1, 0))
    list(client.list_employees())
    headers = responses.calls[0].request.headers
    assert headers["Ocp-Apim-Subscription-Key"] == KEY
    assert headers["User-Agent"].startswith("Linx/")
    assert KEY not in repr(client)


@responses.activate(registry=OrderedRegistry)
def test_pages_are_read_until_total_count_is_reached(client):
    responses.get(EMPLOYEES, json=page([employee(n) for n in range(100)], 1, 250))
    responses.get(EMPLOYEES, json=page([employee(n) for n in range(100, 200)], 2, 250))
    responses.get(EMPLOYEES, json=page([employee(n) for n in range(200, 250)], 3, 250))
    employees = client.list_employees()
    next(employees)
    assert len(responses.calls) == 1  # a generator: one page at a time
    assert len(list(employees)) == 249
    assert [query(c)["page"] for c in responses.calls] == [["1"], ["2"], ["3"]]
    assert {query(c)["page_size"][0] for c in responses.calls} == {"100"}


@responses.activate(registry=OrderedRegistry)
def test_a_server_granting_smaller_pages_is_followed_by_its_own_page_size(client):
    # Asked for 100, given 50: counting with 100 would stop after page 2 and lose 20.
    responses.get(
        JOBS,
        json=page([{"id": n, "identifier": f"J{n}", "name": "x"} for n in range(50)], 1, 120, 50),
    )
    responses.get(
        JOBS,
        json=page(
            [{"id": n, "identifier": f"J{n}", "name": "x"} for n in range(50, 100)], 2, 120, 50
        ),
    )
    responses.get(
        JOBS,
        json=page(
            [{"id": n, "identifier": f"J{n}", "name": "x"} for n in range(100, 120)], 3, 120, 50
        ),
    )
    assert len(list(client.list_locations())) == 120


@responses.activate(registry=OrderedRegistry)
def test_an_empty_page_ends_the_list_whatever_total_count_says(client):
    responses.get(EMPLOYEES, json=page([employee(1)], 1, 500))
    responses.get(EMPLOYEES, json=page([], 2, 500))
    assert [e.id for e in client.list_employees()] == [1]
    assert len(responses.calls) == 2


@responses.activate
def test_create_posts_the_record_and_returns_it_stored(client):
    new = Employee(
        identifier="E7", first_name="Ann", last_name="Lee", work_classification="Carpenter"
    )
    responses.post(
        EMPLOYEES,
        status=201,
        json={**new.to_api(), "id": 7},
        match=[matchers.json_params_matcher(new.to_api())],
    )
    stored = client.create_employee(new)
    assert stored.id == 7 and stored.identifier == "E7"
    assert "id" not in new.to_api()


@responses.activate
def test_update_puts_the_whole_object(client):
    location = Location(
        id=3,
        identifier="P-3",
        name="Tower",
        start_date=date(2026, 4, 1),
        latitude=34.05,
        longitude=-118.25,
    )
    responses.put(
        f"{JOBS}/3",
        json={**location.to_api(), "id": 3},
        match=[matchers.json_params_matcher(location.to_api())],
    )
    assert client.update_location(3, location) == location
    assert location.to_api()["start_date"] == "2026-04-01"


@responses.activate(registry=OrderedRegistry)
def test_change_reads_merges_and_writes_the_whole_object(client):
    url = f"{API}/v1/Time/CostCodes/4"
    responses.get(url, json={"id": 4, "identifier": "01-100", "name": "Labor", "is_active": True})
    responses.put(
        url,
        json={"id": 4, "identifier": "01-100", "name": "Labor", "is_active": False},
        match=[
            matchers.json_params_matcher(
                {"identifier": "01-100", "name": "Labor", "is_active": False}
            )
        ],
    )
    assert client.change_cost_code(4, {"is_active": False}) == CostCode(
        id=4, identifier="01-100", name="Labor", is_active=False
    )


@responses.activate
def test_a_duplicate_identifier_is_a_conflict_naming_the_field(client):
    responses.post(
        EMPLOYEES,
        status=409,
        json={
            "error": {
                "code": "duplicate_identifier",
                "message": "Identifier already exists.",
                "details": {"identifier": "E7"},
            }
        },
    )
    with pytest.raises(ExakTimeConflict) as caught:
        client.create_employee({"identifier": "E7", "first_name": "A", "last_name": "B"})
    assert caught.value.code == "duplicate_identifier"
    assert caught.value.field_errors == {"identifier": ("E7",)}
    assert caught.value.permanent is True
    assert len(responses.calls) == 1


@responses.activate
def test_a_read_only_key_is_told_plainly(client):
    responses.post(
        JOBS, status=403, json={"error": {"code": "forbidden", "message": "Read-only key"}}
    )
    with pytest.raises(ExakTimePermissionError, match="Linx needs a read-write key"):
        client.create_location({"identifier": "J1", "name": "x"})


@responses.activate
def test_a_create_whose_connection_drops_after_sending_is_never_resent(client):
    responses.post(EMPLOYEES, body=requests.ConnectionError(ProtocolError("Connection aborted.")))
    with pytest.raises(ExakTimeOutcomeUnknown) as caught:
        client.create_employee({"identifier": "E9", "first_name": "A", "last_name": "B"})
    assert len(responses.calls) == 1
    assert isinstance(caught.value, ExakTimeError) and caught.value.permanent is False


@responses.activate(registry=OrderedRegistry)
def test_an_update_whose_answer_was_lost_is_resent_since_put_is_idempotent(client):
    responses.put(f"{JOBS}/3", body=requests.ReadTimeout("read timed out"))
    responses.put(f"{JOBS}/3", json={"id": 3, "identifier": "P-3", "name": "Tower"})
    assert client.update_location(3, {"identifier": "P-3", "name": "Tower"}).id == 3


@responses.activate(registry=OrderedRegistry)
def test_429_waits_retry_after_then_carries_on(client, clock):
    responses.get(
        EMPLOYEES,
        status=429,
        headers={"Retry-After": "4"},
        json={"error": {"code": "rate_limited", "message": "Slow down"}},
    )
    responses.get(EMPLOYEES, json=page([employee(1)], 1, 1))
    assert len(list(client.list_employees())) == 1
    assert clock.sleeps == [4.0]


@responses.activate
def test_a_rate_limit_beyond_patience_is_a_transient_error(client):
    responses.get(
        EMPLOYEES,
        status=429,
        headers={"Retry-After": "3600"},
        json={"error": {"code": "rate_limited", "message": "Slow down"}},
    )
    with pytest.raises(ExakTimeRateLimited) as caught:
        list(client.list_employees())
    assert caught.value.permanent is False and caught.value.retry_after == 3600.0


@responses.activate
def test_time_records_are_typed_with_decimals_and_aware_times(client):
    responses.get(
        f"{API}/v1/Time/TimeRecords",
        json=page(
            [
                {
                    "id": 123,
                    "employee_id": 7,
                    "job_id": 3,
                    "cost_code_id": None,
                    "work_date": "2026-03-02",
                    "time_in": "2026-03-02T07:00:00-08:00",
                    "time_out": "2026-03-02T17:30:00-08:00",
                    "lunch_minutes": 30,
                    "regular_hours": "8.00",
                    "ot1_hours": 2,
                    "ot2_hours": "0",
                    "is_approved": True,
                    "custom_fields": {"5": "Day", "6": True},
                    "modified_at": "2026-03-02T18:00:00Z",
                    "is_deleted": False,
                    "revision": 2,
                }
            ],
            1,
            1,
        ),
    )
    [record] = client.time_records(
        date(2026, 3, 1),
        date(2026, 3, 7),
        modified_since=datetime(2026, 3, 1, tzinfo=UTC),
        employee_id=7,
    )
    params = query(responses.calls[0])
    assert params["start_date"] == ["2026-03-01"] and params["end_date"] == ["2026-03-07"]
    assert params["modified_since"] == ["2026-03-01T00:00:00Z"] and params["employee_id"] == ["7"]
    pacific = timezone(timedelta(hours=-8))
    assert record == TimeRecord(
        id=123,
        employee_id=7,
        job_id=3,
        cost_code_id=None,
        work_date=date(2026, 3, 2),
        time_in=datetime(2026, 3, 2, 7, tzinfo=pacific),
        time_out=datetime(2026, 3, 2, 17, 30, tzinfo=pacific),
        lunch_minutes=30,
        regular_hours=Decimal("8.00"),
        ot1_hours=Decimal(2),
        ot2_hours=Decimal(0),
        is_approved=True,
        custom_fields={5: "Day", 6: True},
        modified_at=datetime(2026, 3, 2, 18, tzinfo=UTC),
        revision=2,
    )
    assert record.total_hours == Decimal(10)


@responses.activate
def test_a_simulated_punch_is_posted(client):
    responses.post(
        f"{API}/v1/Time/TimeRecords",
        status=201,
        json={"id": 5, "employee_id": 7, "job_id": 3, "work_date": "2026-03-02", "time_in": None},
    )
    assert client.create_time_record({"employee_id": 7, "job_id": 3}).id == 5


@responses.activate
def test_the_api_key_never_reaches_logs_or_errors(client, caplog):
    responses.get(
        EMPLOYEES,
        status=401,
        json={"error": {"code": "unauthorized", "message": f"Key {KEY} is not valid"}},
    )
    with (
        caplog.at_level(logging.DEBUG, logger="integrations"),
        pytest.raises(ExakTimeError) as caught,
    ):
        list(client.list_employees())
    assert caught.value.status == 401
    assert "missing or wrong" in caught.value.message
    for text in (caplog.text, str(caught.value), repr(caught.value), repr(client)):
        assert KEY not in text
