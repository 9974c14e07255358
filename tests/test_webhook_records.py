"""Notices about sub-jobs, crews and cost codes: each read with one single-record read,
counted here by the requests the Procore sandbox saw; their whole lists only where one
record cannot decide."""

from __future__ import annotations

import pytest

from integrations.procore.sandbox import data as pc
from linx.models import Connection, EntityMapping, EntityType, Outcome, RunStatus
from linx.sync import webhooks
from tests.test_webhook_import import imported, procore_reads, queued, tell  # noqa: F401  (fixtures)

PJA_SUB_JOB = f"/rest/v1.0/sub_jobs/{pc.SUB_JOB_SJB}"


@pytest.fixture
def hooked(imported):  # noqa: F811
    """The sandbox company imported once, webhooks on, the sandboxes' logs emptied."""
    return imported


def twin(exaktime_sandbox, kind: str, procore_id: int) -> dict:
    mapping = EntityMapping.objects.get(entity_type=kind, procore_id=procore_id)
    groups = (EntityType.CREW, EntityType.LOCATION_GROUP)
    target = "group" if kind in groups else {EntityType.COST_CODE: "cost_code"}.get(kind, "job")
    return exaktime_sandbox.get(target, int(mapping.exaktime_id))


def setting(connection, **fields) -> Connection:
    Connection.objects.filter(pk=connection.pk).update(**fields)
    connection.refresh_from_db()
    return connection


def employee_twins(*worker_ids: int) -> set[int]:
    return {
        int(m.exaktime_id)
        for m in EntityMapping.objects.filter(
            entity_type=EntityType.EMPLOYEE, procore_id__in=worker_ids, exaktime_id__isnull=False
        )
    }


# --- sub-jobs -----------------------------------------------------------------------


def test_a_sub_job_rename_is_one_procore_request(hooked, procore_sandbox, exaktime_sandbox):
    procore_sandbox.update("sub_job", pc.SUB_JOB_SJB, name="Basement")
    tell(hooked, "Sub Jobs", pc.SUB_JOB_SJB, project_id=pc.PROJECT_PJA)

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert run.status == RunStatus.SUCCEEDED
    assert run.rows.get(procore_id=pc.SUB_JOB_SJB).outcome == Outcome.UPDATED
    location = twin(exaktime_sandbox, EntityType.SUB_JOB, pc.SUB_JOB_SJB)
    assert location["name"].endswith(".Basement")
    pja = EntityMapping.objects.get(entity_type=EntityType.LOCATION, procore_id=pc.PROJECT_PJA)
    assert location["parent_job_id"] == int(pja.exaktime_id)
    assert procore_reads(procore_sandbox) == [PJA_SUB_JOB]


def test_several_sub_jobs_of_one_project_read_its_list_once(
    hooked, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.update("sub_job", pc.SUB_JOB_SJB, name="Basement")
    procore_sandbox.update("sub_job", pc.SUB_JOB_SJC, name="Roof")
    tell(hooked, "Sub Jobs", pc.SUB_JOB_SJB, project_id=pc.PROJECT_PJA)
    tell(hooked, "Sub Jobs", pc.SUB_JOB_SJC, project_id=pc.PROJECT_PJA)

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert {run.rows.get(procore_id=s).outcome for s in (pc.SUB_JOB_SJB, pc.SUB_JOB_SJC)} == {
        Outcome.UPDATED
    }
    assert twin(exaktime_sandbox, EntityType.SUB_JOB, pc.SUB_JOB_SJC)["name"].endswith(".Roof")
    assert procore_reads(procore_sandbox) == ["/rest/v1.0/sub_jobs"]


def test_a_sub_job_gone_is_deactivated_after_one_request(hooked, procore_sandbox, exaktime_sandbox):
    setting(hooked, projects_as_groups=False)
    procore_sandbox.remove("sub_job", pc.SUB_JOB_SJB)
    tell(hooked, "Sub Jobs", pc.SUB_JOB_SJB, "delete", project_id=pc.PROJECT_PJA)

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert run.rows.get(procore_id=pc.SUB_JOB_SJB).outcome == Outcome.DEACTIVATED
    assert twin(exaktime_sandbox, EntityType.SUB_JOB, pc.SUB_JOB_SJB)["is_active"] is False
    assert procore_reads(procore_sandbox) == [PJA_SUB_JOB]


def test_a_sub_job_leaving_its_project_group_reads_the_project_and_its_sub_jobs(
    hooked, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.update("sub_job", pc.SUB_JOB_SJB, active=False)
    tell(hooked, "Sub Jobs", pc.SUB_JOB_SJB, project_id=pc.PROJECT_PJA)

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert run.rows.get(procore_id=pc.SUB_JOB_SJB).outcome == Outcome.DEACTIVATED
    group = twin(exaktime_sandbox, EntityType.LOCATION_GROUP, pc.PROJECT_PJA)
    gone = twin(exaktime_sandbox, EntityType.SUB_JOB, pc.SUB_JOB_SJB)["id"]
    assert gone not in group["member_ids"]
    assert procore_reads(procore_sandbox) == [
        PJA_SUB_JOB,
        f"/rest/v1.1/projects/{pc.PROJECT_PJA}",
        "/rest/v1.0/sub_jobs",
    ]


def test_a_new_sub_job_of_a_project_without_a_location_creates_the_location_first(
    hooked, procore_sandbox, exaktime_sandbox
):
    setting(hooked, projects_as_groups=False)
    project = procore_sandbox.add(
        "project", {"project_number": "777", "name": "Quay"}, scope=pc.COMPANY_ID
    )
    sub_job = procore_sandbox.add("sub_job", {"code": "001", "name": "Pier"}, scope=project["id"])
    tell(hooked, "Sub Jobs", sub_job["id"], "create", project_id=project["id"])

    run = webhooks.apply_events(hooked.pk, wait=False)

    created = run.rows.get(procore_id=project["id"], entity_type=EntityType.LOCATION)
    assert created.outcome == Outcome.CREATED
    assert run.rows.get(procore_id=sub_job["id"]).outcome == Outcome.CREATED
    location = twin(exaktime_sandbox, EntityType.LOCATION, project["id"])
    pier = twin(exaktime_sandbox, EntityType.SUB_JOB, sub_job["id"])
    assert (pier["identifier"], pier["parent_job_id"]) == ("777.001", location["id"])
    assert procore_reads(procore_sandbox) == [
        f"/rest/v1.0/sub_jobs/{sub_job['id']}",
        f"/rest/v1.1/projects/{project['id']}",
    ]


# --- crews --------------------------------------------------------------------------


def test_a_crews_new_member_joins_its_group_after_one_request(
    hooked, procore_sandbox, exaktime_sandbox
):
    crew = procore_sandbox.store.get("crew", pc.CREW_FRAMING)
    members = [e["id"] for e in crew["employees"]] + [pc.WORKER_LINKED]
    procore_sandbox.update("crew", pc.CREW_FRAMING, employees=[{"id": m} for m in members])
    tell(hooked, "Crews", pc.CREW_FRAMING, project_id=pc.PROJECT_ELM)

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert run.rows.get(procore_id=pc.CREW_FRAMING).outcome == Outcome.UPDATED
    group = twin(exaktime_sandbox, EntityType.CREW, pc.CREW_FRAMING)
    assert set(group["member_ids"]) == employee_twins(*members)
    assert procore_reads(procore_sandbox) == [
        f"/rest/v1.0/projects/{pc.PROJECT_ELM}/crews/{pc.CREW_FRAMING}"
    ]


def test_a_crew_sharing_its_group_reads_the_other_crew_of_that_name_only(
    hooked, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.update(
        "crew", pc.CREW_CONCRETE_PJA, employees=[{"id": pc.WORKER_DUPLICATE_ID_A}]
    )
    tell(hooked, "Crews", pc.CREW_CONCRETE_PJA, project_id=pc.PROJECT_PJA)

    webhooks.apply_events(hooked.pk, wait=False)

    riverside = procore_sandbox.store.get("crew", pc.CREW_CONCRETE_RIVERSIDE)
    wanted = employee_twins(pc.WORKER_DUPLICATE_ID_A, *(e["id"] for e in riverside["employees"]))
    mapping = EntityMapping.objects.get(entity_type=EntityType.CREW, name="Concrete Crew")
    assert set(twin(exaktime_sandbox, EntityType.CREW, mapping.procore_id)["member_ids"]) == wanted
    assert sorted(procore_reads(procore_sandbox)) == sorted(
        [
            f"/rest/v1.0/projects/{pc.PROJECT_PJA}/crews/{pc.CREW_CONCRETE_PJA}",
            f"/rest/v1.0/projects/{pc.PROJECT_RIVERSIDE}/crews/{pc.CREW_CONCRETE_RIVERSIDE}",
        ]
    )


def test_a_crew_gone_leaves_its_group_empty(hooked, procore_sandbox, exaktime_sandbox):
    procore_sandbox.remove("crew", pc.CREW_FRAMING)
    tell(hooked, "Crews", pc.CREW_FRAMING, "delete", project_id=pc.PROJECT_ELM)

    webhooks.apply_events(hooked.pk, wait=False)

    assert twin(exaktime_sandbox, EntityType.CREW, pc.CREW_FRAMING)["member_ids"] == []
    assert len(procore_reads(procore_sandbox)) == 1


# --- standard cost codes ------------------------------------------------------------


def code_read(code_id: int) -> str:
    return f"/rest/v1.0/standard_cost_codes/{code_id}"


def test_a_cost_code_rename_is_one_procore_request(hooked, procore_sandbox, exaktime_sandbox):
    procore_sandbox.update("standard_cost_code", pc.STANDARD_CONCRETE_LABOR, name="Pour Crew")
    tell(hooked, "Standard Cost Codes", pc.STANDARD_CONCRETE_LABOR)

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert run.rows.get(procore_id=pc.STANDARD_CONCRETE_LABOR).outcome == Outcome.UPDATED
    code = twin(exaktime_sandbox, EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR)
    assert code["name"] == "Pour Crew"
    assert procore_reads(procore_sandbox) == [code_read(pc.STANDARD_CONCRETE_LABOR)]


def test_a_new_cost_code_reads_its_division_once(hooked, procore_sandbox, exaktime_sandbox):
    added = [
        procore_sandbox.add(
            "standard_cost_code",
            {
                "code": code,
                "full_code": f"03-{code}",
                "name": name,
                "active": True,
                "parent_id": pc.DIVISION_CONCRETE,
                "standard_cost_code_list_id": pc.COST_CODE_LIST,
            },
            scope=pc.COST_CODE_LIST,
        )
        for code, name in (("3060", "Curing"), ("3070", "Sawing"))
    ]
    for code in added:
        tell(hooked, "Standard Cost Codes", code["id"], "create")

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert [run.rows.get(procore_id=c["id"]).outcome for c in added] == [Outcome.CREATED] * 2
    assert sorted(procore_reads(procore_sandbox)) == sorted(
        [code_read(added[0]["id"]), code_read(added[1]["id"]), code_read(pc.DIVISION_CONCRETE)]
    )


def test_a_cost_code_moved_under_no_division_fails_alone_and_is_deactivated(
    hooked, procore_sandbox, exaktime_sandbox
):
    other = pc.STANDARD_CODE_IDS["1010"]  # a code, not a division
    procore_sandbox.update("standard_cost_code", pc.STANDARD_CONCRETE_LABOR, parent_id=other)
    tell(hooked, "Standard Cost Codes", pc.STANDARD_CONCRETE_LABOR)

    run = webhooks.apply_events(hooked.pk, wait=False)

    rows = run.rows.filter(procore_id=pc.STANDARD_CONCRETE_LABOR)
    assert {r.outcome for r in rows} == {Outcome.FAILED, Outcome.DEACTIVATED}
    assert "Put it under a division" in rows.get(outcome=Outcome.FAILED).message
    assert (
        twin(exaktime_sandbox, EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR)["is_active"]
        is False
    )


def test_a_cost_code_deleted_is_deactivated_after_one_request(
    hooked, procore_sandbox, exaktime_sandbox
):
    procore_sandbox.remove("standard_cost_code", pc.STANDARD_CONCRETE_LABOR)
    tell(hooked, "Standard Cost Codes", pc.STANDARD_CONCRETE_LABOR, "delete")

    run = webhooks.apply_events(hooked.pk, wait=False)

    assert run.rows.get(procore_id=pc.STANDARD_CONCRETE_LABOR).outcome == Outcome.DEACTIVATED
    assert procore_reads(procore_sandbox) == [code_read(pc.STANDARD_CONCRETE_LABOR)]


def test_a_division_deleted_reads_the_cost_codes_whole(hooked, procore_sandbox):
    """A gone division's codes are no longer under a division: only the list shows which."""
    procore_sandbox.remove("standard_cost_code", pc.DIVISION_CONCRETE)
    tell(hooked, "Standard Cost Codes", pc.DIVISION_CONCRETE, "delete")
    mappings = EntityMapping.objects.filter(entity_type=EntityType.COST_CODE)
    EntityMapping.objects.filter(pk=mappings.first().pk).update(data={})  # kept no division

    run = webhooks.apply_events(hooked.pk, wait=False)

    labor = run.rows.filter(procore_id=pc.STANDARD_CONCRETE_LABOR)
    assert Outcome.DEACTIVATED in {r.outcome for r in labor}
    assert "/rest/v1.0/standard_cost_code_lists" in procore_reads(procore_sandbox)
