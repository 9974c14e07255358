"""The Procore sandbox answers the single-record reads a webhook-driven import makes: one
sub-job, crew or standard cost code, 404 once it is gone or when it lives elsewhere."""

from __future__ import annotations

from integrations.procore.sandbox import data
from integrations.procore.sandbox.data import COMPANY_ID, SECOND_COMPANY_ID
from tests.sandbox.test_procore_sandbox import Api


def test_one_sub_job_of_any_status_and_404_once_gone_or_elsewhere(procore_sandbox):
    api = Api(procore_sandbox)
    path = f"/rest/v1.0/sub_jobs/{data.SUB_JOB_INACTIVE}"

    answer = api.get(path, params={"project_id": data.PROJECT_PJA})

    assert answer.status_code == 200
    assert (answer.json()["code"], answer.json()["active"]) == ("099", False)
    other_project = api.get(path, params={"project_id": data.PROJECT_ELM})
    assert other_project.status_code == 404
    procore_sandbox.remove("sub_job", data.SUB_JOB_INACTIVE)
    assert api.get(path, params={"project_id": data.PROJECT_PJA}).status_code == 404


def test_one_crew_with_its_employees_and_404_once_gone(procore_sandbox):
    api = Api(procore_sandbox)
    path = f"/rest/v1.0/projects/{data.PROJECT_PJA}/crews/{data.CREW_CONCRETE_PJA}"

    crew = api.get(path).json()

    assert crew["name"] == "Concrete Crew"
    assert data.WORKER_LINKED in {e["id"] for e in crew["employees"]}
    elsewhere = f"/rest/v1.0/projects/{data.PROJECT_ELM}/crews/{data.CREW_CONCRETE_PJA}"
    assert api.get(elsewhere).status_code == 404
    procore_sandbox.remove("crew", data.CREW_CONCRETE_PJA)
    assert api.get(path).status_code == 404


def test_one_standard_cost_code_or_division_and_404_in_another_company(procore_sandbox):
    api = Api(procore_sandbox)
    path = f"/rest/v1.0/standard_cost_codes/{data.STANDARD_CONCRETE_LABOR}"

    code = api.get(path, params={"company_id": COMPANY_ID}).json()
    division = api.get(
        f"/rest/v1.0/standard_cost_codes/{data.DIVISION_CONCRETE}",
        params={"company_id": COMPANY_ID},
    ).json()

    assert (code["full_code"], code["parent_id"]) == ("03-3010", data.DIVISION_CONCRETE)
    assert code["standard_cost_code_list_id"] == data.COST_CODE_LIST
    assert division["parent_id"] is None
    second = Api(procore_sandbox, SECOND_COMPANY_ID)
    assert second.get(path, params={"company_id": SECOND_COMPANY_ID}).status_code == 404
    procore_sandbox.remove("standard_cost_code", data.STANDARD_CONCRETE_LABOR)
    assert api.get(path, params={"company_id": COMPANY_ID}).status_code == 404


def test_a_cost_code_change_is_noticed_for_its_company(procore_sandbox, monkeypatch):
    """A standard cost code lives in a list: its notice names the list's company."""
    sent = []
    monkeypatch.setattr(procore_sandbox, "_post_later", lambda hook_id, event: sent.append(event))
    hooks = {
        "1": {
            "id": 1,
            "company_id": COMPANY_ID,
            "destination_url": "http://127.0.0.1:9/",
            "destination_headers": {},
            "triggers": {
                "1": {"id": 1, "resource_name": "Standard Cost Codes", "event_type": "update"}
            },
        }
    }
    procore_sandbox.store.kv_set("webhook_hooks", hooks)

    procore_sandbox.update("standard_cost_code", data.STANDARD_CONCRETE_LABOR, name="Labour")

    assert [(e["company_id"], e["resource_id"]) for e in sent] == [
        (COMPANY_ID, data.STANDARD_CONCRETE_LABOR)
    ]
