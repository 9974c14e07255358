"""Journey: pre-import, then choose the timesheet fieldset and the custom fields to carry."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from integrations.procore.sandbox import data as pc
from linx.models import CustomField, RunKind, RunStatus
from tests.browser.conftest import run_action, screenshot

pytestmark = pytest.mark.browser

CONNECTIONS = "/admin/linx/connection/"


def test_pre_import_then_choose_the_fieldset_and_custom_fields(
    admin_page, administrator, queue, sandbox_connection, exaktime_sandbox
):
    page, (user, _) = admin_page, administrator
    connection = sandbox_connection

    run_action(page, CONNECTIONS, "preimport", [connection.pk])
    expect(page.locator(".messagelist")).to_contain_text("Queued a pre-import")
    (run,) = queue.run_all()
    assert (run.kind, run.status, run.started_by) == (RunKind.PREIMPORT, RunStatus.SUCCEEDED, user)

    # From the connection's page to its custom fields, as Procore lists them.
    page.goto(f"{CONNECTIONS}{connection.pk}/change/")
    page.locator(".object-tools").get_by_role("link", name="Custom fields").click()
    expect(page.locator("h1")).to_contain_text("Custom fields")
    expect(page.locator(".linx-reminder")).to_contain_text("pre-import")
    form = page.locator("#custom-fields-form")
    page.get_by_label("Daily Timesheet Fields").check()

    def field(label: str):
        return form.locator("tr[data-procore-id]", has=page.get_by_text(label, exact=True))

    # Unsupported types are shown, greyed out, saying why; they cannot be ticked.
    expect(field("Mileage").locator("input[type=checkbox]")).to_be_disabled()
    expect(field("Mileage")).to_contain_text("cannot be carried")
    expect(field("Safety Gear").locator("input[type=checkbox]")).to_be_disabled()
    field("Equipment Used").locator("input[type=checkbox]").check()
    field("Weather").locator("input[type=checkbox]").check()
    screenshot(page, "custom-fields")
    form.locator("input[type=submit][value=Save]").click()

    expect(page.locator(".messagelist")).to_contain_text(
        "Saved: 2 custom field(s) from Daily Timesheet Fields"
    )
    chosen = CustomField.objects.filter(connection=connection, selected_slot__isnull=False)
    assert sorted(chosen.values_list("procore_id", flat=True)) == [pc.CF_EQUIPMENT, pc.CF_WEATHER]
    assert connection.fieldsets.get(selected=True).procore_id == pc.FIELDSET_TIMESHEET

    # The reminder's button runs the pre-import again, which creates them in ExakTime.
    page.get_by_role("button", name="Run the pre-import now").click()
    queue.run_all()
    page.goto(f"{CONNECTIONS}{connection.pk}/custom-fields/")
    expect(field("Equipment Used")).to_contain_text("carried")
    expect(field("Weather")).to_contain_text("carried")
    assert all(f.exaktime_id for f in chosen.all())
    screenshot(page, "custom-fields-carried")
