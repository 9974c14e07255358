"""Journey: export a week of ExakTime time to Procore from the admin."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from integrations.exaktime.sandbox import data as et
from linx.models import RunKind, RunTrigger, SyncRun
from linx.sync.execute import execute
from linx.sync.runs import create_run
from tests.browser.conftest import run_action, screenshot

pytestmark = pytest.mark.browser

CONNECTIONS = "/admin/linx/connection/"


def test_export_a_week_of_time_to_procore(
    admin_page, administrator, queue, sandbox_connection, procore_sandbox, exaktime_sandbox
):
    page, (user, _) = admin_page, administrator
    connection = sandbox_connection
    execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))  # links records
    monday = et.last_week()
    sunday = monday + timedelta(days=6)
    assert exaktime_sandbox.generate_time_records(monday) > 0
    entries_before = len(procore_sandbox.records("timecard_entry"))

    run_action(page, CONNECTIONS, "export_time", [connection.pk])
    expect(page.locator("h1")).to_contain_text("Export time to Procore")
    page.fill("input[name=first_day]", monday.isoformat())
    page.fill("input[name=last_day]", sunday.isoformat())
    dry = page.locator("input[name=dry_run]")
    expect(dry).to_be_checked()  # a preview is the default
    dry.uncheck()
    screenshot(page, "export-form")
    page.get_by_role("button", name="Queue it").click()
    expect(page.locator(".messagelist")).to_contain_text("Queued an export")

    (run,) = queue.run_all()
    run = SyncRun.objects.get(pk=run.pk)
    assert (run.kind, run.dry_run, run.started_by) == (RunKind.EXPORT, False, user)
    assert run.parameters["from"] == monday.isoformat()
    assert run.counts.get("created", 0) > 0
    assert len(procore_sandbox.records("timecard_entry")) > entries_before

    page.goto(f"/admin/linx/syncrun/{run.pk}/change/")
    expect(page.locator("h1")).to_contain_text(re.compile(r"Export #\d+"))
    expect(page.locator(".linx-counts")).to_contain_text(f"{run.counts['created']} created")
    expect(page.locator("#content-main")).to_contain_text(monday.isoformat())
    screenshot(page, "export-run")
