"""Test connection: the preflight checklist against the Procore and ExakTime sandboxes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import Connection, CustomField, Fieldset, ProcoreAuthMode, User
from linx.sync.execute import execute
from linx.sync.preflight import Status, run_preflight
from linx.sync.runs import create_run

SIGN_IN = "Linx can sign in to Procore"
COMPANY = "The company is reachable (the Linx app is installed)"
WORKERS = "Workers can be read"
PROJECTS = "Projects can be read"
COST_CODES = "Cost codes are enabled and can be read"
SUB_JOBS = "Sub-jobs are enabled"
FIELDSET = "A timesheet fieldset holds the chosen custom fields"
TIMECARDS = "The Timecard tool is reachable"
TIME_TYPES = "Export's time types exist in Procore"
KEY = "The ExakTime API key works"
WRITE = "The ExakTime API key may write"
WEBHOOKS = "Procore's change notices reach Linx (near-real-time import)"


def checklist(connection):
    connection = Connection.objects.get(pk=connection.pk)
    return {check.title: check for check in run_preflight(connection)}


def statuses(checks):
    return {title: check.status for title, check in checks.items()}


def test_every_check_is_green_for_the_sandbox_connection(sandbox_connection, exaktime_sandbox):
    employee_before = exaktime_sandbox.get("employee", et.EMPLOYEE_LINKED)
    checks = checklist(sandbox_connection)
    assert list(checks) == [
        SIGN_IN, COMPANY, WORKERS, PROJECTS, COST_CODES, SUB_JOBS, FIELDSET, TIMECARDS,
        TIME_TYPES, WEBHOOKS, KEY, WRITE,
    ]  # fmt: skip
    assert {t for t, c in checks.items() if c.status != Status.OK} == {FIELDSET, WEBHOOKS}
    assert checks[FIELDSET].status == Status.SKIPPED  # no custom fields chosen
    assert checks[WEBHOOKS].status == Status.SKIPPED  # near-real-time import is off
    assert "active workers" in checks[WORKERS].detail
    # Write access is proven by writing a record back exactly as it was.
    assert "back unchanged" in checks[WRITE].detail
    assert exaktime_sandbox.get("employee", et.EMPLOYEE_LINKED) == employee_before
    writes = [r for r in exaktime_sandbox.requests() if r["method"] in ("POST", "PUT")]
    assert len(writes) == 1


def test_a_wrong_client_secret_fails_the_sign_in_and_says_what_to_check(sandbox_connection):
    sandbox_connection.procore_client_secret = "not-the-secret"
    sandbox_connection.save()
    checks = checklist(sandbox_connection)
    assert checks[SIGN_IN].status == Status.FAILED
    assert "invalid_client" in checks[SIGN_IN].detail
    assert "client ID and secret" in checks[SIGN_IN].fix
    # Everything that needs Procore waits for the sign-in instead of repeating its error.
    for title in (COMPANY, WORKERS, PROJECTS, COST_CODES, TIMECARDS):
        assert checks[title].status == Status.SKIPPED
    assert checks[KEY].status == Status.OK  # ExakTime is checked on its own


def test_a_stored_token_does_not_hide_a_wrong_secret(sandbox_connection):
    checklist(sandbox_connection)  # stores a good token
    sandbox_connection.procore_client_secret = "changed-since"
    sandbox_connection.save()
    assert checklist(sandbox_connection)[SIGN_IN].status == Status.FAILED


def test_not_connected_yet_with_the_connect_button_says_to_use_it(sandbox_connection):
    sandbox_connection.procore_auth_mode = ProcoreAuthMode.AUTHORIZATION_CODE
    sandbox_connection.save()
    check = checklist(sandbox_connection)[SIGN_IN]
    assert check.status == Status.FAILED
    assert "Connect to Procore" in check.fix


def test_a_company_without_the_app_installed_says_how_to_install_it(sandbox_connection):
    sandbox_connection.procore_company_id = pc.UNCONNECTED_COMPANY_ID
    sandbox_connection.save()
    checks = checklist(sandbox_connection)
    assert checks[SIGN_IN].status == Status.OK
    assert checks[COMPANY].status == Status.FAILED
    assert "App Management" in checks[COMPANY].fix
    assert "Allow User Installs" in checks[COMPANY].fix
    assert checks[WORKERS].status == Status.SKIPPED


def test_no_company_chosen_says_to_choose_one(sandbox_connection):
    sandbox_connection.procore_company_id = None
    sandbox_connection.save()
    check = checklist(sandbox_connection)[COMPANY]
    assert check.status == Status.FAILED
    assert "Choose Procore company" in check.fix


def test_cost_codes_disabled_give_the_seeds_steps(sandbox_connection, procore_sandbox):
    procore_sandbox.update("company", pc.COMPANY_ID, features={"cost_codes": False})
    checks = checklist(sandbox_connection)
    assert checks[COST_CODES].status == Status.FAILED
    assert "PM209500" in checks[COST_CODES].detail
    assert "Licensing > Enable/Disable Features" in checks[COST_CODES].fix
    assert "MODIFY" in checks[COST_CODES].fix
    assert checks[WORKERS].status == checks[PROJECTS].status == Status.OK


def test_sub_jobs_disabled_fail_only_when_sub_jobs_are_imported(
    sandbox_connection, procore_sandbox
):
    procore_sandbox.update("company", pc.COMPANY_ID, features={"sub_jobs": False})
    check = checklist(sandbox_connection)[SUB_JOBS]
    assert check.status == Status.FAILED
    assert "Work Breakdown Structure" in check.fix
    assert "Enable the usage of Sub Jobs on projects" in check.fix

    sandbox_connection.import_sub_jobs = False
    sandbox_connection.save()
    assert checklist(sandbox_connection)[SUB_JOBS].status == Status.SKIPPED


def test_a_read_only_exaktime_key_reads_but_may_not_write(sandbox_connection):
    sandbox_connection.exaktime_api_key = et.READ_ONLY_API_KEY
    sandbox_connection.save()
    checks = checklist(sandbox_connection)
    assert checks[KEY].status == Status.OK
    assert checks[WRITE].status == Status.FAILED
    assert "read-only" in checks[WRITE].detail
    assert "read-write API key" in checks[WRITE].fix


def test_a_wrong_exaktime_key_fails_and_write_is_not_tried(sandbox_connection):
    sandbox_connection.exaktime_api_key = "not-a-key"
    sandbox_connection.save()
    checks = checklist(sandbox_connection)
    assert checks[KEY].status == Status.FAILED
    assert "paste it into ExakTime API key" in checks[KEY].fix
    assert checks[WRITE].status == Status.SKIPPED


def test_an_empty_exaktime_account_says_write_access_was_not_verified(sandbox_connection):
    sandbox_connection.exaktime_api_key = et.SECOND_API_KEY
    sandbox_connection.save()
    check = checklist(sandbox_connection)[WRITE]
    assert check.status == Status.WARNING
    assert "not verified" in check.detail


def test_chosen_custom_fields_need_their_fieldset_in_procore(sandbox_connection, procore_sandbox):
    execute(create_run(sandbox_connection, "preimport", trigger="command"))
    sandbox_connection.select_fieldset(Fieldset.objects.get(procore_id=pc.FIELDSET_TIMESHEET))
    sandbox_connection.select_custom_fields(
        list(CustomField.objects.filter(procore_id__in=[pc.CF_EQUIPMENT, pc.CF_WEATHER]))
    )
    assert checklist(sandbox_connection)[FIELDSET].status == Status.OK

    procore_sandbox.update(
        "configurable_field_set", pc.FIELDSET_TIMESHEET, fields=[pc.CF_EQUIPMENT]
    )
    check = checklist(sandbox_connection)[FIELDSET]
    assert check.status == Status.FAILED
    assert "'Weather'" in check.detail

    Fieldset.objects.filter(procore_id=pc.FIELDSET_TIMESHEET).update(procore_id=1)
    check = checklist(sandbox_connection)[FIELDSET]
    assert check.status == Status.FAILED
    assert "no longer in Procore" in check.detail
    assert "Re-run the pre-import" in check.fix


def test_time_types_procore_does_not_have_are_named(sandbox_connection):
    sandbox_connection.time_type_ot2 = "XX"
    sandbox_connection.save()
    check = checklist(sandbox_connection)[TIME_TYPES]
    assert check.status == Status.FAILED
    assert "'XX' (OT2 hours)" in check.detail


# The button on the connection's page ---------------------------------------------------


def test_the_button_shows_the_checklist(staff_client, sandbox_connection):
    page = staff_client.get(f"/admin/linx/connection/{sandbox_connection.pk}/change/")
    assert f"/admin/linx/connection/{sandbox_connection.pk}/test/" in page.content.decode()

    response = staff_client.post(f"/admin/linx/connection/{sandbox_connection.pk}/test/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="linx-check linx-check--ok"') == 10
    assert "Wrote employee" in html


def test_the_checklist_shows_the_fix_of_a_red_line(staff_client, sandbox_connection):
    sandbox_connection.procore_company_id = pc.UNCONNECTED_COMPANY_ID
    sandbox_connection.save()
    html = staff_client.post(f"/admin/linx/connection/{sandbox_connection.pk}/test/").content
    assert b'class="linx-check linx-check--failed"' in html
    assert b"Allow User Installs" in html


def test_the_checklist_is_not_run_by_a_get(staff_client, sandbox_connection, procore_sandbox):
    response = staff_client.get(f"/admin/linx/connection/{sandbox_connection.pk}/test/")
    assert response.status_code == 405
    assert procore_sandbox.requests() == []


@pytest.fixture
def viewer_client(client, db, settings):
    settings.LINX_REQUIRE_MFA = False
    viewer = User.objects.create_user("viewer@example.com", "x" * 20, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_connection"))
    client.force_login(viewer)
    return client


def test_a_viewer_cannot_test_a_connection(viewer_client, sandbox_connection, procore_sandbox):
    response = viewer_client.post(f"/admin/linx/connection/{sandbox_connection.pk}/test/")
    assert response.status_code == 403
    assert procore_sandbox.requests() == []


def test_near_real_time_import_is_checked_against_procores_hook(
    sandbox_connection, procore_sandbox, settings
):
    from linx.sync import webhook_hooks

    settings.LINX_PUBLIC_URL = "http://127.0.0.1:9"
    webhook_hooks.install(sandbox_connection)
    sandbox_connection.refresh_from_db()
    assert checklist(sandbox_connection)[WEBHOOKS].status == Status.OK

    procore_sandbox.store.kv_set("webhook_hooks", {})  # someone deleted the hook
    check = checklist(sandbox_connection)[WEBHOOKS]
    assert check.status == Status.FAILED
    assert "gone from Procore" in check.detail and "--install" in check.fix
