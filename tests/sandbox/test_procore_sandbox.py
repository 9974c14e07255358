"""The Procore sandbox speaks Procore's API as Linx uses it: proved over loopback with bare requests."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine

from integrations.procore.sandbox import ProcoreSandbox, data
from integrations.procore.sandbox.data import COMPANY_ID

USERS = f"/rest/v1.3/companies/{COMPANY_ID}/users"
TIMESHEETS = f"/rest/v1.0/companies/{COMPANY_ID}/timesheets"
ENTRIES = f"/rest/v1.0/companies/{COMPANY_ID}/timecard_entries"
TODAY = datetime.now(UTC).date()


def plain(method: str, url: str, **kwargs) -> requests.Response:
    """A bare request: no token, no company header."""
    return requests.request(method, url, timeout=5, **kwargs)


def token(url: str, **grant) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": data.CLIENT_ID,
        "client_secret": data.CLIENT_SECRET,
        **grant,
    }
    return plain("POST", f"{url}/oauth/token", data=form)


class Api:
    """Bare requests with a token and the company header, relative to the sandbox."""

    def __init__(self, sandbox: ProcoreSandbox, company_id: int = COMPANY_ID):
        self.url = sandbox.url
        self.session = requests.Session()
        access = token(sandbox.url).json()["access_token"]
        self.session.headers.update(
            {"Authorization": f"Bearer {access}", "Procore-Company-Id": str(company_id)}
        )

    def __getattr__(self, method: str):
        def call(path: str, **kwargs) -> requests.Response:
            kwargs.setdefault("timeout", 5)
            target = path if path.startswith("http") else self.url + path
            return self.session.request(method.upper(), target, **kwargs)

        return call

    def all_pages(self, path: str, **params) -> tuple[list[dict], int]:
        """Every record of a list, following Link rel="next"; and how many pages it took."""
        records, pages, answer = [], 0, self.get(path, params=params)
        while True:
            assert answer.status_code == 200, answer.text
            records += answer.json()
            pages += 1
            if "next" not in answer.links:
                return records, pages
            answer = self.get(answer.links["next"]["url"])


@pytest.fixture
def api(procore_sandbox) -> Api:
    return Api(procore_sandbox)


def entry(**fields) -> dict:
    """A valid timecard entry on PJA for the linked worker, changed by `fields`."""
    return {
        "project_id": data.PROJECT_PJA,
        "party_id": data.WORKER_LINKED,
        "date": TODAY.isoformat(),
        "hours": "8.00",
        "cost_code_id": data.PJA_COST_CODE_CONCRETE_LABOR,
        "timecard_time_type_id": data.TIME_TYPE_REG,
        "work_classification_id": data.WC_CARPENTER,
        "description": "Pour level 2 deck",
        "billable": False,
        "origin_id": "1000001-regular",
        "origin_data": "1",
        **fields,
    }


# --- OAuth --------------------------------------------------------------------------------


def test_client_credentials_give_a_bearer_token_without_refresh_token(procore_sandbox):
    answer = token(procore_sandbox.url)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 5400
    assert body["access_token"] and "refresh_token" not in body and body["created_at"]


@pytest.mark.parametrize(
    ("grant", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "made-up"}, 400, "invalid_grant"),
    ],
)
def test_token_errors_are_oauth_shaped(procore_sandbox, grant, status, error):
    answer = token(procore_sandbox.url, **grant)
    assert answer.status_code == status
    assert answer.json()["error"] == error and answer.json()["error_description"]


def authorize(url: str, redirect_uri: str = "http://linx.test/callback") -> dict[str, str]:
    answer = plain(
        "GET",
        f"{url}/oauth/authorize",
        params={"response_type": "code", "client_id": data.CLIENT_ID,
                "redirect_uri": redirect_uri, "state": "xyz-123"},
        allow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def test_authorization_code_flow_redirects_with_code_and_the_same_state(procore_sandbox):
    url = procore_sandbox.url
    answer = authorize(url)
    assert answer["state"] == "xyz-123"
    exchange = {"grant_type": "authorization_code", "code": answer["code"],
                "redirect_uri": "http://linx.test/callback"}  # fmt: skip
    first = token(url, **exchange)
    assert first.status_code == 200 and first.json()["refresh_token"]
    again = token(url, **exchange)  # codes are single-use
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    other = token(url, **{**exchange, "code": authorize(url)["code"], "redirect_uri": "x:/y"})
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


def test_refresh_tokens_are_single_use(procore_sandbox):
    url = procore_sandbox.url
    code = authorize(url)["code"]
    pair = token(url, grant_type="authorization_code", code=code,
                 redirect_uri="http://linx.test/callback").json()  # fmt: skip
    renewed = token(url, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert renewed.status_code == 200
    assert renewed.json()["refresh_token"] != pair["refresh_token"]
    reused = token(url, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant",
                             "error_description": "The refresh token is invalid"}  # fmt: skip
    chained = token(url, grant_type="refresh_token", refresh_token=renewed.json()["refresh_token"])
    assert chained.status_code == 200


def test_two_concurrent_refreshes_with_one_token_only_one_wins(procore_sandbox):
    url = procore_sandbox.url
    code = authorize(url)["code"]
    refresh = token(url, grant_type="authorization_code", code=code,
                    redirect_uri="http://linx.test/callback").json()["refresh_token"]  # fmt: skip
    statuses, start = [], threading.Barrier(8)

    def refresh_once():
        start.wait()
        statuses.append(token(url, grant_type="refresh_token", refresh_token=refresh).status_code)

    threads = [threading.Thread(target=refresh_once) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [400] * 7


def test_api_calls_need_a_live_bearer_token(procore_sandbox, api):
    url = procore_sandbox.url
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        answer = plain(
            "GET", url + USERS, headers={**headers, "Procore-Company-Id": str(COMPANY_ID)}
        )
        assert answer.status_code == 401
        assert answer.json() == {"message": "The access token is invalid"}
    assert api.get(USERS).status_code == 200


def test_access_tokens_expire_after_expires_in(procore_sandbox):
    procore_sandbox.token_lifetime = 60
    answer = token(procore_sandbox.url).json()
    assert answer["expires_in"] == 60
    headers = {"Authorization": f"Bearer {answer['access_token']}",
               "Procore-Company-Id": str(COMPANY_ID)}  # fmt: skip
    assert plain("GET", procore_sandbox.url + USERS, headers=headers).status_code == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61)):
        assert plain("GET", procore_sandbox.url + USERS, headers=headers).status_code == 401


# --- The company header -----------------------------------------------------------------


def test_a_missing_company_header_is_a_400_naming_it(procore_sandbox, api):
    del api.session.headers["Procore-Company-Id"]
    answer = api.get(USERS)
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Missing Procore-Company-Id header!")


def test_a_company_the_app_is_not_installed_in_is_a_403(procore_sandbox):
    unconnected = Api(procore_sandbox, data.UNCONNECTED_COMPANY_ID)
    path = f"/rest/v1.3/companies/{data.UNCONNECTED_COMPANY_ID}/users"
    answer = unconnected.get(path)
    assert answer.status_code == 403
    assert answer.json() == {"message": "App is not connected to this company"}
    picker = unconnected.get("/rest/v1.0/companies").json()
    assert [c["id"] for c in picker] == [COMPANY_ID, data.SECOND_COMPANY_ID]

    procore_sandbox.update("company", COMPANY_ID, features={"app_installed": False})
    assert Api(procore_sandbox).get(USERS).status_code == 403


def test_the_header_must_name_the_company_of_the_request(procore_sandbox, api):
    other = f"/rest/v1.3/companies/{data.SECOND_COMPANY_ID}/users"
    assert api.get(other).status_code == 400
    # A project of another company is not found, as Procore hides what a caller cannot see.
    second = Api(procore_sandbox, data.SECOND_COMPANY_ID)
    answer = second.get("/rest/v1.0/sub_jobs", params={"project_id": data.PROJECT_PJA})
    assert answer.status_code == 404


# --- Pagination and rate-limit headers --------------------------------------------------


def test_pages_carry_total_per_page_and_absolute_next_links_but_the_last(procore_sandbox, api):
    first = api.get(USERS, params={"per_page": 10})
    assert first.headers["Total"] == str(len(procore_sandbox.records("user", scope=COMPANY_ID,
                                                                      is_active=True)))  # fmt: skip
    assert first.headers["Per-Page"] == "10"
    assert first.links["next"]["url"].startswith(procore_sandbox.url + USERS + "?")
    records, pages = api.all_pages(USERS, per_page=10)
    assert pages == 3 and len(records) == int(first.headers["Total"])
    assert len({r["id"] for r in records}) == len(records)
    last = api.get(first.links["last"]["url"])
    assert "next" not in last.links and last.links["prev"]
    assert api.get(USERS, params={"page": 99}).json() == []


def test_per_page_is_capped_per_endpoint_and_by_the_server_cap(procore_sandbox, api):
    projects = api.get("/rest/v1.1/projects", params={"company_id": COMPANY_ID, "per_page": 5000})
    assert projects.headers["Per-Page"] == "300"
    assert api.get(USERS, params={"per_page": 5000}).headers["Per-Page"] == "1000"
    definitions = f"/rest/v1.1/companies/{COMPANY_ID}/custom_field_definitions"
    assert api.get(definitions, params={"per_page": 1000}).headers["Per-Page"] == "100"

    procore_sandbox.max_per_page = 3
    records, pages = api.all_pages(USERS, per_page=1000)
    assert len(records) == int(api.get(USERS).headers["Total"]) and pages == -(-len(records) // 3)


def test_every_answer_carries_rate_limit_headers(procore_sandbox, api):
    for answer in (api.get(USERS), api.get(USERS + "x"), plain("GET", procore_sandbox.url + USERS)):
        assert {"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} <= set(
            answer.headers
        )
    first, second = api.get(USERS), api.get(USERS)
    assert int(second.headers["X-Rate-Limit-Remaining"]) < int(
        first.headers["X-Rate-Limit-Remaining"]
    )
    assert int(first.headers["X-Rate-Limit-Reset"]) > time.time()


# --- Reads used by import ---------------------------------------------------------------


def test_users_active_and_inactive_with_every_named_case(procore_sandbox, api):
    active = {u["id"]: u for u in api.all_pages(USERS, per_page=1000)[0]}
    inactive = api.get(f"/rest/v1.0/companies/{COMPANY_ID}/users/inactive").json()
    assert {data.WORKER_INACTIVE, data.WORKER_INACTIVE_2} <= {u["id"] for u in inactive}
    assert all(not u["is_active"] for u in inactive)
    assert active[data.WORKER_LINKED]["employee_id"] == "1001"
    assert active[data.WORKER_NO_EMPLOYEE_ID]["employee_id"] is None
    assert not active[data.WORKER_NOT_EMPLOYEE]["is_employee"]
    assert len(active[data.WORKER_LONG_NAME]["last_name"]) > 50
    assert active[data.WORKER_DUPLICATE_ID_A]["employee_id"] == "1008"
    assert active[data.WORKER_DUPLICATE_ID_B]["employee_id"] == "1008"
    assert active[data.WORKER_NO_CLASSIFICATION]["work_classification_id"] is None
    fields = {"id", "employee_id", "first_name", "last_name", "email_address", "address",
              "city", "state_code", "zip", "mobile_phone", "work_classification_id",
              "is_active", "is_employee", "updated_at"}  # fmt: skip
    assert fields <= set(active[data.WORKER_LINKED])


def test_users_filter_on_updated_at(procore_sandbox, api):
    procore_sandbox.update("user", data.WORKER_LINKED, first_name="Alexandra")
    now = datetime.now(UTC)
    window = (
        f"{(now - timedelta(minutes=1)).isoformat()}...{(now + timedelta(minutes=1)).isoformat()}"
    )
    changed = api.get(USERS, params={"filters[updated_at]": window}).json()
    assert [(u["id"], u["first_name"], u["name"]) for u in changed] == [
        (data.WORKER_LINKED, "Alexandra", "Alexandra Rivera")
    ]
    by_day = api.get(USERS, params={"filters[updated_at]": f"{now.date()}...{now.date()}"})
    assert [u["id"] for u in by_day.json()] == [data.WORKER_LINKED]
    assert api.get(USERS, params={"filters[updated_at]": "yesterday"}).status_code == 400


def test_projects_filter_by_status_and_name_the_cases(procore_sandbox, api):
    def numbers(status=None):
        params = {"company_id": COMPANY_ID, **({"filters[by_status]": status} if status else {})}
        return {p["id"]: p for p in api.get("/rest/v1.1/projects", params=params).json()}

    active, inactive, every = numbers(), numbers("Inactive"), numbers("All")
    assert set(inactive) == {data.PROJECT_INACTIVE} and data.PROJECT_INACTIVE not in active
    assert set(every) == set(active) | set(inactive)
    assert (every[data.PROJECT_PJA]["name"], every[data.PROJECT_PJA]["project_number"]) == (
        "PJA", "200"
    )  # fmt: skip
    assert len(every[data.PROJECT_LONG_NAME]["name"]) > 100
    assert every[data.PROJECT_BAD_LATITUDE]["latitude"] == 123.4
    assert every[data.PROJECT_DUPLICATE_NUMBER]["project_number"] == "230"
    assert every[data.PROJECT_HARBOR]["start_date"] is None
    assert api.get("/rest/v1.1/projects").status_code == 400  # company_id is required
    assert (
        api.get(
            "/rest/v1.1/projects", params={"company_id": COMPANY_ID, "filters[by_status]": "Maybe"}
        ).status_code
        == 400
    )


def test_sub_jobs_cost_codes_and_crews_of_a_project(procore_sandbox, api):
    sub_jobs = api.get("/rest/v1.0/sub_jobs", params={"project_id": data.PROJECT_PJA}).json()
    assert [(s["code"], s["name"], s["active"]) for s in sub_jobs] == [
        ("005", "SJB", True), ("010", "SJC", True), ("099", "SJX", False)
    ]  # fmt: skip
    codes = {c["code"]: c for c in api.get("/rest/v1.0/cost_codes",
                                           params={"project_id": data.PROJECT_PJA}).json()}  # fmt: skip
    assert codes["3010"]["standard_cost_code_id"] == data.STANDARD_CONCRETE_LABOR
    assert codes["3010"]["parent"] == {"id": codes["03"]["id"]} and codes["03"]["parent"] is None
    assert (
        codes["6010"]["standard_cost_code_id"] is None and codes["6010"]["full_code"] == "06-6010"
    )
    assert codes["9010"]["deleted_at"] and "26010" not in codes
    crews = api.get(f"/rest/v1.0/projects/{data.PROJECT_PJA}/crews").json()
    riverside = api.get(f"/rest/v1.0/projects/{data.PROJECT_RIVERSIDE}/crews").json()
    assert [c["name"] for c in crews] == [c["name"] for c in riverside] == ["Concrete Crew"]
    assert data.WORKER_NOT_EMPLOYEE in {e["id"] for e in crews[0]["employees"]}


def test_standard_cost_codes_need_view_extended_for_their_fields(procore_sandbox, api):
    lists = api.get("/rest/v1.0/standard_cost_code_lists", params={"company_id": COMPANY_ID})
    assert [entry["id"] for entry in lists.json()] == [data.COST_CODE_LIST]
    params = {"company_id": COMPANY_ID, "standard_cost_code_list_id": data.COST_CODE_LIST}
    bare = api.get("/rest/v1.0/standard_cost_codes", params=params).json()
    assert set(bare[0]) == {"id", "standard_cost_code_list_id"}
    codes = api.get("/rest/v1.0/standard_cost_codes", params={**params, "view": "extended"})
    by_code = {c["code"]: c for c in codes.json()}
    assert (
        by_code["03"]["parent_id"] is None and by_code["3010"]["parent_id"] == by_code["03"]["id"]
    )
    assert not by_code["1050"]["active"]
    assert by_code["3050"]["name"] == by_code["5030"]["name"] == "Labor"
    other_list = {**params, "standard_cost_code_list_id": data.SECOND_COST_CODE_LIST}
    assert api.get("/rest/v1.0/standard_cost_codes", params=other_list).status_code == 404


def test_reference_data_for_export(procore_sandbox, api):
    company = f"/rest/v1.0/companies/{COMPANY_ID}"
    types = api.get(f"{company}/timecard_time_types").json()
    assert [t["abbreviated_time_type"] for t in types][:3] == ["REG", "OT", "DT"]
    classes = api.get(f"{company}/work_classifications").json()
    assert {"id", "name", "abbreviation"} <= set(classes[0])
    sets = {s["id"]: s for s in api.get(f"{company}/configurable_field_sets").json()}
    assert sets[data.FIELDSET_TIMESHEET]["type"] == "TimecardEntry"
    assert sets[data.FIELDSET_PROJECT]["type"] == "Project"
    definitions = api.get(f"/rest/v1.1/companies/{COMPANY_ID}/custom_field_definitions",
                          params={"tool_name": "timesheets"}).json()  # fmt: skip
    kinds = {d["id"]: d["data_type"] for d in definitions}
    assert [kinds[i] for i in sets[data.FIELDSET_TIMESHEET]["fields"]] == [
        "string", "date", "boolean", "lov_entry", "number"
    ]  # fmt: skip
    assert data.CF_PERMIT not in kinds
    weather = next(d for d in definitions if d["id"] == data.CF_WEATHER)
    assert [e["label"] for e in weather["custom_field_lov_entries"]] == [
        "Sunny", "Rain", "Snow", "Wind"
    ]  # fmt: skip
    assert not any(name.startswith("_") for name in weather)


def test_features_switched_off_answer_as_the_seed_describes(procore_sandbox, api):
    procore_sandbox.update("company", COMPANY_ID, features={"cost_codes": False})
    answer = api.get("/rest/v1.0/cost_codes", params={"project_id": data.PROJECT_PJA})
    assert answer.status_code == 403
    assert answer.json() == {"errors": {"base": [
        "You have insufficient rights to access the CostCode (PM209500) form."]}}  # fmt: skip
    lists = api.get("/rest/v1.0/standard_cost_code_lists", params={"company_id": COMPANY_ID})
    assert lists.status_code == 403

    procore_sandbox.update("company", COMPANY_ID, features={"sub_jobs": False})
    answer = api.get("/rest/v1.0/sub_jobs", params={"project_id": data.PROJECT_PJA})
    assert answer.status_code == 403 and "Sub Jobs are not enabled" in answer.json()["error"]
    refused = api.post(TIMESHEETS, json={"timecard_entries": [entry(sub_job_id=data.SUB_JOB_SJB)]})
    assert refused.status_code == 422


# --- Writes used by export --------------------------------------------------------------


def test_bulk_create_answers_the_entries_in_order_with_origin_as_sent(procore_sandbox, api):
    sent = [
        entry(origin_id="1000001-regular", origin_data={"revision": 1}),
        entry(hours=2.5, origin_id="1000001-ot1", timecard_time_type_id=data.TIME_TYPE_OT,
              sub_job_id=data.SUB_JOB_SJB),
        entry(hours="0.5", origin_id="1000001-ot2", timecard_time_type_id=data.TIME_TYPE_DT,
              **{f"custom_field_{data.CF_WEATHER}": str(data.LOV_RAIN),
                 f"custom_field_{data.CF_PER_DIEM}": True,
                 f"custom_field_{data.CF_EQUIPMENT}": "Pump truck",
                 f"custom_field_{data.CF_INSPECTION_DATE}": TODAY.isoformat()}),
    ]  # fmt: skip
    answer = api.post(TIMESHEETS, json={"timecard_entries": sent})
    assert answer.status_code == 201
    created = answer.json()
    assert [e["origin_id"] for e in created] == ["1000001-regular", "1000001-ot1", "1000001-ot2"]
    assert created[0]["origin_data"] == {"revision": 1}
    assert [e["hours"] for e in created] == ["8.0", "2.5", "0.5"]
    assert created[1]["sub_job"]["code"] == "005"
    assert created[2]["custom_fields"][f"custom_field_{data.CF_WEATHER}"] == {
        "data_type": "lov_entry", "value": data.LOV_RAIN
    }  # fmt: skip
    assert all(e["id"] > 2**32 for e in created) and len({e["id"] for e in created}) == 3

    listed = api.get(ENTRIES, params={"start_date": TODAY, "end_date": TODAY}).json()
    assert [e["id"] for e in listed] == [e["id"] for e in created]


def test_bulk_create_is_all_or_nothing_with_errors_by_index(procore_sandbox, api):
    riverside_code = procore_sandbox.records("cost_code", scope=data.PROJECT_RIVERSIDE)[-1]
    sent = [
        entry(),
        entry(cost_code_id=riverside_code["id"]),  # not set up on PJA
        entry(cost_code_id=data.PJA_COST_CODE_DRYWALL),  # deleted from PJA
        entry(hours="24.5"),
        entry(sub_job_id=data.SUB_JOB_SJB + 3),  # Riverside's sub-job
        entry(timecard_time_type_id=123),
        entry(party_id=999),
        entry(project_id=999),
        entry(cost_code_id=data.STANDARD_CONCRETE_LABOR),  # a company code, not the project's
        entry(sub_job_id=data.SUB_JOB_INACTIVE),
        entry(hours=None),
        entry(colour="red"),
    ]
    answer = api.post(TIMESHEETS, json={"timecard_entries": sent})
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [e["index"] for e in errors] == list(range(1, len(sent)))
    assert "not set up on project 200 PJA" in errors[0]["message"]
    assert "deleted" in errors[1]["message"] and "24" in errors[2]["message"]
    assert procore_sandbox.records("timecard_entry") == []

    too_many = api.post(TIMESHEETS, json={"timecard_entries": [entry()] * 101})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["index"] == 100
    assert api.post(TIMESHEETS, json={"entries": []}).status_code == 400
    assert api.post(TIMESHEETS, data="{not json").status_code == 400


def test_origin_id_is_not_unique(procore_sandbox, api):
    for _ in range(2):
        assert api.post(TIMESHEETS, json={"timecard_entries": [entry()]}).status_code == 201
    listed = api.get(ENTRIES, params={"start_date": TODAY, "end_date": TODAY}).json()
    assert [e["origin_id"] for e in listed] == ["1000001-regular"] * 2


def test_single_create_update_and_delete(procore_sandbox, api):
    fields = entry(time_in=f"{TODAY}T06:30:00-08:00", time_out=f"{TODAY}T15:30:00-08:00",
                   lunch_time=30, hours=None)  # fmt: skip
    fields.pop("project_id")
    created = api.post(ENTRIES, json={"project_id": data.PROJECT_PJA, "timecard_entry": fields})
    assert created.status_code == 201 and created.json()["hours"] == "8.5"
    path = f"{ENTRIES}/{created.json()['id']}"
    invalid = api.patch(path, json={"timecard_entry": {"cost_code_id": data.PJA_COST_CODE_DRYWALL}})
    assert invalid.status_code == 422 and "cost_code_id" in invalid.json()["errors"]

    changed = api.patch(path, json={"timecard_entry": {"description": "Moved", "origin_data": "2"}})
    assert changed.status_code == 200
    assert (changed.json()["description"], changed.json()["origin_data"]) == ("Moved", "2")
    assert changed.json()["hours"] == "8.5" and changed.json()["lunch_time"] == 30
    assert api.get(path).json()["description"] == "Moved"

    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404 and api.delete(path).status_code == 404
    assert api.get(ENTRIES, params={"start_date": TODAY, "end_date": TODAY}).json() == []


def test_listing_entries_defaults_to_this_week_and_filters(procore_sandbox, api):
    long_ago = TODAY - timedelta(days=40)
    sent = [entry(), entry(date=long_ago.isoformat()), entry(party_id=data.WORKER_LONG_NAME)]
    api.post(TIMESHEETS, json={"timecard_entries": sent})
    this_week = api.get(ENTRIES).json()
    assert [e["date"] for e in this_week] == [TODAY.isoformat()] * 2
    one_worker = api.get(ENTRIES, params={"start_date": long_ago, "end_date": TODAY,
                                          "filters[party_id][]": [data.WORKER_LINKED]})  # fmt: skip
    assert [e["party_id"] for e in one_worker.json()] == [data.WORKER_LINKED] * 2
    now = datetime.now(UTC)
    window = (
        f"{(now - timedelta(minutes=1)).isoformat()}...{(now + timedelta(minutes=1)).isoformat()}"
    )
    recent = api.get(ENTRIES, params={"start_date": long_ago, "end_date": TODAY,
                                      "filters[updated_at]": window})  # fmt: skip
    assert len(recent.json()) == 3
    assert api.get(ENTRIES, params={"start_date": "someday"}).status_code == 400


# --- State, control, mutation -----------------------------------------------------------


def test_exported_entries_survive_a_restart(tmp_path):
    path = tmp_path / "procore.sqlite3"
    with ProcoreSandbox(path) as sandbox:
        api = Api(sandbox)
        created = api.post(TIMESHEETS, json={"timecard_entries": [entry()]}).json()
        api.session.close()
    with ProcoreSandbox(path) as again:
        api = Api(again)
        answer = api.get(f"{ENTRIES}/{created[0]['id']}")
        assert answer.status_code == 200 and answer.json()["origin_id"] == "1000001-regular"
        api.session.close()
    with ProcoreSandbox(path, reset=True) as fresh:
        assert fresh.records("timecard_entry") == []


def test_inspection_views_show_state_and_requests_without_secrets(procore_sandbox, api):
    api.get(USERS, params={"per_page": 2})
    token(procore_sandbox.url)
    state = plain("GET", procore_sandbox.url + "/_sandbox/state").json()
    assert state["records"]["user"] == 30 and state["generated"] == {"scale": "small", "seed": 1}
    log = plain("GET", procore_sandbox.url + "/_sandbox/requests").json()["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in log][-2:] == [
        ("GET", USERS, 200), ("POST", "/oauth/token", 200)
    ]  # fmt: skip
    assert log[-2]["query"] == {"per_page": ["2"]}
    text = str(log)
    assert data.CLIENT_SECRET not in text
    assert api.session.headers["Authorization"].split()[1] not in text


def test_tests_and_people_can_change_the_data(procore_sandbox, api):
    base = procore_sandbox.url + "/_sandbox/records"
    renamed = plain("PATCH", f"{base}/user/{data.WORKER_LINKED}", json={"last_name": "Rivers"})
    assert renamed.status_code == 200
    assert api.get(USERS).json()[0]["name"] == "Alex Rivers"
    procore_sandbox.update("project", data.PROJECT_ELM, active=False)
    added = plain("POST", f"{base}/project?scope={COMPANY_ID}",
                          json={"project_number": "900", "name": "Added"})  # fmt: skip
    assert added.status_code == 201
    projects = api.get("/rest/v1.1/projects", params={"company_id": COMPANY_ID}).json()
    numbers = [p["project_number"] for p in projects]
    assert "900" in numbers and data.PROJECT_ELM not in [p["id"] for p in projects]
    listed = plain("GET", f"{base}/project", params={"scope": COMPANY_ID, "per_page": 2}).json()
    assert listed["total"] == 9 and len(listed["records"]) == 2
    assert plain("PATCH", f"{base}/user/1", json={}).status_code == 404
    assert plain("POST", f"{base}/user", json={}).status_code == 400  # which company?
    assert plain("POST", f"{base}/widget?scope=1", json={}).status_code == 400

    reset = plain("POST", procore_sandbox.url + "/_sandbox/reset", json={})
    assert reset.status_code == 200
    assert procore_sandbox.get("user", data.WORKER_LINKED)["last_name"] == "Rivera"


# --- Faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [(429, 3), (429, None), (500, None), (502, None), (503, 7), (504, None)],
)
def test_status_faults_answer_the_next_matching_requests(procore_sandbox, api, status, retry_after):
    procore_sandbox.faults.set("status", status=status, retry_after=retry_after, count=2,
                               method="GET", path="/rest/v1.3/")  # fmt: skip
    assert api.get(f"/rest/v1.0/companies/{COMPANY_ID}/work_classifications").status_code == 200
    first, second, third = api.get(USERS), api.get(USERS), api.get(USERS)
    assert (first.status_code, second.status_code, third.status_code) == (status, status, 200)
    assert first.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert "X-Rate-Limit-Remaining" in first.headers
    assert procore_sandbox.requests()[-2]["fault"] == "status"


def test_a_slow_answer_outlasts_a_client_timeout_after_doing_the_write(procore_sandbox, api):
    procore_sandbox.faults.set("slow", seconds=1.0, method="POST")
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.post(TIMESHEETS, json={"timecard_entries": [entry()]}, timeout=0.2)
    assert time.monotonic() - started < 0.9
    listed = api.get(ENTRIES, params={"start_date": TODAY, "end_date": TODAY}).json()
    assert [e["origin_id"] for e in listed] == ["1000001-regular"]


def test_a_dropped_connection_after_a_write_still_wrote(procore_sandbox, api):
    procore_sandbox.faults.set("drop_after_write")
    assert api.get(USERS).status_code == 200  # reads are not dropped
    with pytest.raises(requests.ConnectionError):
        api.post(TIMESHEETS, json={"timecard_entries": [entry()]})
    listed = api.get(ENTRIES, params={"start_date": TODAY, "end_date": TODAY}).json()
    assert [e["origin_id"] for e in listed] == ["1000001-regular"]


def test_a_dropped_refresh_still_spends_the_refresh_token(procore_sandbox):
    url = procore_sandbox.url
    pair = token(url, grant_type="authorization_code", code=authorize(url)["code"],
                 redirect_uri="http://linx.test/callback").json()  # fmt: skip
    procore_sandbox.faults.set("drop_after_write", path="/oauth/token")
    with pytest.raises(requests.ConnectionError):
        token(url, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    again = token(url, grant_type="refresh_token", refresh_token=pair["refresh_token"])
    assert again.status_code == 400


def test_expiring_every_token_now(procore_sandbox, api):
    url = procore_sandbox.url
    pair = token(url, grant_type="authorization_code", code=authorize(url)["code"],
                 redirect_uri="http://linx.test/callback").json()  # fmt: skip
    answer = plain("POST", url + "/_sandbox/faults", json={"kind": "expire_tokens"})
    assert answer.status_code == 201
    assert api.get(USERS).status_code == 401
    assert token(url, grant_type="refresh_token", refresh_token=pair["refresh_token"]).ok


def test_a_tight_spike_limit_answers_429_with_rate_limit_headers(procore_sandbox, api):
    procore_sandbox.faults.set("spike_limit", limit=5, seconds=10)
    answers = [api.get(USERS) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    assert answers[-1].headers["X-Rate-Limit-Limit"] == "5"
    assert 0 < int(answers[-1].headers["X-Rate-Limit-Reset"]) - time.time() <= 11
    assert "surpassed the max number of requests" in answers[-1].text
    procore_sandbox.faults.clear()
    assert api.get(USERS).status_code == 200


def test_malformed_json_and_html_error_pages(procore_sandbox, api):
    procore_sandbox.faults.set("malformed_json")
    broken = api.get(USERS)
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    procore_sandbox.faults.set("html", status=502)
    page = api.get(USERS)
    assert page.status_code == 502 and page.headers["Content-Type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in page.text


def test_the_fault_control_endpoint(procore_sandbox, api):
    control = procore_sandbox.url + "/_sandbox/faults"
    rules = {"faults": [{"kind": "status", "status": 503, "retry_after": 1, "count": None}]}
    assert plain("POST", control, json=rules).status_code == 201
    assert plain("GET", control).json()["faults"] == [
        {"kind": "status", "status": 503, "retry_after": 1}
    ]  # fmt: skip
    assert [api.get(USERS).status_code for _ in range(3)] == [503] * 3
    assert plain("DELETE", control).status_code == 204
    assert api.get(USERS).status_code == 200
    assert plain("POST", control, json={"kind": "earthquake"}).status_code == 400
    assert plain("POST", control, json={"kind": "status"}).status_code == 400


# --- Generated data -----------------------------------------------------------------------


def snapshot(sandbox: ProcoreSandbox) -> dict:
    kinds = ["user", "project", "sub_job", "standard_cost_code", "cost_code", "crew"]
    return {kind: sandbox.records(kind) for kind in kinds}


def test_the_same_seed_gives_the_same_data(tmp_path):
    with (
        ProcoreSandbox(tmp_path / "a.sqlite3", seed=7) as one,
        ProcoreSandbox(tmp_path / "b.sqlite3", seed=7) as two,
        ProcoreSandbox(tmp_path / "c.sqlite3", seed=8) as other,
    ):
        assert snapshot(one) == snapshot(two)
        assert snapshot(one) != snapshot(other)
        # The named cases stay put whatever the seed.
        for sandbox in (one, other):
            assert sandbox.get("project", data.PROJECT_PJA)["project_number"] == "200"
            assert sandbox.get("sub_job", data.SUB_JOB_SJB)["code"] == "005"


def test_the_large_scale_has_the_stated_counts_and_generates_quickly(tmp_path):
    started = time.monotonic()
    with ProcoreSandbox(tmp_path / "large.sqlite3", scale="large") as sandbox:
        assert time.monotonic() - started < 5
        count = sandbox.store.count
        assert count("user", scope=COMPANY_ID) == 5000
        assert count("project", scope=COMPANY_ID) == 500
        assert count("standard_cost_code", scope=data.COST_CODE_LIST) == 1000
        assert count("sub_job") > 500 and count("crew") > 300
        assert sandbox.get("cost_code", data.PJA_COST_CODE_DRYWALL)["deleted_at"]
        api = Api(sandbox)
        users, pages = api.all_pages(USERS, per_page=1000)
        assert pages == 5 and len(users) == count("user", scope=COMPANY_ID, eq={"is_active": True})
        api.session.close()


def test_the_second_companys_workers_hold_its_own_work_classifications(procore_sandbox):
    from integrations.procore.sandbox import data

    own = {
        wc["id"]
        for wc in procore_sandbox.records("work_classification", scope=data.SECOND_COMPANY_ID)
    }
    workers = procore_sandbox.records("user", scope=data.SECOND_COMPANY_ID)
    assert workers and {w["work_classification_id"] for w in workers} <= own
