"""Journeys: from an export's red row to a fixed row in Mappings, and auto-link in bulk,
without typing an internal id or leaving the admin."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import EntityMapping, EntityType, Outcome, RunKind, RunTrigger, SyncRun
from linx.sync.execute import execute
from linx.sync.runs import create_run
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

DAY = "2026-11-18"
MAPPINGS = "/admin/linx/entitymapping/"


def import_everything(connection) -> None:
    execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                       parameters={"entities": ["employees", "locations", "cost_codes"]}))  # fmt: skip


def twin(kind: str, procore_id: int) -> int:
    return int(EntityMapping.objects.get(entity_type=kind, procore_id=procore_id).exaktime_id)


@pytest.fixture
def taylor_in_procore_without_an_id(sandbox_connection, procore_sandbox):
    """Procore's Taylor Brooks has no Employee ID, so no import can match her to ExakTime's
    Taylor Brooks (9001): she stays only in Procore, and ExakTime's only in ExakTime."""
    procore_sandbox.update(
        "user", pc.WORKER_NO_EMPLOYEE_ID, first_name="Taylor", last_name="Brooks"
    )
    import_everything(sandbox_connection)
    return sandbox_connection


def test_a_red_export_row_is_fixed_by_a_link_picked_in_mappings(
    admin_page, queue, taylor_in_procore_without_an_id, exaktime_sandbox, procore_sandbox
):
    page, connection = admin_page, taylor_in_procore_without_an_id
    punched = exaktime_sandbox.add("time_record", {
        "employee_id": et.EMPLOYEE_EXAKTIME_ONLY,
        "job_id": twin(EntityType.LOCATION, pc.PROJECT_PJA),
        "cost_code_id": twin(EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR),
        "work_date": DAY, "time_in": f"{DAY}T07:00:00-08:00", "time_out": f"{DAY}T15:30:00-08:00",
        "lunch_minutes": 30, "regular_hours": 8.0, "ot1_hours": 0, "ot2_hours": 0,
        "is_approved": True, "custom_fields": {}, "is_deleted": False, "revision": 1,
    }, scope=1)  # fmt: skip
    run = execute(create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
                             parameters={"from": "2026-11-16", "to": "2026-11-22"}))  # fmt: skip

    # The red row's message is a link to the place to fix it.
    page.goto(f"/admin/linx/syncrun/{run.pk}/change/")
    row = page.locator("tr.linx-row--failed", has_text="is not linked to a Procore worker")
    expect(row).to_contain_text("Taylor Brooks")
    expect(page.get_by_role("button", name="Re-run failed rows")).to_have_count(0)
    screenshot(page, "mappings-export-failed")
    row.locator("a.linx-fix-link").click()

    # Mappings, already filtered to employees waiting for a link, says which one to link.
    expect(page.locator(".linx-wanted")).to_contain_text(
        "ExakTime employee 9001 Taylor Brooks (id 100002) is linked to no Procore record"
    )
    waiting = page.locator("#result_list tbody tr", has_text="Taylor Brooks")
    expect(waiting).to_contain_text("Unlinked: no ExakTime record")
    screenshot(page, "mappings-filtered-to-fix")
    waiting.get_by_role("link", name="Link…").click()

    # The picker: search by name, pick the person by name and id; no id is typed.
    search = page.locator("#linx-picker-search")
    search.fill("")
    search.press_sequentially("Tayl")
    pick = page.locator("#linx-picker-results button", has_text="Taylor Brooks")
    expect(pick).to_have_text("9001 Taylor Brooks (id 100002)")
    pick.click()
    expect(page.locator("#linx-picker-chosen")).to_contain_text("Picked: 9001 Taylor Brooks")
    screenshot(page, "mappings-picker")
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("is linked to ExakTime 100002")

    # Back on the run, the failed rows can be re-run now, and the row succeeds.
    page.goto(f"/admin/linx/syncrun/{run.pk}/change/")
    page.get_by_role("button", name="Re-run failed rows").click()
    expect(page.locator(".messagelist")).to_contain_text("Queued run")
    (again,) = queue.run_all()
    again = SyncRun.objects.get(pk=again.pk)
    assert again.rows.get(exaktime_id=str(punched["id"])).outcome == Outcome.CREATED
    assert any(e["party_id"] == pc.WORKER_NO_EMPLOYEE_ID
               for e in procore_sandbox.records("timecard_entry"))  # fmt: skip
    page.goto(f"/admin/linx/syncrun/{again.pk}/change/")
    expect(page.locator(".linx-counts")).to_contain_text("1 created")
    screenshot(page, "mappings-fixed-row")


def test_auto_link_proposals_are_confirmed_in_bulk(
    admin_page, taylor_in_procore_without_an_id, procore_sandbox
):
    page, connection = admin_page, taylor_in_procore_without_an_id
    page.goto(f"{MAPPINGS}?connection__id__exact={connection.pk}&entity_type__exact=employee")
    # What ExakTime has now, read on demand.
    page.get_by_role("button", name="Refresh from ExakTime").click()
    expect(page.locator(".messagelist")).to_contain_text(re.compile(r"read \d+ employee\(s\)"))
    # What is only in ExakTime is listed too, each leading back to link it.
    page.get_by_role("link", name="Only in ExakTime").click()
    only = page.locator("#result_list tbody tr", has_text="Taylor Brooks")
    expect(only).to_contain_text("Link to a Procore record…")
    expect(page.locator("#result_list")).not_to_contain_text("Alex Rivera")  # linked
    screenshot(page, "mappings-only-in-exaktime")
    page.go_back()
    page.get_by_role("link", name="Auto-link…").click()

    proposals = page.locator("#linx-proposals tbody tr")
    expect(proposals).to_have_count(1)
    expect(proposals.first).to_contain_text("Taylor Brooks")
    expect(proposals.first).to_contain_text("9001 Taylor Brooks (id 100002)")
    expect(proposals.first).to_contain_text("same name")
    screenshot(page, "mappings-auto-link")
    page.get_by_role("button", name="Link the ticked records").click()
    expect(page.locator(".messagelist")).to_contain_text("Linked 1 record(s).")
    taylor = EntityMapping.objects.get(
        entity_type=EntityType.EMPLOYEE, procore_id=pc.WORKER_NO_EMPLOYEE_ID
    )
    assert taylor.exaktime_id == str(et.EMPLOYEE_EXAKTIME_ONLY)
    expect(page.locator("#result_list tbody tr", has_text="Taylor Brooks")).to_contain_text(
        "Synced"
    )
    screenshot(page, "mappings-after-auto-link")
