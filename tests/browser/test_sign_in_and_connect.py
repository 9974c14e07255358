"""Journeys: sign in with a second factor; add a connection pointing at the sandboxes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import data as procore_data
from linx.models import Connection
from tests.browser.conftest import PASSWORD, screenshot, totp_code

pytestmark = pytest.mark.browser


def test_sign_in_takes_a_password_then_the_authenticator_code(page, administrator):
    user, secret = administrator
    page.goto("/admin/")
    # The admin sends a stranger to the sign-in page, which asks for email and password.
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2F"))
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    screenshot(page, "sign-in")
    page.locator("form [type=submit]").first.click()

    # The password alone is not enough: a second page asks for the app's code.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    page.fill("input[name=code]", wrong)
    page.locator("form [type=submit]").first.click()
    # A wrong code keeps the door shut, says so, and asks again.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    expect(page.get_by_text(re.compile("Incorrect code", re.I))).to_be_visible()
    screenshot(page, "sign-in-second-factor")

    page.fill("input[name=code]", totp_code(secret))
    page.locator("form [type=submit]").first.click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#site-name")).to_contain_text("Linx")
    expect(page.locator("#user-tools")).to_contain_text("Ada")
    screenshot(page, "admin-index")


def test_an_administrator_adds_a_connection_to_the_sandboxes(
    admin_page, procore_sandbox, exaktime_sandbox
):
    page = admin_page
    page.goto("/admin/linx/connection/")
    page.get_by_role("link", name=re.compile("Add connection", re.I)).click()
    expect(page.locator("h1")).to_contain_text("Add connection")

    page.fill("input[name=name]", "sandbox-co")
    page.fill("input[name=procore_login_url]", procore_sandbox.url)
    page.fill("input[name=procore_api_url]", procore_sandbox.url)
    page.fill("input[name=procore_client_id]", procore_data.CLIENT_ID)
    page.fill("input[name=procore_client_secret]", procore_data.CLIENT_SECRET)
    page.fill("input[name=exaktime_api_url]", exaktime_sandbox.url)
    page.fill("input[name=exaktime_api_key]", exaktime_data.API_KEY)
    page.check("input[name=import_sub_jobs]")
    page.check("input[name=crews_as_groups]")
    # A secret is typed into a password box: the screen never shows it.
    assert page.get_attribute("input[name=procore_client_secret]", "type") == "password"
    assert page.get_attribute("input[name=exaktime_api_key]", "type") == "password"
    screenshot(page, "connection-add")
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    connection = Connection.objects.get(name="sandbox-co")
    assert connection.procore_client_secret == procore_data.CLIENT_SECRET
    assert connection.exaktime_api_key == exaktime_data.API_KEY
    assert connection.procore_company_id is None  # chosen next, from Procore's own list
    assert connection.import_sub_jobs and connection.crews_as_groups

    # Back on its page: secrets are "set", their boxes empty, their values nowhere.
    html = page.content()
    assert procore_data.CLIENT_SECRET not in html
    assert exaktime_data.API_KEY not in html
    assert page.input_value("input[name=procore_client_secret]") == ""
    assert page.input_value("input[name=exaktime_api_key]") == ""
    expect(page.locator("#connection_form")).to_contain_text("Set.")
    screenshot(page, "connection-change")

    # The company picker lists what the sign-in reaches; choose the sandbox's company.
    page.locator(".object-tools").get_by_role("link", name="Choose Procore company").click()
    expect(page.locator("#content-main")).to_contain_text("Second Builders LLC")
    page.get_by_label("Sandbox Construction Co.").check()
    screenshot(page, "procore-company")
    page.get_by_role("button", name="Use this company").click()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Linx now works in Sandbox Construction Co. ({procore_data.COMPANY_ID})"
    )
    connection.refresh_from_db()
    assert connection.procore_company_id == procore_data.COMPANY_ID

    # Test connection: a checklist for both systems, every line green for the sandboxes.
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("h1")).to_contain_text("Test connection")
    for system in ("Procore", "ExakTime"):
        expect(page.locator(f"#checks-{system.lower()}")).to_be_visible()
    expect(page.locator(".linx-check--failed")).to_have_count(0)
    expect(page.locator(".linx-check--ok").first).to_be_visible()
    expect(page.locator("#content-main")).to_contain_text("Everything Linx needs is in place")
    screenshot(page, "test-connection")

    page.goto("/admin/linx/connection/")
    row = page.locator("#result_list tbody tr", has_text="sandbox-co")
    expect(row).to_contain_text("Sandbox Construction Co.")
    expect(row).to_contain_text(str(procore_data.COMPANY_ID))
    screenshot(page, "connections")
