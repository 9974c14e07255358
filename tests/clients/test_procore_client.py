"""The Procore client: headers, pagination, 401 handling, typed records, timecard writes."""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry
from urllib3.exceptions import ProtocolError

from integrations.procore import (
    MemoryTokenStore,
    ProcoreAuthError,
    ProcoreClient,
    ProcoreError,
    ProcoreOutcomeUnknown,
    ProcoreUnavailable,
    ProcoreValidationError,
    Token,
)
from integrations.procore.client import PER_PAGE
from integrations.procore.records import (
    Project,
    StandardCostCode,
    TimecardEntry,
    Worker,
)

LOGIN = "https://login.procore.test"
API = "https://api.procore.test"
TOKEN_URL = f"{LOGIN}/oauth/token"
CID = 4_294_967_303  # company ids exceed 32 bits
SECRET = "client-secret-VALUE-123"
ACCESS = "access-VALUE-abc"


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def page_link(url: str, rel: str = "next") -> dict[str, str]:
    return {"Link": f'<{url}>; rel="{rel}"'}


@pytest.fixture
def store(clock) -> MemoryTokenStore:
    expires = datetime.fromtimestamp(clock.now, tz=UTC) + timedelta(hours=1)
    return MemoryTokenStore(Token(ACCESS, expires, "refresh-VALUE-1"))


@pytest.fixture
def client(store, clock, rng) -> ProcoreClient:
    return ProcoreClient(
        API,
        LOGIN,
        "client-id",
        SECRET,
        CID,
        store,
        "authorization_code",
        sleep=clock.sleep,
        clock=clock,
        rng=rng,
    )


# Headers -----------------------------------------------------------------------------


@responses.activate
def test_every_call_carries_the_token_and_the_company(client):
    responses.get(
        f"{API}/rest/v1.0/companies", json=[{"id": CID, "name": "Acme", "is_active": True}]
    )
    [company] = client.companies()
    assert (company.id, company.name, company.is_active) == (CID, "Acme", True)
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {ACCESS}"
    assert headers["Procore-Company-Id"] == str(CID)
    assert headers["User-Agent"].startswith("Linx/")


def test_the_client_repr_holds_no_secret(client):
    assert SECRET not in repr(client) and ACCESS not in repr(client)
    assert SECRET not in repr(client.auth)


# Pagination --------------------------------------------------------------------------


@responses.activate(registry=OrderedRegistry)
def test_pages_are_followed_by_link_next_not_stopped_by_a_short_page(client):
    users = f"{API}/rest/v1.3/companies/{CID}/users"
    # The server grants fewer than asked: a short page that still has a next link.
    responses.get(
        users,
        json=[{"id": 1, "employee_id": "E1", "first_name": "Ann", "last_name": "Lee"}],
        headers={**page_link(f"{users}?page=2&per_page=1000&x=kept"), "Total": "3"},
    )
    responses.get(
        users,
        json=[{"id": 2, "first_name": "Bo", "last_name": "Ng"}],
        headers={
            "Link": f'<{users}?page=1>; rel="first", <{users}?page=3&per_page=1000>; rel="next"'
        },
    )
    responses.get(users, json=[{"id": 3, "first_name": "Cy", "last_name": "Oz"}])
    workers = client.workers()
    assert workers.total is None  # nothing fetched before iterating
    first = next(workers)
    assert len(responses.calls) == 1  # a generator: one page at a time
    assert workers.total == 3  # Procore's Total header, for progress
    assert [first.id, *(w.id for w in workers)] == [1, 2, 3]
    assert query(responses.calls[0]) == {"page": ["1"], "per_page": ["1000"]}
    # The next URL is used as given.
    assert query(responses.calls[1]) == {"page": ["2"], "per_page": ["1000"], "x": ["kept"]}
    assert query(responses.calls[2]) == {"page": ["3"], "per_page": ["1000"]}


@responses.activate
def test_a_page_without_next_is_the_last_even_when_full(client):
    projects = f"{API}/rest/v1.1/projects"
    responses.get(projects, json=[{"id": i, "name": f"P{i}"} for i in range(300)])
    assert len(list(client.projects())) == 300
    assert len(responses.calls) == 1
    assert query(responses.calls[0])["per_page"] == [str(PER_PAGE["projects"])] == ["300"]


@responses.activate(registry=OrderedRegistry)
def test_a_relative_next_link_is_resolved_against_the_api(client):
    crews = f"{API}/rest/v1.0/projects/7/crews"
    responses.get(
        crews,
        json=[{"id": 1, "name": "A", "employees": [{"id": 11}, {"id": 12}]}],
        headers=page_link("/rest/v1.0/projects/7/crews?page=2"),
    )
    responses.get(crews, json=[{"id": 2, "name": "B"}])
    crews_read = list(client.crews(7))
    assert [(c.id, c.project_id, c.employee_ids) for c in crews_read] == [
        (1, 7, (11, 12)),
        (2, 7, ()),
    ]


@responses.activate
def test_a_next_link_to_another_host_is_refused_so_the_token_stays_home(client):
    responses.get(
        f"{API}/rest/v1.0/companies/{CID}/work_classifications",
        json=[{"id": 1, "name": "Carpenter"}],
        headers=page_link("https://evil.test/steal?page=2"),
    )
    with pytest.raises(ProcoreError, match="another host"):
        list(client.work_classifications())
    assert len(responses.calls) == 1


@responses.activate(registry=OrderedRegistry)
def test_the_next_link_is_found_among_the_others_and_a_last_page_ends_the_list(client):
    classes = f"{API}/rest/v1.0/companies/{CID}/work_classifications"
    responses.get(
        classes,
        json=[{"id": 1, "name": "Carpenter"}],
        headers={
            "Link": f'<{classes}?page=1>; rel="first", <{classes}?page=3>; rel=last, '
            f'<{classes}?page=2>; rel="next"'
        },
    )
    responses.get(
        classes,
        json=[{"id": 2, "name": "Mason"}],
        headers={"Link": f'<{classes}?page=1>; rel="first", <{classes}?page=2>; rel="last"'},
    )
    assert [c.name for c in client.work_classifications()] == ["Carpenter", "Mason"]
    assert [query(call)["page"] for call in responses.calls] == [["1"], ["2"]]


# Pacing through the client -----------------------------------------------------------


@responses.activate(registry=OrderedRegistry)
def test_the_client_paces_itself_when_the_window_runs_low(client, clock):
    cost_codes = f"{API}/rest/v1.0/cost_codes"
    limits = {
        "X-Rate-Limit-Limit": "25",
        "X-Rate-Limit-Remaining": "3",
        "X-Rate-Limit-Reset": str(int(clock.now) + 6),
    }
    responses.get(
        cost_codes,
        json=[{"id": 1, "code": "100", "name": "A"}],
        headers={**limits, **page_link(f"{cost_codes}?project_id=5&page=2")},
    )
    responses.get(
        cost_codes,
        json=[{"id": 2, "code": "200", "name": "B", "deleted_at": "2026-01-01T00:00:00Z"}],
    )
    codes = list(client.project_cost_codes(5))
    assert clock.sleeps == [2.0]
    assert [c.is_deleted for c in codes] == [False, True]


# 401 ---------------------------------------------------------------------------------


@responses.activate(registry=OrderedRegistry)
def test_a_401_earns_one_refresh_and_one_retry(client, store):
    url = f"{API}/rest/v1.0/companies/{CID}/timecard_time_types"
    responses.get(url, status=401, json={"message": "The access token is invalid"})
    responses.post(
        TOKEN_URL,
        json={"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 5400},
    )
    responses.get(
        url,
        json=[
            {"id": 1, "time_type": "Regular Time", "abbreviated_time_type": "REG", "global": True}
        ],
    )
    [time_type] = client.timecard_time_types()
    assert (time_type.abbreviated_time_type, time_type.global_) == ("REG", True)
    assert responses.calls[2].request.headers["Authorization"] == "Bearer access-2"
    assert store.current().refresh_token == "refresh-2"


@responses.activate(registry=OrderedRegistry)
def test_a_second_401_is_a_clear_reconnect_error(client):
    url = f"{API}/rest/v1.0/companies/{CID}/timecard_time_types"
    responses.get(url, status=401, json={"message": "The access token is invalid"})
    responses.post(
        TOKEN_URL,
        json={"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 5400},
    )
    responses.get(url, status=401, json={"error": "Unauthorized"})
    with pytest.raises(ProcoreAuthError) as caught:
        list(client.timecard_time_types())
    assert caught.value.permanent is True and caught.value.status == 401
    assert "Reconnect to Procore" in caught.value.message
    assert len(responses.calls) == 3


@responses.activate(registry=OrderedRegistry)
def test_a_post_refused_with_401_is_sent_again_after_the_refresh(client):
    url = f"{API}/rest/v1.0/companies/{CID}/timecard_entries"
    responses.post(url, status=401, json={"message": "The access token is invalid"})
    responses.post(
        TOKEN_URL,
        json={"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 5400},
    )
    responses.post(url, status=201, json={"id": 55, "date": "2026-03-02", "hours": "8.0"})
    entry = client.create_timecard_entry(7, {"date": "2026-03-02", "hours": "8.0"})
    assert entry.id == 55


@responses.activate
def test_a_refused_refresh_after_a_401_says_reconnect(client):
    responses.get(
        f"{API}/rest/v1.0/companies", status=401, json={"message": "The access token is invalid"}
    )
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(ProcoreAuthError, match="refresh token was already used or revoked"):
        list(client.companies())


# Reads -------------------------------------------------------------------------------


@responses.activate
def test_workers_changed_since_a_time_use_an_updated_at_window(client, clock):
    responses.get(
        f"{API}/rest/v1.3/companies/{CID}/users",
        json=[
            {
                "id": 5,
                "employee_id": 77,
                "first_name": "Ann",
                "last_name": "Lee",
                "is_employee": True,
                "work_classification_id": "9",
                "updated_at": "2026-02-01T10:00:00Z",
            },
        ],
    )
    [worker] = client.workers(updated_since=datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    assert worker == Worker(
        id=5,
        employee_id="77",
        first_name="Ann",
        last_name="Lee",
        is_employee=True,
        work_classification_id=9,
        updated_at=datetime(2026, 2, 1, 10, 0, tzinfo=UTC),
    )
    window = query(responses.calls[0])["filters[updated_at]"][0]
    since, until = window.split("...")
    assert since == "2026-01-31T12:00:00Z"
    assert datetime.fromisoformat(until) > datetime.fromtimestamp(clock.now, tz=UTC)


@responses.activate
def test_inactive_workers_come_from_their_own_list(client):
    responses.get(
        f"{API}/rest/v1.0/companies/{CID}/users/inactive",
        json=[{"id": 6, "first_name": "Old", "last_name": "Timer"}],
    )
    [worker] = client.inactive_workers()
    assert worker.is_active is False


@responses.activate
def test_projects_by_status(client):
    responses.get(
        f"{API}/rest/v1.1/projects",
        json=[
            {
                "id": 3,
                "project_number": "P-3",
                "name": "Tower",
                "start_date": "2026-04-01",
                "latitude": "34.05",
                "longitude": -118.25,
                "active": False,
            }
        ],
    )
    [project] = client.projects(status="All")
    assert query(responses.calls[0])["filters[by_status]"] == ["All"]
    assert query(responses.calls[0])["company_id"] == [str(CID)]
    assert project == Project(
        id=3,
        project_number="P-3",
        name="Tower",
        start_date=date(2026, 4, 1),
        latitude=34.05,
        longitude=-118.25,
        active=False,
    )
    with pytest.raises(ValueError, match="status"):
        client.projects(status="active")


@responses.activate
def test_standard_cost_codes_ask_for_the_extended_view_and_know_divisions(client):
    responses.get(
        f"{API}/rest/v1.0/standard_cost_codes",
        json=[
            {"id": 1, "code": "01", "full_code": "01", "name": "General", "parent_id": None},
            {
                "id": 2,
                "code": "100",
                "full_code": "01-100",
                "name": "Labor",
                "parent_id": 1,
                "origin_id": 42,
            },
        ],
    )
    division, code = client.standard_cost_codes(8)
    assert query(responses.calls[0])["view"] == ["extended"]
    assert query(responses.calls[0])["standard_cost_code_list_id"] == ["8"]
    assert (division.is_division, code.is_division) == (True, False)
    assert code == StandardCostCode(
        id=2, list_id=8, code="100", full_code="01-100", name="Labor", parent_id=1, origin_id="42"
    )


@responses.activate
def test_fieldsets_keep_the_timesheet_ones_and_custom_fields_know_their_support(client):
    responses.get(
        f"{API}/rest/v1.0/companies/{CID}/configurable_field_sets",
        json=[
            {"id": 1, "name": "Timesheets", "type": "TimecardEntry", "fields": [10, 11]},
            {"id": 2, "name": "Projects", "type": "Project", "fields": [12]},
        ],
    )
    responses.get(
        f"{API}/rest/v1.1/companies/{CID}/custom_field_definitions",
        json=[
            {
                "id": 10,
                "label": "Shift",
                "active": True,
                "data_type": "lov_entry",
                "custom_field_lov_entries": [
                    {"id": 100, "label": "Day"},
                    {"id": 101, "label": "Night"},
                ],
            },
            {"id": 11, "label": "Rate", "active": True, "data_type": "decimal"},
        ],
    )
    [fieldset] = client.fieldsets()
    assert (fieldset.id, fieldset.field_ids) == (1, (10, 11))
    assert len(list(client.fieldsets(None))) == 2
    shift, rate = client.custom_field_definitions()
    assert query(responses.calls[-1])["tool_name"] == ["timesheets"]
    assert (shift.supported, rate.supported) == (True, False)
    assert [o.label for o in shift.options] == ["Day", "Night"]


@responses.activate
def test_timecard_entries_for_reconciliation(client):
    responses.get(
        f"{API}/rest/v1.0/companies/{CID}/timecard_entries",
        json=[
            {
                "id": 900,
                "date": "2026-03-02",
                "hours": "8.0",
                "project": {"id": 3},
                "party": {"id": 5},
                "cost_code": {"id": 44},
                "timecard_time_type": {"id": 1},
                "origin_id": "123-regular",
                "origin_data": "rev 4",
                "custom_fields": {"custom_field_10": {"data_type": "lov_entry", "value": 100}},
            }
        ],
    )
    [entry] = client.timecard_entries(date(2026, 3, 1), date(2026, 3, 7), party_ids=[5, 6])
    params = query(responses.calls[0])
    assert params["start_date"] == ["2026-03-01"] and params["end_date"] == ["2026-03-07"]
    assert params["filters[party_id][]"] == ["5", "6"]
    assert entry == TimecardEntry(
        id=900,
        project_id=3,
        party_id=5,
        date=date(2026, 3, 2),
        hours=Decimal("8.0"),
        cost_code_id=44,
        timecard_time_type_id=1,
        origin_id="123-regular",
        origin_data="rev 4",
        custom_fields={10: 100},
    )


def test_a_client_without_a_company_says_to_choose_one(store):
    client = ProcoreClient(API, LOGIN, "client-id", SECRET, None, store)
    with pytest.raises(ProcoreError, match="No Procore company is chosen"):
        client.workers()


# Writes ------------------------------------------------------------------------------


def entry(n: int) -> dict[str, object]:
    return {
        "project_id": 3,
        "party_id": 5,
        "date": "2026-03-02",
        "hours": "8",
        "origin_id": f"{n}-regular",
    }


@responses.activate
def test_bulk_create_returns_the_entries_in_request_order(client):
    url = f"{API}/rest/v1.0/companies/{CID}/timesheets"
    responses.post(
        url,
        status=201,
        json=[{"id": 1000 + n, **entry(n)} for n in range(3)],
        match=[matchers.json_params_matcher({"timecard_entries": [entry(n) for n in range(3)]})],
    )
    created = client.create_timecard_entries([entry(n) for n in range(3)])
    assert [(e.id, e.origin_id) for e in created] == [
        (1000, "0-regular"),
        (1001, "1-regular"),
        (1002, "2-regular"),
    ]


@responses.activate
def test_bulk_create_for_ids_answers_the_created_ids_in_request_order(client):
    url = f"{API}/rest/v1.0/companies/{CID}/timesheets"
    answered = [{"id": 1000 + n, **entry(n), "date": "not a date"} for n in range(3)]
    responses.post(url, status=201, json={"timecard_entries": answered})
    assert client.create_timecard_entry_ids([entry(n) for n in range(3)]) == [1000, 1001, 1002]
    # An answer without one of its entries cannot be recorded: the same error as read whole.
    responses.post(url, status=201, json=[{"id": 7}, {"origin_id": "1-regular"}])
    with pytest.raises(ValueError, match="without 'id'"):
        client.create_timecard_entry_ids([entry(0), entry(1)])
    with pytest.raises(ValueError, match="without 'id'"):
        client.create_timecard_entries([entry(0), entry(1)])


def test_bulk_create_takes_at_most_100_entries(client):
    with pytest.raises(ValueError, match="at most 100"):
        client.create_timecard_entries([entry(n) for n in range(101)])
    assert client.create_timecard_entries([]) == []


@responses.activate
def test_a_rejected_batch_keeps_its_errors_per_entry(client):
    responses.post(
        f"{API}/rest/v1.0/companies/{CID}/timesheets",
        status=422,
        json={"errors": [{"index": 1, "message": "Cost code is not set up on this project"}]},
    )
    with pytest.raises(ProcoreValidationError) as caught:
        client.create_timecard_entries([entry(0), entry(1)])
    assert caught.value.index_errors == {1: ("Cost code is not set up on this project",)}
    assert caught.value.permanent is True
    assert len(responses.calls) == 1


@responses.activate
def test_a_bulk_create_whose_connection_drops_after_sending_is_never_resent(client):
    responses.post(
        f"{API}/rest/v1.0/companies/{CID}/timesheets",
        body=requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError())),
    )
    with pytest.raises(ProcoreOutcomeUnknown) as caught:
        client.create_timecard_entries([entry(0)])
    assert len(responses.calls) == 1
    assert caught.value.permanent is False
    assert isinstance(caught.value, ProcoreError)


@responses.activate
def test_an_update_that_times_out_is_never_resent(client):
    responses.patch(
        f"{API}/rest/v1.0/companies/{CID}/timecard_entries/900",
        body=requests.ReadTimeout("read timed out"),
    )
    with pytest.raises(ProcoreOutcomeUnknown):
        client.update_timecard_entry(900, {"hours": "7.5"})
    assert len(responses.calls) == 1


@responses.activate
def test_an_update_sends_the_changed_fields(client):
    responses.patch(
        f"{API}/rest/v1.0/companies/{CID}/timecard_entries/900",
        json={"id": 900, "hours": "7.5", "date": "2026-03-02"},
        match=[matchers.json_params_matcher({"timecard_entry": {"hours": "7.5"}})],
    )
    assert client.update_timecard_entry(900, {"hours": "7.5"}).hours == Decimal("7.5")


@responses.activate
def test_a_single_create_carries_the_project(client):
    responses.post(
        f"{API}/rest/v1.0/companies/{CID}/timecard_entries",
        status=201,
        json={"id": 901, "project_id": 3, "date": "2026-03-02"},
        match=[
            matchers.json_params_matcher(
                {"project_id": 3, "timecard_entry": {"date": "2026-03-02"}}
            )
        ],
    )
    assert client.create_timecard_entry(3, {"date": "2026-03-02"}).project_id == 3


@responses.activate
def test_delete_says_whether_the_entry_was_still_there(client):
    url = f"{API}/rest/v1.0/companies/{CID}/timecard_entries"
    responses.delete(f"{url}/1", status=204)
    responses.delete(f"{url}/2", status=404, json={"message": "Not Found"})
    assert client.delete_timecard_entry(1) is True
    assert client.delete_timecard_entry(2) is False


@responses.activate
def test_a_write_accepted_with_an_unreadable_answer_is_an_unknown_outcome(client):
    responses.post(
        f"{API}/rest/v1.0/companies/{CID}/timecard_entries", status=201, body="<html>ok</html>"
    )
    with pytest.raises(ProcoreOutcomeUnknown):
        client.create_timecard_entry(3, {"date": "2026-03-02"})


@responses.activate
def test_procore_being_down_is_a_transient_error_after_the_retries(client):
    responses.get(f"{API}/rest/v1.0/companies", status=502, body="<h1>502 Bad Gateway</h1>")
    with pytest.raises(ProcoreUnavailable) as caught:
        list(client.companies())
    assert caught.value.permanent is False
    assert caught.value.message == "Procore says: 502 Bad Gateway (502)."
    assert len(responses.calls) == 7


# Secrets -----------------------------------------------------------------------------


@responses.activate(registry=OrderedRegistry)
def test_secrets_never_reach_logs_errors_or_reprs(clock, rng, caplog):
    store = MemoryTokenStore()
    client = ProcoreClient(
        API, LOGIN, "client-id", SECRET, CID, store, sleep=clock.sleep, clock=clock, rng=rng
    )
    responses.post(TOKEN_URL, json={"access_token": "access-LEAKY-777", "expires_in": 5400})
    responses.get(
        f"{API}/rest/v1.0/companies", body=requests.ReadTimeout("Bearer access-LEAKY-777 timed out")
    )
    responses.get(
        f"{API}/rest/v1.0/companies",
        status=403,
        json={"message": f"Token access-LEAKY-777 with secret {SECRET} is not allowed"},
    )
    with (
        caplog.at_level(logging.DEBUG, logger="integrations"),
        pytest.raises(ProcoreError) as caught,
    ):
        list(client.companies())
    texts = [
        caplog.text,
        str(caught.value),
        repr(caught.value),
        repr(client),
        repr(store),
        *(r.getMessage() for r in caplog.records),
    ]
    for text in texts:
        assert "access-LEAKY-777" not in text
        assert SECRET not in text
    assert "[redacted]" in caught.value.message
    assert any(r.getMessage().startswith("GET /rest/v1.0/companies 403 ") for r in caplog.records)
    assert any(r.getMessage().startswith("POST /oauth/token 200 ") for r in caplog.records)


# Pages asked for ahead -----------------------------------------------------------------


def three_pages_of_workers(second: dict | None = None) -> None:
    users = f"{API}/rest/v1.3/companies/{CID}/users"
    responses.get(
        users,
        json=[{"id": 1, "first_name": "Ann", "last_name": "Lee"}],
        headers={**page_link(f"{users}?page=2&per_page=1000"), "Total": "3"},
    )
    responses.get(
        users,
        **(second or {}),
        json=[{"id": 2, "first_name": "Bo", "last_name": "Ng"}],
        headers={**page_link(f"{users}?page=3&per_page=1000"), "Total": "3"},
    )
    responses.get(
        users, json=[{"id": 3, "first_name": "Cy", "last_name": "Oz"}], headers={"Total": "3"}
    )


def calls_within(count: int, seconds: float = 5.0) -> int:
    """The calls made, once ``count`` are or ``seconds`` have passed (one is in a thread)."""
    deadline = time.monotonic() + seconds
    while len(responses.calls) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return len(responses.calls)


@responses.activate(registry=OrderedRegistry)
def test_a_list_read_to_its_end_asks_for_the_next_page_while_one_is_gone_through(client):
    three_pages_of_workers()
    workers = client.workers(pages_ahead=True)
    first = next(workers)
    assert calls_within(2) == 2  # page 2 asked for while page 1's records are used
    assert [first.id, *(w.id for w in workers)] == [1, 2, 3]
    assert [query(c)["page"] for c in responses.calls] == [["1"], ["2"], ["3"]]
    assert not workers.changed


@responses.activate(registry=OrderedRegistry)
def test_a_page_asked_for_ahead_and_refused_with_401_is_renewed_and_read(client, store):
    users = f"{API}/rest/v1.3/companies/{CID}/users"
    responses.get(users, json=[{"id": 1}], headers=page_link(f"{users}?page=2&per_page=1000"))
    responses.get(users, status=401, json={"message": "The access token is invalid"})
    responses.post(
        TOKEN_URL,
        json={"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 5400},
    )
    responses.get(users, json=[{"id": 2}])
    assert [w.id for w in client.workers(pages_ahead=True)] == [1, 2]
    assert responses.calls[3].request.headers["Authorization"] == "Bearer access-2"
    assert store.current().access_token == "access-2"


@responses.activate(registry=OrderedRegistry)
def test_a_page_asked_for_ahead_that_fails_fails_the_list_after_the_pages_before(client):
    three_pages_of_workers(second={"status": 403})
    responses.assert_all_requests_are_fired = False
    read = []
    with pytest.raises(ProcoreError):
        for worker in client.workers(pages_ahead=True):
            read.append(worker.id)
    assert read == [1]  # page 1's records, then page 2's refusal, as without reading ahead


@responses.activate(registry=OrderedRegistry)
def test_a_list_only_peeked_at_asks_for_no_page_ahead(client):
    three_pages_of_workers()
    responses.assert_all_requests_are_fired = False
    next(client.workers())
    assert calls_within(2, seconds=0.2) == 1
