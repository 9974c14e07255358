"""Journey: from the open failures list to the screens that fix what it lists, by its links."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import EntityType, RunKind, RunTrigger
from linx.sync.execute import execute
from linx.sync.runs import create_run
from tests.browser.conftest import screenshot
from tests.browser.test_mappings import DAY, import_everything, twin

pytestmark = pytest.mark.browser


def punch(exaktime_sandbox, **fields) -> None:
    exaktime_sandbox.add("time_record", {
        "employee_id": et.EMPLOYEE_LINKED,
        "job_id": twin(EntityType.LOCATION, pc.PROJECT_PJA),
        "cost_code_id": twin(EntityType.COST_CODE, pc.STANDARD_CONCRETE_LABOR),
        "work_date": DAY, "time_in": f"{DAY}T07:00:00-08:00", "time_out": f"{DAY}T15:30:00-08:00",
        "lunch_minutes": 30, "regular_hours": 8.0, "ot1_hours": 0, "ot2_hours": 0,
        "is_approved": True, "custom_fields": {}, "is_deleted": False, "revision": 1, **fields,
    }, scope=1)  # fmt: skip


def test_open_failures_lead_to_the_projects_codes_and_to_mappings(
    admin_page, sandbox_connection, exaktime_sandbox
):
    page, connection = admin_page, sandbox_connection
    import_everything(connection)
    # Electrical Labor is not set up on PJA; employee 100002 is linked to no Procore worker.
    punch(exaktime_sandbox, cost_code_id=twin(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR))
    punch(exaktime_sandbox, employee_id=et.EMPLOYEE_EXAKTIME_ONLY)
    execute(create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
                       parameters={"from": "2026-11-16", "to": "2026-11-22"}))  # fmt: skip

    page.goto(f"/admin/linx/openfailure/?connection__id__exact={connection.pk}&kind__exact=export")
    failures = page.locator("#result_list tbody tr")
    expect(failures).to_have_count(2)
    screenshot(page, "open-failures-export")
    failures.get_by_role("link", name="Cost code 26-26010 is not set up").click()

    expect(page.locator("h1")).to_have_text("Cost codes set up on project PJA")
    codes = page.locator("#linx-project-codes tbody tr")
    expect(codes.filter(has_text="03-3010")).to_contain_text("Concrete Labor")
    expect(codes.filter(has_text="26-26010")).to_have_count(0)  # the one the failure lacks
    expect(page.locator(".linx-reminder")).to_contain_text("As Linx read them from Procore")
    screenshot(page, "project-codes-from-a-failure")

    page.go_back()
    failures.get_by_role("link", name="is not linked to a Procore worker").click()
    expect(page.locator(".linx-wanted")).to_contain_text(
        "ExakTime employee 9001 Taylor Brooks (id 100002) is linked to no Procore record"
    )
