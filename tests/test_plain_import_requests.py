"""A plain (changed-since) import of a company where nothing changed spends five Procore
requests; with crews imported as groups, the active projects and one crew list per
active project besides. It still tries every failing record again."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from integrations.exaktime.client import EMPLOYEES, LOCATION_CATEGORIES
from integrations.procore.sandbox import data as pc
from linx.models import EntityMapping, EntityType, Outcome, RunKind, RunTrigger
from linx.sync.execute import execute
from linx.sync.runs import create_run

THE_FIVE = {
    "GET /rest/v1.3/companies/{id}/users": 1,  # the workers changed since the last import
    "GET /rest/v1.0/companies/{id}/users/inactive": 1,  # who was made inactive
    "GET /rest/v1.1/projects": 1,  # the projects changed since
    "GET /rest/v1.0/standard_cost_code_lists": 1,
    "GET /rest/v1.0/standard_cost_codes": 1,
}
CREWS = "GET /rest/v1.0/projects/{id}/crews"
PROJECTS = "GET /rest/v1.1/projects"


def run_import(connection, **parameters):
    run = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND, parameters=parameters)
    return execute(run)


def failed(run) -> set[tuple[str, int]]:
    return set(run.rows.filter(outcome=Outcome.FAILED).values_list("entity_type", "procore_id"))


def procore_calls(sandbox) -> Counter:
    return Counter(
        f"{r['method']} {re.sub(r'/[0-9]+', '/{id}', r['path'])}"
        for r in sandbox.requests()
        if r["path"].startswith("/rest/")
    )


@pytest.mark.parametrize("crews_as_groups", [False, True])
def test_a_plain_import_of_an_unchanged_company_reads_only_what_changed(
    sandbox_connection, procore_sandbox, exaktime_sandbox, crews_as_groups
):
    sandbox_connection.crews_as_groups = crews_as_groups
    sandbox_connection.save()
    first = run_import(sandbox_connection)
    assert failed(first)  # the sandbox's broken workers and projects fail every time
    procore_sandbox.clear_requests()

    plain = run_import(sandbox_connection)

    calls = procore_calls(procore_sandbox)
    active = len(procore_sandbox.records("project", scope=pc.COMPANY_ID, active=True))
    # Crews need every active project: their list (one page here), then their crews.
    crews = {PROJECTS: 2, CREWS: active} if crews_as_groups else {}
    assert calls == THE_FIVE | crews
    # Nothing was read whole for the failing records, yet each was tried again.
    assert failed(plain) == failed(first)
    assert set(plain.counts) <= {"failed", "unchanged", "skipped"}


def test_a_worker_whose_create_was_refused_is_created_by_the_next_plain_import(
    sandbox_connection, procore_sandbox, exaktime_sandbox
):
    # ExakTime refuses one create (a passing refusal: nothing in Procore is wrong).
    exaktime_sandbox.faults.set("status", status=422, method="POST", path=EMPLOYEES, count=1)
    first = run_import(sandbox_connection, entities=["employees"])
    (refused,) = [
        worker
        for kind, worker in failed(first)
        if worker not in {pc.WORKER_NO_EMPLOYEE_ID, pc.WORKER_LONG_NAME, pc.WORKER_DUPLICATE_ID_B}
    ]
    procore_sandbox.clear_requests()

    plain = run_import(sandbox_connection, entities=["employees"])

    row = plain.rows.get(procore_id=refused)
    assert row.outcome == Outcome.CREATED  # from the worker as last read: Procore did not
    assert refused not in {w for _, w in failed(plain)}  # list it as changed
    assert procore_calls(procore_sandbox) == {
        "GET /rest/v1.3/companies/{id}/users": 1,
        "GET /rest/v1.0/companies/{id}/users/inactive": 1,
    }
    (users,) = [r for r in procore_sandbox.requests() if r["path"].endswith("/users")]
    assert "filters[updated_at]" in users["query"]  # what changed, not every worker
    twin = EntityMapping.objects.get(
        connection=sandbox_connection, entity_type=EntityType.EMPLOYEE, procore_id=refused
    )
    assert any(e["id"] == int(twin.exaktime_id) for e in exaktime_sandbox.records("employee"))


def test_a_failing_category_is_tried_again_without_reading_sub_jobs_until_it_is_created(
    sandbox_connection, procore_sandbox, exaktime_sandbox
):
    # ExakTime refuses the first category once (nothing in Procore is wrong).
    exaktime_sandbox.faults.set(
        "status", status=422, method="POST", path=LOCATION_CATEGORIES, count=1
    )
    first = run_import(sandbox_connection, entities=["locations"])
    (project,) = [p for kind, p in failed(first) if kind == EntityType.LOCATION_CATEGORY]
    procore_sandbox.clear_requests()
    exaktime_sandbox.faults.set(
        "status", status=422, method="POST", path=LOCATION_CATEGORIES, count=1
    )

    again = run_import(sandbox_connection, entities=["locations"])

    assert failed(again) == failed(first)  # tried again, refused again ...
    assert "GET /rest/v1.0/sub_jobs" not in procore_calls(procore_sandbox)  # ... from what
    procore_sandbox.clear_requests()  # was kept: the project and its sub-jobs unchanged

    last = run_import(sandbox_connection, entities=["locations"])

    # Created at last: the sub-jobs, written without a category, are read and join it.
    assert (EntityType.LOCATION_CATEGORY, project) not in failed(last)
    assert procore_calls(procore_sandbox)["GET /rest/v1.0/sub_jobs"] == 1
    twins = {
        (m.entity_type, m.procore_id): m
        for m in EntityMapping.objects.filter(connection=sandbox_connection)
    }
    category = int(twins[(EntityType.LOCATION_CATEGORY, project)].exaktime_id)
    sub_jobs = [m for m in twins.values() if m.entity_type == EntityType.SUB_JOB]
    jobs = {j["id"]: j for j in exaktime_sandbox.records("job")}
    under = [jobs[int(m.exaktime_id)] for m in sub_jobs if m.project_id == project]
    assert under and all(job["category_id"] == category for job in under)
