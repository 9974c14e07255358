"""Every main page at 1366 x 768, as a new operator's laptop shows it.

Each page is photographed into ``var/screenshots/``, checked with axe-core (no serious or
critical violation) and, for the lists, checked not to scroll sideways.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe

from integrations.exaktime.sandbox import data as et
from linx.models import (
    ProjectReference,
    Reconciliation,
    ReferenceKind,
    RunKind,
    RunSchedule,
    RunTrigger,
)
from linx.sync.execute import execute
from linx.sync.reconcile import reconcile
from linx.sync.runs import create_run
from tests.browser.conftest import TIMEOUT_MS, log_in, screenshot

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 768}
#: What blocks a person using a screen reader or a keyboard; lesser findings are advice.
BLOCKING = {"serious", "critical"}


def blocking_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def scrolls_sideways(page) -> bool:
    """Whether the page, or a list's table inside it, has to be scrolled sideways to be read."""
    return page.evaluate(
        """document.documentElement.scrollWidth > window.innerWidth
        || [...document.querySelectorAll('.results')].some(
            (box) => box.scrollWidth > box.clientWidth + 1)"""
    )


def widths(page) -> str:
    return page.evaluate(
        """`page ${document.documentElement.scrollWidth} px, lists ` + [...document
        .querySelectorAll('.results')].map((box) => `${box.scrollWidth}/${box.clientWidth}`)"""
    )


@pytest.fixture
def laptop(browser, live_server):
    """A tab the size of a 1366 x 768 laptop screen."""
    context = browser.new_context(base_url=live_server.url, viewport=LAPTOP, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def worked_connection(sandbox_connection, exaktime_sandbox):
    """A connection with what a week of work leaves: an import, an export with a failure,
    mappings, a schedule and a reconciliation of the week."""
    connection = sandbox_connection
    execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    monday = et.last_week()
    sunday = monday + timedelta(days=6)
    exaktime_sandbox.generate_time_records(monday)
    week = {"from": monday.isoformat(), "to": sunday.isoformat()}
    export = execute(
        create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND, parameters=week)
    )
    RunSchedule.objects.create(connection=connection, kind=RunKind.IMPORT, cron="0 5 * * *")
    reconcile(connection, monday, sunday)
    return connection, export


def pages_of(connection, export) -> list[tuple[str, str, bool]]:
    """(screenshot name, path, whether it must not scroll sideways: lists and reports)."""
    codes = ProjectReference.objects.filter(
        connection=connection, kind=ReferenceKind.COST_CODES
    ).first()
    reconciliation = Reconciliation.objects.get(connection=connection)
    return [
        ("dashboard", "/admin/", False),
        ("connections-list", "/admin/linx/connection/", True),
        ("connection-page", f"/admin/linx/connection/{connection.pk}/change/", False),
        ("runs-list", "/admin/linx/syncrun/", True),
        ("run-page", f"/admin/linx/syncrun/{export.pk}/change/", False),
        ("mappings-list", "/admin/linx/entitymapping/", True),
        ("schedules-list", "/admin/linx/runschedule/", True),
        ("open-failures-list", "/admin/linx/openfailure/", True),
        ("reconciliations-list", "/admin/linx/reconciliation/", True),
        ("reconciliation-page", f"/admin/linx/reconciliation/{reconciliation.pk}/change/", True),
        ("project-lists", "/admin/linx/projectreference/", True),
        (
            "project-codes",
            f"/admin/linx/projectreference/codes/{connection.pk}/{codes.project_id}/",
            True,
        ),
    ]


def test_every_main_page_fits_a_laptop_and_passes_axe(laptop, administrator, worked_connection):
    page, (user, secret) = laptop, administrator
    page.goto("/accounts/login/")
    screenshot(page, "sign-in")
    problems = {"sign-in": blocking_violations(page)}

    log_in(page, user.email, secret)
    for name, path, is_list in pages_of(*worked_connection):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        screenshot(page, name)
        problems[name] = blocking_violations(page)
        if is_list and scrolls_sideways(page):
            problems[name].append(f"scrolls sideways at 1366 px: {widths(page)} wide")
    failing = [f"{name}: {found}" for name, findings in problems.items() for found in findings]
    assert not failing, "\n".join(failing)


def test_a_run_starts_from_the_connections_page_and_lands_on_it(
    admin_page, queue, sandbox_connection
):
    page = admin_page
    page.goto(f"/admin/linx/connection/{sandbox_connection.pk}/change/")
    page.get_by_role("button", name="Preview import").click()
    (run_id,) = queue.run_ids
    page.wait_for_url(f"**/admin/linx/syncrun/{run_id}/change/")
    link = page.locator(".messagelist a", has_text=f"#{run_id}")
    assert link.get_attribute("href") == f"/admin/linx/syncrun/{run_id}/change/"
