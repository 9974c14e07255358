"""The Procore client's single-record reads (webhook-driven imports): one record, or None
when Procore says it is gone (404); any other refusal is raised as for a list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses
from responses import matchers

from integrations.procore import MemoryTokenStore, ProcoreClient, ProcoreError, Token
from integrations.procore.records import Crew, StandardCostCode, SubJob

LOGIN = "https://login.procore.test"
API = "https://api.procore.test"
CID = 4_294_967_303
PID = 5_294_967_303


@pytest.fixture
def client(clock, rng) -> ProcoreClient:
    expires = datetime.fromtimestamp(clock.now, tz=UTC) + timedelta(hours=1)
    store = MemoryTokenStore(Token("access-VALUE", expires, "refresh-VALUE"))
    return ProcoreClient(
        API, LOGIN, "client-id", "secret", CID, store, sleep=clock.sleep, clock=clock, rng=rng
    )


def company_header():
    return matchers.header_matcher({"Procore-Company-Id": str(CID)})


@responses.activate
def test_one_sub_job_is_read_within_its_project(client):
    responses.get(
        f"{API}/rest/v1.0/sub_jobs/71",
        match=[matchers.query_param_matcher({"project_id": str(PID)}), company_header()],
        json={"id": 71, "code": "005", "name": "SJB", "active": False},
    )

    sub_job = client.sub_job(PID, 71)

    assert sub_job == SubJob(id=71, project_id=PID, code="005", name="SJB", active=False)


@responses.activate
def test_one_crew_is_read_with_its_employees(client):
    responses.get(
        f"{API}/rest/v1.0/projects/{PID}/crews/81",
        match=[company_header()],
        json={"id": 81, "name": "Concrete Crew", "employees": [{"id": 3}, {"id": 4}]},
    )

    crew = client.crew(PID, 81)

    assert (crew.id, crew.project_id, crew.name, crew.employee_ids) == (
        81,
        PID,
        "Concrete Crew",
        (3, 4),
    )
    assert isinstance(crew, Crew)


@responses.activate
def test_one_standard_cost_code_is_read_with_its_division(client):
    responses.get(
        f"{API}/rest/v1.0/standard_cost_codes/91",
        match=[matchers.query_param_matcher({"company_id": str(CID)}), company_header()],
        json={
            "id": 91,
            "code": "3010",
            "full_code": "03-3010",
            "name": "Concrete Labor",
            "parent_id": 90,
            "standard_cost_code_list_id": 11,
        },
    )

    code = client.standard_cost_code(91)

    assert isinstance(code, StandardCostCode)
    assert (code.parent_id, code.list_id, code.full_code, code.is_division) == (
        90,
        11,
        "03-3010",
        False,
    )


@responses.activate
@pytest.mark.parametrize(
    ("read", "url"),
    [
        (lambda c: c.sub_job(PID, 71), f"{API}/rest/v1.0/sub_jobs/71"),
        (lambda c: c.crew(PID, 81), f"{API}/rest/v1.0/projects/{PID}/crews/81"),
        (lambda c: c.standard_cost_code(91), f"{API}/rest/v1.0/standard_cost_codes/91"),
    ],
)
def test_a_record_that_is_gone_reads_as_none(client, read, url):
    responses.get(url, status=404, json={"message": "not found"})

    assert read(client) is None
    assert len(responses.calls) == 1  # a 404 is an answer, not retried


@responses.activate
def test_a_refused_single_read_raises_procores_message(client):
    responses.get(
        f"{API}/rest/v1.0/standard_cost_codes/91",
        status=403,
        json={
            "errors": {
                "base": ["You have insufficient rights to access the CostCode (PM209500) form."]
            }
        },
    )

    with pytest.raises(ProcoreError, match="insufficient rights"):
        client.standard_cost_code(91)
