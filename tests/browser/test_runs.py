"""Journeys through runs: preview then apply an import, watch one run, fix its failures.

The admin queues runs; the ``queue`` fixture stands in for the task queue and runs them
in this process when the test says so (as a worker would), or in a thread beside the
page to watch the live progress bar.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from integrations.procore.sandbox import data as pc
from linx.models import Outcome, RunKind, RunStatus, RunTrigger, SyncRun
from linx.sync.execute import execute
from linx.sync.runs import create_run
from tests.browser.conftest import run_action, screenshot

pytestmark = pytest.mark.browser

CONNECTIONS = "/admin/linx/connection/"
RUNS = "/admin/linx/syncrun/"


def run_page(run: SyncRun | int) -> str:
    return f"{RUNS}{getattr(run, 'pk', run)}/change/"


def employees_in_exaktime(exaktime_sandbox) -> int:
    return len(exaktime_sandbox.records("employee", scope=1))


def test_a_dry_run_shows_what_would_change_then_one_click_applies_it(
    admin_page, administrator, queue, sandbox_connection, exaktime_sandbox
):
    page, (user, _) = admin_page, administrator
    before = employees_in_exaktime(exaktime_sandbox)
    run_action(page, CONNECTIONS, "dry_run_import", [sandbox_connection.pk])
    (preview_id,) = queue.run_ids
    expect(page.locator(".messagelist")).to_contain_text(f"#{preview_id}")
    queue.run_all()
    preview = SyncRun.objects.get(pk=preview_id)
    assert preview.dry_run and preview.started_by == user
    assert employees_in_exaktime(exaktime_sandbox) == before  # a preview writes nothing

    # The runs list shows the preview finished, as a dry run, started by this person.
    page.goto(RUNS)
    row = page.locator("#result_list tbody tr", has=page.locator(f'a[href*="/{preview_id}/"]'))
    expect(row).to_contain_text("Partial")
    expect(row).to_contain_text(re.compile("dry run", re.I))
    expect(row).to_contain_text(user.email.split("@")[0])
    screenshot(page, "runs-list")

    # Its page tells what would be created and what would fail, with a button to apply.
    page.goto(run_page(preview_id))
    expect(page.locator("h1")).to_contain_text("dry run")
    expect(page.locator("#content-main")).to_contain_text("This dry run wrote nothing")
    counts = page.locator(".linx-counts")
    expect(counts).to_contain_text(f"{preview.counts['created']} created")
    expect(counts).to_contain_text(f"{preview.counts['failed']} failed")
    expect(page.locator("#result_list")).to_contain_text("Jordan Blake")
    screenshot(page, "run-preview")

    page.get_by_role("button", name=re.compile("Apply")).click()
    expect(page.locator(".messagelist")).to_contain_text("Queued")
    (applied_id,) = queue.run_ids
    queue.run_all()
    applied = SyncRun.objects.get(pk=applied_id)
    assert (applied.kind, applied.dry_run, applied.started_by) == (RunKind.IMPORT, False, user)
    assert applied.counts["created"] == preview.counts["created"]
    assert employees_in_exaktime(exaktime_sandbox) > before  # now it was written

    page.goto(run_page(applied_id))
    expect(page.locator("h1")).not_to_contain_text("dry run")
    expect(page.locator(".linx-counts")).to_contain_text(f"{applied.counts['created']} created")
    screenshot(page, "run-applied")

    # The dashboard shows the connection's runs and today's rows in its chart.
    page.goto("/admin/")
    panel = page.locator("article.linx-panel", has_text=sandbox_connection.name)
    expect(panel.locator(".linx-runs")).to_contain_text(f"Import #{applied_id}")
    assert int(panel.locator("svg.linx-chart").get_attribute("data-synced")) > 0
    screenshot(page, "dashboard")

    # The mappings now link the imported records, each with its status and both ids.
    page.goto(f"/admin/linx/entitymapping/?connection__id__exact={sandbox_connection.pk}")
    expect(page.locator("#result_list")).to_contain_text("Alex Rivera")
    expect(page.locator("#result_list")).to_contain_text(re.compile("synced", re.I))
    screenshot(page, "mappings")


def test_the_progress_bar_moves_while_an_import_runs(
    admin_page, queue, slow_rows, sandbox_connection
):
    page = admin_page
    halfway, go_on, pacing = slow_rows
    run_action(page, CONNECTIONS, "import_everything", [sandbox_connection.pk])
    (run_id,) = queue.take()

    page.goto(run_page(run_id))
    bar = page.get_by_role("progressbar", name="All rows")
    numbers = page.locator(".linx-progress-row--overall [data-linx-numbers]")
    expect(page.locator(".linx-progress")).to_contain_text("Waiting for a queue worker")
    assert bar.get_attribute("aria-valuenow") == "0"
    expect(page.locator("#result_list")).to_contain_text("No rows recorded yet")
    expect(page.locator(".linx-run-header")).not_to_contain_text("Worker")
    expect(page.locator(".linx-run-header dt:text-is('Started') + dd")).to_have_text("—")

    # A worker takes it and stops midway (the test holds it there): the bar follows
    # without the page being reloaded.
    worker = queue.run_in_background(run_id)
    assert halfway.wait(20), "the run never got halfway"
    expect(numbers).to_contain_text(f"{pacing['after']} / ", timeout=8_000)
    midway = int(bar.get_attribute("aria-valuenow"))
    assert 0 < midway < 100
    expect(page.locator("[data-linx-entity=employee]")).to_be_visible()
    # The header and the rows table follow too: rows appear while it runs.
    header = page.locator(".linx-run-header")
    expect(header.locator("dd").filter(has_text=re.compile(r"^Running$"))).to_have_count(1)
    expect(header).to_contain_text("Worker")
    rows = page.locator("#result_list tbody tr.linx-row")
    expect(rows).to_have_count(pacing["after"], timeout=8_000)
    expect(page.locator(".linx-counts")).to_contain_text("created")
    expect(header.locator("dt:text-is('Started') + dd")).not_to_have_text("—")
    screenshot(page, "run-progress")

    go_on.set()
    worker.join(30)
    # When it ends the page shows the finished run: its status and every row.
    expect(page.locator("h1")).to_contain_text("Partial", timeout=8_000)
    expect(page.locator(".linx-progress")).to_have_count(0)
    run = SyncRun.objects.get(pk=run_id)
    assert run.status == RunStatus.PARTIAL
    expect(page.locator(".linx-counts")).to_contain_text(f"{run.counts['created']} created")


def finished_import(connection, user) -> SyncRun:
    """An import as the admin would have queued it, already done: some rows failed."""
    run = execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.ADMIN, started_by=user))
    assert run.status == RunStatus.PARTIAL
    return run


def test_a_failed_row_explains_itself_downloads_as_csv_and_the_next_import_retries_it(
    admin_page, administrator, queue, sandbox_connection, procore_sandbox, exaktime_sandbox
):
    page, (user, _) = admin_page, administrator
    run = finished_import(sandbox_connection, user)
    failed = run.rows.filter(outcome=Outcome.FAILED)

    # Only the failed rows, then the one that names what to fix.
    page.goto(run_page(run))
    page.locator(".linx-filter[aria-label=Outcome]").get_by_role("link", name="Failed").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(failed.count())
    blake = rows.filter(has_text="Jordan Blake")
    expect(blake).to_contain_text("has no Employee ID in Procore's Directory")
    expect(blake).to_contain_text("Fix needed")  # an operator must act; a retry would not help
    screenshot(page, "run-failed-rows")
    blake.get_by_role("link").first.click()
    expect(page.locator("#content-main")).to_contain_text("Jordan Blake")
    expect(page.locator("#content-main")).to_contain_text("the next import retries")
    screenshot(page, "failed-row")

    # The failed rows as a spreadsheet.
    page.goto(run_page(run))
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download failed rows")).click()
    assert download.value.suggested_filename.endswith(".csv")
    table = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert table[0][:4] == ["Entity", "Procore ID", "ExakTime ID", "Name"]
    assert len(table) - 1 == failed.count()
    assert any("Jordan Blake" in line for line in map(" ".join, table))

    # Every failed row needs a fix first: the page says so instead of offering a re-run,
    # and so does the bulk action.
    expect(page.locator("[data-linx-rerun-note]")).to_contain_text(
        "the next import retries those records once fixed"
    )
    expect(page.get_by_role("button", name="Re-run failed rows")).to_have_count(0)
    run_action(page, RUNS, "rerun_failed_rows", [run.pk])
    expect(page.locator(".messagelist")).to_contain_text(f"Nothing to re-run for #{run.pk} yet")
    assert not queue.run_ids
    screenshot(page, "run-rerun-refused")

    # Fix one in Procore: the next import creates it, and the others fail as before.
    procore_sandbox.update("user", pc.WORKER_NO_EMPLOYEE_ID, employee_id="7777")
    run_action(page, CONNECTIONS, "import_everything", [sandbox_connection.pk])
    (next_id,) = queue.run_ids
    queue.run_all()
    after = SyncRun.objects.get(pk=next_id)
    assert after.rows.get(procore_id=pc.WORKER_NO_EMPLOYEE_ID).outcome == Outcome.CREATED
    page.goto(run_page(after))
    expect(page.locator("#result_list")).to_contain_text("Jordan Blake")
    expect(page.locator(".linx-counts")).to_contain_text("1 created")
    screenshot(page, "run-after-fix")
