"""The ExakTime sandbox speaks ExakTime's API as Linx uses it: proved over loopback with bare requests."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
import requests

from integrations.exaktime.sandbox import ExakTimeSandbox, data

EMPLOYEES = "/v1/Common/Persons/Employees"
JOBS = "/v1/Time/Jobs"
COST_CODES = "/v1/Time/CostCodes"
GROUPS = "/v1/Time/Groups"
CATEGORIES = "/v1/Time/LocationCategories"
CUSTOM_FIELDS = "/v1/Time/CustomFields"
TIME_RECORDS = "/v1/Time/TimeRecords"
WEEK = date(2026, 1, 5)  # a Monday


class Api:
    """Bare requests with an API key, relative to the sandbox."""

    def __init__(self, sandbox: ExakTimeSandbox, key: str | None = data.API_KEY):
        self.url = sandbox.url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Ocp-Apim-Subscription-Key"] = key

    def __getattr__(self, method: str):
        def call(path: str, **kwargs) -> requests.Response:
            return self.session.request(method.upper(), self.url + path, timeout=5, **kwargs)

        return call


@pytest.fixture
def api(exaktime_sandbox) -> Api:
    return Api(exaktime_sandbox)


def employee(**fields) -> dict:
    return {
        "identifier": "1011", "first_name": "Maria", "last_name": "Garcia",
        "email": "maria@example.com", "address1": "1 Main St", "city": "Fresno", "state": "CA",
        "zip": "93701", "phone": "(559) 555-0101", "work_classification": "Laborer",
        "is_active": True, **fields,
    }  # fmt: skip


def job(**fields) -> dict:
    return {"identifier": "200", "name": "PJA", "latitude": 38.58, "longitude": -121.49,
            "start_date": "2025-03-01", **fields}  # fmt: skip


def error_of(answer: requests.Response) -> dict:
    assert set(answer.json()) == {"error"}
    assert set(answer.json()["error"]) == {"code", "message", "details"}
    return answer.json()["error"]


# --- Keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_a_missing_or_wrong_key_is_a_401(exaktime_sandbox, key):
    answer = Api(exaktime_sandbox, key).get(EMPLOYEES)
    assert answer.status_code == 401 and error_of(answer)["code"] == "unauthorized"


def test_a_read_only_key_reads_but_cannot_write(exaktime_sandbox):
    read_only = Api(exaktime_sandbox, data.READ_ONLY_API_KEY)
    assert read_only.get(EMPLOYEES).status_code == 200
    answer = read_only.post(EMPLOYEES, json=employee())
    assert answer.status_code == 403 and error_of(answer)["code"] == "forbidden"
    assert read_only.put(f"{EMPLOYEES}/{data.EMPLOYEE_LINKED}", json=employee()).status_code == 403


def test_accounts_see_only_their_own_records(exaktime_sandbox, api):
    second = Api(exaktime_sandbox, data.SECOND_API_KEY)
    assert second.get(EMPLOYEES).json()["total_count"] == 0
    assert second.get(f"{EMPLOYEES}/{data.EMPLOYEE_LINKED}").status_code == 404
    # Identifiers are unique per account, not across accounts.
    assert second.post(EMPLOYEES, json=employee(identifier="1001")).status_code == 201


# --- Lists ---------------------------------------------------------------------------


def test_lists_page_with_total_count(exaktime_sandbox, api):
    for number in range(5):
        api.post(EMPLOYEES, json=employee(identifier=f"20{number}"))
    first = api.get(EMPLOYEES, params={"page_size": 3}).json()
    assert (first["page"], first["page_size"], first["total_count"]) == (1, 3, 7)
    second = api.get(EMPLOYEES, params={"page_size": 3, "page": 3}).json()
    assert len(second["data"]) == 1 and second["page"] * second["page_size"] >= 7
    assert api.get(EMPLOYEES).json()["page_size"] == 50
    identifiers = [e["identifier"] for e in api.get(EMPLOYEES).json()["data"]]
    assert identifiers == ["1001", "9001", "200", "201", "202", "203", "204"]


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"page": 0},
                                    {"page": "x"}])  # fmt: skip
def test_bad_paging_is_a_400(api, params):
    answer = api.get(EMPLOYEES, params=params)
    assert answer.status_code == 400 and error_of(answer)["code"] == "bad_request"


# --- Create, get, update ---------------------------------------------------------------


def test_create_get_and_whole_object_update(api):
    created = api.post(EMPLOYEES, json=employee())
    assert created.status_code == 201
    record = created.json()
    assert record["id"] and record["identifier"] == "1011"
    path = f"{EMPLOYEES}/{record['id']}"
    assert api.get(path).json() == record

    changed = api.put(path, json={**record, "last_name": "Garcia-Lopez", "is_active": False})
    assert changed.status_code == 200
    assert (changed.json()["last_name"], changed.json()["is_active"]) == ("Garcia-Lopez", False)
    # PUT replaces the whole object: what is left out goes back to its default.
    partial = api.put(path, json={"identifier": "1011", "first_name": "M", "last_name": "G"})
    assert partial.json()["email"] is None and partial.json()["is_active"] is True

    assert api.put(path, json={**record, "id": 1}).status_code == 422
    assert api.get(f"{EMPLOYEES}/999").status_code == 404
    assert api.put(f"{EMPLOYEES}/999", json=employee()).status_code == 404
    assert api.delete(path).status_code == 405  # no delete: retire with is_active=false


def test_every_collection_creates_and_reads(api):
    cost_code = api.post(COST_CODES, json={"identifier": "3010", "name": "Concrete Labor"})
    category = api.post(CATEGORIES, json={"name": "PJA"})
    parent = api.post(JOBS, json=job(category_id=category.json()["id"]))
    child = api.post(JOBS, json=job(identifier="200.005", name="PJA.SJB",
                                    parent_job_id=parent.json()["id"]))  # fmt: skip
    group = api.post(GROUPS, json={"name": "Concrete Crew", "group_type": "employee",
                                   "member_ids": [data.EMPLOYEE_LINKED]})  # fmt: skip
    field = api.post(CUSTOM_FIELDS, json={"name": "Weather", "field_type": "select",
                                          "options": ["Sunny", "Rain"]})  # fmt: skip
    for answer in (cost_code, category, parent, child, group, field):
        assert answer.status_code == 201, answer.text
    assert child.json()["parent_job_id"] == parent.json()["id"]
    assert group.json()["show_in_mobile"] is True
    text = api.post(CUSTOM_FIELDS, json={"name": "Equipment Used", "field_type": "text"})
    assert text.json()["max_length"] == 255
    for path in (COST_CODES, CATEGORIES, JOBS, GROUPS, CUSTOM_FIELDS):
        assert api.get(path).status_code == 200


# --- Validation ------------------------------------------------------------------------


def test_limits_are_422_naming_every_field_and_nothing_is_truncated(exaktime_sandbox, api):
    answer = api.post(EMPLOYEES, json=employee(
        identifier="x" * 31, first_name="y" * 51, last_name="", state="CAL", zip="1" * 11,
        phone="5" * 21, email="e" * 101, work_classification="w" * 51, is_active="yes",
        colour="red",
    ))  # fmt: skip
    assert answer.status_code == 422
    problem = error_of(answer)
    assert problem["code"] == "validation_failed"
    assert set(problem["details"]) == {"identifier", "first_name", "last_name", "state", "zip",
                                       "phone", "email", "work_classification", "is_active",
                                       "colour"}  # fmt: skip
    assert "30" in problem["details"]["identifier"]
    assert exaktime_sandbox.records("employee", scope=data.ACCOUNT_ID)[-1]["identifier"] == "9001"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"latitude": 123.4}, "latitude"),
        ({"longitude": -180.5}, "longitude"),
        ({"latitude": "38.5"}, "latitude"),
        ({"name": "n" * 101}, "name"),
        ({"identifier": None}, "identifier"),
        ({"start_date": "03/01/2025"}, "start_date"),
        ({"parent_job_id": 999}, "parent_job_id"),
        ({"category_id": 999}, "category_id"),
    ],
)
def test_job_limits(api, fields, bad):
    answer = api.post(JOBS, json=job(**fields))
    assert answer.status_code == 422 and list(error_of(answer)["details"]) == [bad]


def test_duplicates_are_409(api):
    assert api.post(EMPLOYEES, json=employee(identifier="1001")).status_code == 409
    assert api.post(COST_CODES, json={"identifier": "3050", "name": "Labor"}).status_code == 201
    same_name = api.post(COST_CODES, json={"identifier": "5030", "name": "Labor"})
    assert same_name.status_code == 409
    assert error_of(same_name)["details"] == {"name": "already used by cost code 300002"}
    assert api.post(CATEGORIES, json={"name": "PJA"}).status_code == 201
    assert api.post(CATEGORIES, json={"name": "PJA"}).status_code == 409

    crew = {"name": "PJA", "group_type": "employee", "member_ids": []}
    assert api.post(GROUPS, json=crew).status_code == 201
    assert api.post(GROUPS, json=crew).status_code == 409
    assert api.post(GROUPS, json={**crew, "group_type": "location"}).status_code == 201
    # An update may keep its own identifier, not take another's.
    path = f"{EMPLOYEES}/{data.EMPLOYEE_EXAKTIME_ONLY}"
    mine = api.get(path).json()
    assert api.put(path, json=mine).status_code == 200
    assert api.put(path, json={**mine, "identifier": "1001"}).status_code == 409


def test_group_members_and_custom_field_rules(api):
    wrong_type = {"name": "Crew", "group_type": "employee", "member_ids": [data.JOB_SHOP]}
    assert list(error_of(api.post(GROUPS, json=wrong_type))["details"]) == ["member_ids"]
    assert api.post(GROUPS, json={"name": "Crew", "group_type": "crew"}).status_code == 422
    for bad in (
        {"name": "Weather", "field_type": "select"},
        {"name": "Weather", "field_type": "select", "options": ["", "Rain"]},
        {"name": "Notes", "field_type": "text", "max_length": 256},
        {"name": "Notes", "field_type": "date", "options": ["x"]},
        {"name": "When", "field_type": "date", "max_length": 10},
        {"name": "x" * 51, "field_type": "checkbox"},
    ):
        assert api.post(CUSTOM_FIELDS, json=bad).status_code == 422, bad


def test_malformed_bodies_are_400(api):
    assert api.post(EMPLOYEES, data="{not json").status_code == 400
    assert api.post(EMPLOYEES, json=["a list"]).status_code == 400


# --- Time records ------------------------------------------------------------------------


def import_some(api: Api, employees: int = 4) -> list[int]:
    """What an import would leave behind: employees, jobs and cost codes."""
    for number in range(employees):
        api.post(EMPLOYEES, json=employee(identifier=f"30{number}"))
    for number in ("200", "210"):
        api.post(JOBS, json=job(identifier=number, name=f"Project {number}"))
    for code, name in (("1010", "Supervision"), ("3010", "Concrete Labor")):
        api.post(COST_CODES, json={"identifier": code, "name": name})
    api.post(CUSTOM_FIELDS, json={"name": "Weather", "field_type": "select",
                                  "options": ["Sunny", "Rain"]})  # fmt: skip
    return [e["id"] for e in api.get(EMPLOYEES).json()["data"]]


def test_a_generated_week_has_overtime_and_the_edge_cases(exaktime_sandbox, api):
    import_some(api)
    created = exaktime_sandbox.generate_time_records(WEEK, seed=3)
    records = api.get(TIME_RECORDS, params={"page_size": 100}).json()
    assert records["total_count"] == created >= 6 * 5
    rows = records["data"]
    assert {r["work_date"] for r in rows} <= {str(WEEK + timedelta(days=d)) for d in range(6)}
    assert any(r["ot1_hours"] > 0 for r in rows) and any(r["ot2_hours"] > 0 for r in rows)
    assert any(r["is_deleted"] for r in rows) and any(r["revision"] == 3 for r in rows)
    assert any(r["time_out"] is None for r in rows) and not all(r["is_approved"] for r in rows)
    assert all(r["time_in"].endswith("-08:00") for r in rows)
    field_id = str(api.get(CUSTOM_FIELDS).json()["data"][0]["id"])
    assert {r["custom_fields"][field_id] for r in rows} <= {"Sunny", "Rain"}
    for r in rows:
        if r["time_out"]:
            assert r["regular_hours"] <= 8 and (r["ot2_hours"] == 0 or r["ot1_hours"] == 4)

    # The same seed and week punch the same week again (only the ids differ).
    assert data.generate_time_records(exaktime_sandbox.store, WEEK, 3) == created
    every = [
        {k: v for k, v in r.items() if k != "id"} for r in exaktime_sandbox.records("time_record")
    ]
    assert every[created:] == every[:created]


def test_time_record_filters(exaktime_sandbox, api):
    employees = import_some(api)
    exaktime_sandbox.generate_time_records(WEEK)

    def listed(**params) -> list[dict]:
        return api.get(TIME_RECORDS, params={"page_size": 100, **params}).json()["data"]

    tuesday = str(WEEK + timedelta(days=1))
    assert {r["work_date"] for r in listed(start_date=tuesday, end_date=tuesday)} == {tuesday}
    assert {r["employee_id"] for r in listed(employee_id=employees[0])} == {employees[0]}
    latest = max(r["modified_at"] for r in listed())
    assert all(r["modified_at"] >= latest for r in listed(modified_since=latest))
    assert listed(modified_since="2030-01-01T00:00:00Z") == []
    assert api.get(TIME_RECORDS, params={"start_date": "Jan 5"}).status_code == 400
    assert api.get(TIME_RECORDS, params={"modified_since": "soon"}).status_code == 400


def test_punches_changes_and_deletes_move_the_revision(exaktime_sandbox, api):
    employees = import_some(api, employees=1)
    jobs = api.get(JOBS).json()["data"]
    punch = {"employee_id": employees[0], "job_id": jobs[-1]["id"], "work_date": "2026-01-06",
             "time_in": "2026-01-06T06:00:00-08:00", "time_out": "2026-01-06T19:30:00-08:00",
             "lunch_minutes": 30}  # fmt: skip
    created = api.post(TIME_RECORDS, json=punch)
    assert created.status_code == 201
    record = created.json()
    assert (record["regular_hours"], record["ot1_hours"], record["ot2_hours"]) == (8, 4, 1)
    assert (record["revision"], record["is_deleted"], record["cost_code_id"]) == (1, False, None)

    path = f"{TIME_RECORDS}/{record['id']}"
    before = record["modified_at"]
    changed = api.put(path, json={**record, "is_approved": True})
    assert changed.json()["revision"] == 2 and changed.json()["modified_at"] >= before
    deleted = api.delete(path)
    assert deleted.status_code == 200
    assert (deleted.json()["is_deleted"], deleted.json()["revision"]) == (True, 3)
    assert api.get(path).json()["is_deleted"] is True  # still listed, flagged

    clocked_in = api.post(TIME_RECORDS, json={**punch, "time_out": None})
    assert clocked_in.json()["regular_hours"] == 0
    assert api.post(TIME_RECORDS, json={**punch, "employee_id": 999}).status_code == 422
    naive = api.post(TIME_RECORDS, json={**punch, "time_in": "2026-01-06T06:00:00"})
    assert list(error_of(naive)["details"]) == ["time_in"]
    backwards = api.post(TIME_RECORDS, json={**punch, "time_out": "2026-01-06T05:00:00-08:00"})
    assert list(error_of(backwards)["details"]) == ["time_out"]
    unknown = api.post(TIME_RECORDS, json={**punch, "custom_fields": {"12": "x"}})
    assert list(error_of(unknown)["details"]) == ["custom_fields"]

    exaktime_sandbox.update("time_record", record["id"], job_id=jobs[0]["id"])
    assert api.get(path).json()["revision"] == 4


def test_the_sandbox_endpoint_punches_a_week(exaktime_sandbox, api):
    import_some(api, employees=2)
    control = exaktime_sandbox.url + "/_sandbox/time_records"
    answer = requests.post(control, json={"week_start": str(WEEK)}, timeout=5)
    assert answer.status_code == 200 and answer.json()["created"] >= 10
    assert requests.post(control, json={"week_start": "soon"}, timeout=5).status_code == 400


# --- State, faults ------------------------------------------------------------------------


def test_records_survive_a_restart(tmp_path):
    path = tmp_path / "exaktime.sqlite3"
    with ExakTimeSandbox(path) as sandbox:
        created = Api(sandbox).post(EMPLOYEES, json=employee()).json()
    with ExakTimeSandbox(path) as again:
        assert Api(again).get(f"{EMPLOYEES}/{created['id']}").json() == created
    with ExakTimeSandbox(path, reset=True) as fresh:
        assert Api(fresh).get(EMPLOYEES).json()["total_count"] == 2


def test_a_spike_limit_answers_429_with_retry_after(exaktime_sandbox, api):
    exaktime_sandbox.faults.set("spike_limit", limit=3, seconds=10)
    answers = [api.get(EMPLOYEES) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 10
    assert error_of(answers[-1])["code"] == "rate_limited"
    assert "X-Rate-Limit-Limit" not in answers[0].headers  # a Procore habit, not ExakTime's


def test_status_slow_drop_and_malformed_faults(exaktime_sandbox, api):
    faults = exaktime_sandbox.faults
    faults.set("status", status=503, retry_after=2, path="/v1/Time/")
    assert api.get(EMPLOYEES).status_code == 200  # not under the path prefix
    answer = api.get(JOBS)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
    assert error_of(answer)["code"] == "service_unavailable"

    faults.set("slow", seconds=1.0)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.session.get(api.url + EMPLOYEES, timeout=0.2)
    assert time.monotonic() - started < 0.9

    faults.set("drop_after_write", method="POST")
    with pytest.raises(requests.ConnectionError):
        api.post(EMPLOYEES, json=employee())
    assert api.get(EMPLOYEES).json()["data"][-1]["identifier"] == "1011"  # it was written

    faults.set("malformed_json")
    with pytest.raises(ValueError):
        api.get(EMPLOYEES).json()
    log = exaktime_sandbox.requests()
    applied = {entry["fault"] for entry in log if "fault" in entry}
    assert {"status", "drop_after_write", "malformed_json"} <= applied  # slow: still asleep
    assert data.API_KEY not in str(log)
