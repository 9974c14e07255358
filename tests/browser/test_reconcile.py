"""A payroll check in the browser: reconcile the demo's week, read it, fix one line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from integrations.exaktime.sandbox import data as exaktime_data
from linx.models import Reconciliation
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def reconcile_the_demo_week(page, connection) -> None:
    first = exaktime_data.last_week() - timedelta(days=7)  # the demo week: the one before last
    page.goto("/admin/linx/reconciliation/")
    page.get_by_role("link", name="Reconcile a range…").click()
    page.get_by_label("Connection").select_option(str(connection.pk))
    # Nothing to type: the form starts on the range of the latest export, the demo week's.
    expect(page.get_by_label("From (work date)")).to_have_value(first.isoformat())
    expect(page.get_by_label("To (work date)")).to_have_value(
        (first + timedelta(days=6)).isoformat()
    )
    expect(page.locator("#default-range")).to_contain_text("latest export")
    page.get_by_role("button", name="Reconcile").click()


def test_reconcile_the_demo_week_then_reapply_exaktime_over_an_edit(
    admin_page, queue, sandbox_connection
):
    page = admin_page
    call_command("linx_demo_week", "sandbox")
    reconcile_the_demo_week(page, sandbox_connection)
    expect(page.locator("#reconciliation-status")).to_contain_text("Differences found")
    expect(page.locator("#reconciliation-lines tbody tr")).to_have_count(3)
    expect(page.locator("svg.linx-chart g.day")).to_have_count(7)
    expect(page.locator("#reconciliation-lines")).to_contain_text("entered by hand")
    screenshot(page, "reconciliation-report")

    # The record whose export row failed: its run leads to that row, its message to the fix.
    missing = page.locator('#reconciliation-lines tr[data-class="missing_in_procore"]')
    missing.get_by_role("link", name="run #").click()
    expect(page.locator("tr.linx-row")).to_have_count(1)
    expect(page.locator("tr.linx-row")).to_contain_text("is not linked to a Procore project")
    page.go_back()
    missing.get_by_role("link", name="is not linked to a Procore project").click()
    expect(page.locator(".linx-wanted")).to_contain_text(
        f"Main Shop and Yard (id {exaktime_data.JOB_SHOP})"
    )
    page.go_back()

    page.locator('select[name="class"]').select_option("different")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#reconciliation-lines tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Re-apply ExakTime…").click()
    expect(page.locator("#confirm-lines tbody tr")).to_have_count(1)
    assert queue.run_ids == []  # nothing is sent before the confirmation
    page.get_by_role("button", name="Re-apply ExakTime's values").click()
    (run,) = queue.run_all()
    assert run.status == "succeeded"

    reconcile_the_demo_week(page, sandbox_connection)
    expect(page.locator("#reconciliation-lines tbody tr")).to_have_count(2)
    expect(page.locator('#reconciliation-totals td[data-class="different"]')).to_have_text("0")
    assert Reconciliation.objects.count() == 2
