"""Both clients read everything their sandbox holds, page by page, over loopback.

The Procore sandbox caps its pages far below what the client asks for, so every list of
the small company takes several pages; the client must follow `Link rel="next"` to the
end and ask for nothing more. ExakTime's lists end on `total_count`.
"""

from __future__ import annotations

import math
from datetime import timedelta

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.client import ProcoreClient
from integrations.procore.sandbox import ProcoreSandbox
from integrations.procore.sandbox import data as procore_data
from linx import clients
from linx.models import Connection
from tests.against_sandboxes.conftest import calls

CID = procore_data.COMPANY_ID
PAGE_CAP = 4


def read_every_list(client: ProcoreClient) -> dict[str, list[int]]:
    """Every list import reads, as ids in the order the client yielded them."""
    projects = list(client.projects("All"))
    lists = list(client.standard_cost_code_lists())
    read = {
        "companies": [c.id for c in client.companies()],
        "workers": [w.id for w in client.workers()],
        "inactive workers": [w.id for w in client.inactive_workers()],
        "active projects": [p.id for p in client.projects()],
        "all projects": [p.id for p in projects],
        "cost code lists": [cl.id for cl in lists],
        "work classifications": [w.id for w in client.work_classifications()],
        "time types": [t.id for t in client.timecard_time_types()],
        "fieldsets": [f.id for f in client.fieldsets(None)],
        "custom field definitions": [d.id for d in client.custom_field_definitions()],
    }
    for cost_code_list in lists:
        codes = client.standard_cost_codes(cost_code_list.id)
        read[f"standard codes {cost_code_list.id}"] = [c.id for c in codes]
    for project in projects:
        read[f"sub-jobs {project.id}"] = [s.id for s in client.sub_jobs(project.id)]
        read[f"cost codes {project.id}"] = [c.id for c in client.project_cost_codes(project.id)]
        read[f"crews {project.id}"] = [c.id for c in client.crews(project.id)]
    return read


def held_by(sandbox: ProcoreSandbox) -> dict[str, list[int]]:
    """The same lists, straight from the sandbox's store."""

    def ids(kind: str, scope: int, **eq) -> list[int]:
        return [record["id"] for record in sandbox.records(kind, scope=scope, **eq)]

    installed = [c["id"] for c in sandbox.records("company") if c["features"]["app_installed"]]
    projects = ids("project", CID)
    lists = ids("standard_cost_code_list", CID)
    held = {
        "companies": installed,
        "workers": ids("user", CID, is_active=True),
        "inactive workers": ids("user", CID, is_active=False),
        "active projects": ids("project", CID, active=True),
        "all projects": projects,
        "cost code lists": lists,
        "work classifications": ids("work_classification", CID),
        "time types": ids("timecard_time_type", CID),
        "fieldsets": ids("configurable_field_set", CID),
        "custom field definitions": ids("custom_field_definition", CID, _tool_name="timesheets"),
    }
    for list_id in lists:
        held[f"standard codes {list_id}"] = ids("standard_cost_code", list_id)
    for project_id in projects:
        held[f"sub-jobs {project_id}"] = ids("sub_job", project_id)
        held[f"cost codes {project_id}"] = ids("cost_code", project_id)
        held[f"crews {project_id}"] = ids("crew", project_id)
    return held


def pages(held: dict[str, list[int]]) -> int:
    """Requests a perfect client makes: one per page, an empty list being one page.

    The company picker is not paginated (one request, whatever its size).
    """
    return sum(
        1 if name == "companies" else max(1, math.ceil(len(ids) / PAGE_CAP))
        for name, ids in held.items()
    )


def test_procore_client_reads_every_list_of_the_small_company_page_by_page(
    procore_sandbox, procore
):
    procore_sandbox.max_per_page = PAGE_CAP

    read = read_every_list(procore)

    held = held_by(procore_sandbox)
    assert read == held
    # The named cases are there, so the lists are the realistic ones, not empty ones.
    assert len(read["workers"]) > 5 * PAGE_CAP and read["inactive workers"]
    assert (
        read[f"sub-jobs {procore_data.PROJECT_PJA}"] and read[f"crews {procore_data.PROJECT_PJA}"]
    )
    assert len(read[f"cost codes {procore_data.PROJECT_PJA}"]) > 5 * PAGE_CAP
    log = procore_sandbox.requests()
    assert [(e["method"], e["path"]) for e in log[:1]] == [("POST", "/oauth/token")]
    gets = calls(procore_sandbox, "GET")
    assert len(log) == 1 + len(gets) and {e["status"] for e in log} == {200}
    assert len(gets) == pages(held), "one request per page that exists, none repeated"
    # Each page was asked for once: the first without a page number beyond 1, then Link's.
    asked = [(e["path"], tuple(sorted((k, tuple(v)) for k, v in e["query"].items()))) for e in gets]
    assert len(set(asked)) == len(asked)


def test_a_listing_knows_its_total_after_its_first_page(procore_sandbox, procore):
    procore_sandbox.max_per_page = PAGE_CAP
    workers = procore.workers()
    assert workers.total is None
    first = next(workers)
    active = procore_sandbox.records("user", scope=CID, is_active=True)
    assert workers.total == len(active) and first.id == active[0]["id"]
    assert len(calls(procore_sandbox, "GET")) == 1, "one page in hand, not the whole list"
    assert 1 + len(list(workers)) == len(active)
    assert len(calls(procore_sandbox, "GET")) == math.ceil(len(active) / PAGE_CAP)


def test_the_connection_client_keeps_its_token_on_the_row_and_reads_every_list(
    procore_sandbox, sandbox_connection, waits
):
    procore_sandbox.max_per_page = PAGE_CAP
    with clients.procore_client(sandbox_connection, sleep=waits) as client:
        read = read_every_list(client)
        again = [w.id for w in client.workers()]

    assert read == held_by(procore_sandbox)
    assert again == read["workers"]
    row = Connection.objects.get(pk=sandbox_connection.pk)
    assert row.procore_access_token and row.procore_token_expires_at is not None
    # One grant for the whole run: the stored token was reused, not asked for per call.
    assert len(calls(procore_sandbox, "POST", "/oauth/token")) == 1
    assert waits.seconds == []


def test_exaktime_client_reads_every_collection_page_by_page(exaktime_sandbox, exaktime):
    account = exaktime_data.ACCOUNT_ID
    for number in range(230):
        exaktime_sandbox.add(
            "employee", {"identifier": f"E{number:04d}", "first_name": "Pat", "last_name": "Doe"}
        )
    week = exaktime_data.last_week()
    punched = exaktime_sandbox.generate_time_records(week)

    employees = [e.id for e in exaktime.list_employees()]
    records = list(exaktime.time_records(week, week + timedelta(days=6)))
    others = {
        "job": [j.id for j in exaktime.list_locations()],
        "cost_code": [c.id for c in exaktime.list_cost_codes()],
        "group": [g.id for g in exaktime.list_groups()],
        "location_category": [c.id for c in exaktime.list_location_categories()],
        "custom_field": [f.id for f in exaktime.list_custom_fields()],
    }

    def ids(kind: str) -> list[int]:
        return [record["id"] for record in exaktime_sandbox.records(kind, scope=account)]

    assert employees == ids("employee") and len(employees) == 232
    assert [r.id for r in records] == ids("time_record") and len(records) == punched > 100
    assert any(r.is_deleted for r in records) and any(r.ot2_hours for r in records)
    for kind, read in others.items():
        assert read == ids(kind), kind
    pages = {
        path: len(calls(exaktime_sandbox, "GET", path))
        for path in ("/v1/Common/Persons/Employees", "/v1/Time/TimeRecords", "/v1/Time/Jobs")
    }
    assert pages == {
        "/v1/Common/Persons/Employees": 3,
        "/v1/Time/TimeRecords": math.ceil(punched / 100),
        "/v1/Time/Jobs": 1,
    }
    assert len(exaktime_sandbox.requests()) == sum(pages.values()) + 4
    assert {e["status"] for e in exaktime_sandbox.requests()} == {200}


def test_exaktime_writes_land_in_the_sandbox(exaktime_sandbox, exaktime):
    created = exaktime.create_location(
        {"identifier": "200.005", "name": "PJA.SJB", "latitude": 38.5, "longitude": -121.4}
    )
    changed = exaktime.change_location(created.id, {"is_active": False})

    stored = exaktime_sandbox.get("job", created.id)
    assert stored["identifier"] == "200.005" and stored["is_active"] is False
    assert changed.is_active is False and changed.latitude == 38.5
    assert [(e["method"], e["status"]) for e in exaktime_sandbox.requests()] == [
        ("POST", 201),
        ("GET", 200),
        ("PUT", 200),
    ]
