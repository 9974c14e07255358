"""The connection screens: settings, company picker, health in the list, custom fields."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.procore.sandbox import data as pc
from linx.models import (
    Connection,
    CustomField,
    EntityMapping,
    EntityType,
    Fieldset,
    OpenFailure,
    ProcoreAuthMode,
    RunKind,
    RunStatus,
    SyncRun,
    User,
)
from linx.sync.execute import execute
from linx.sync.runs import create_run

LIST = "/admin/linx/connection/"


def page(connection) -> str:
    return f"/admin/linx/connection/{connection.pk}/change/"


@pytest.fixture
def member_client(client, db, settings):
    """Log in as a member of one of the staff groups."""
    settings.LINX_REQUIRE_MFA = False

    def login(group: str):
        user = User.objects.create_user(f"{group.lower()}@example.com", "x" * 20, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        return client

    return login


# Settings, grouped as SyncLinx groups them -----------------------------------------------


def test_settings_are_grouped_like_synclinx_tabs(staff_client, connection):
    html = staff_client.get(page(connection)).content.decode()
    headings = [
        "Connection",
        "Employee import",
        "Sub-jobs import",
        "Custom fields import",
        "Export",
    ]
    positions = [html.index(f'class="fieldset-heading">{h}<') for h in headings]
    assert positions == sorted(positions)
    assert "Test connection" in html and "Choose Procore company" in html


def test_time_types_found_by_the_pre_import_are_the_choices(staff_client, connection):
    for abbreviation, name in [("REG", "Regular"), ("OT", "Overtime"), ("PTO", "Paid time off")]:
        EntityMapping.objects.create(
            connection=connection,
            entity_type=EntityType.TIME_TYPE,
            procore_id=hash(name) % 10**9,
            name=name,
            data={"abbreviation": abbreviation},
        )
    html = staff_client.get(page(connection)).content.decode()
    assert '<select name="time_type_regular"' in html
    assert '<option value="PTO">PTO: Paid time off</option>' in html
    # DT is what the connection holds, but Procore did not list it: kept, and said so.
    assert "DT: not in Procore at the last pre-import" in html


def test_without_a_pre_import_time_types_are_typed(staff_client, connection):
    html = staff_client.get(page(connection)).content.decode()
    assert '<input type="text" name="time_type_regular"' in html
    assert "Run the pre-import to choose" in html


def test_secrets_stay_write_only(staff_client, connection):
    html = staff_client.get(page(connection)).content.decode()
    assert "procore-secret-value-acme" not in html
    assert "exaktime-key-value-acme" not in html
    assert "Set. Leave blank to keep it" in html


@pytest.mark.parametrize("group", ["Viewers", "Operators"])
def test_read_only_staff_see_set_or_not_set_never_the_secret(member_client, connection, group):
    html = member_client(group).get(page(connection)).content.decode()
    assert "procore-secret-value-acme" not in html
    assert "exaktime-key-value-acme" not in html
    assert re.search(r"ExakTime API key:</label>\s*<div class=\"readonly\">set</div>", html)


def test_changing_the_client_secret_drops_the_token_it_earned(staff_client, connection):
    Connection.objects.filter(pk=connection.pk).update(
        procore_access_token="old",
        procore_token_expires_at=timezone.now() + timedelta(hours=1),
    )
    form = staff_client.get(page(connection)).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, bool)}
    data |= {"is_active": "on", "procore_client_secret": "a-new-secret"}
    data["preimport_max_age"] = "1 00:00:00"
    data["full_import_every"] = "1 00:00:00"
    response = staff_client.post(page(connection), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    connection.refresh_from_db()
    assert connection.procore_client_secret == "a-new-secret"
    assert connection.procore_access_token == ""


# The company picker ----------------------------------------------------------------------


@pytest.fixture
def unpicked(sandbox_connection):
    sandbox_connection.procore_company_id = None
    sandbox_connection.procore_company_name = ""
    sandbox_connection.save()
    return sandbox_connection


def picker(connection) -> str:
    return f"/admin/linx/connection/{connection.pk}/procore-company/"


def test_the_picker_lists_the_companies_the_sign_in_reaches(staff_client, unpicked):
    html = staff_client.get(picker(unpicked)).content.decode()
    assert "Sandbox Construction Co." in html
    assert "Second Builders LLC" in html
    assert "Unconnected Holdings" not in html  # the app is not installed there
    assert f'value="{pc.COMPANY_ID}"' in html


def test_the_chosen_company_is_stored(staff_client, unpicked):
    response = staff_client.post(picker(unpicked), {"company": str(pc.SECOND_COMPANY_ID)})
    assert response.status_code == 302
    unpicked.refresh_from_db()
    assert unpicked.procore_company_id == pc.SECOND_COMPANY_ID
    assert unpicked.procore_company_name == "Second Builders LLC"


def test_a_company_not_listed_is_refused(staff_client, unpicked):
    response = staff_client.post(picker(unpicked), {"company": str(pc.UNCONNECTED_COMPANY_ID)})
    assert b"Choose one of the companies listed" in response.content
    unpicked.refresh_from_db()
    assert unpicked.procore_company_id is None


def test_a_connection_with_links_does_not_move_to_another_company(staff_client, sandbox_connection):
    EntityMapping.objects.create(
        connection=sandbox_connection,
        entity_type=EntityType.EMPLOYEE,
        procore_id=1,
        exaktime_id="1",
    )
    staff_client.post(picker(sandbox_connection), {"company": str(pc.SECOND_COMPANY_ID)})
    sandbox_connection.refresh_from_db()
    assert sandbox_connection.procore_company_id == pc.COMPANY_ID


def test_connect_to_procore_leads_to_the_picker(staff_client, unpicked, procore_sandbox):
    unpicked.procore_auth_mode = ProcoreAuthMode.AUTHORIZATION_CODE
    unpicked.save()
    to_procore = staff_client.post(f"/procore/connect/{unpicked.pk}/")
    # The sandbox approves at once and sends the browser back with a code.
    back = requests.get(to_procore.url, allow_redirects=False, timeout=10).headers["Location"]
    query = parse_qs(urlsplit(back).query)
    response = staff_client.get(
        "/procore/callback/", {"code": query["code"][0], "state": query["state"][0]}
    )
    assert response.status_code == 302
    assert response.url == picker(unpicked)
    assert "Second Builders LLC" in staff_client.get(response.url).content.decode()


def test_an_operator_cannot_choose_the_company(member_client, unpicked):
    client = member_client("Operators")
    assert client.get(picker(unpicked)).status_code == 403
    assert client.post(picker(unpicked), {"company": str(pc.COMPANY_ID)}).status_code == 403


# Health at a glance ----------------------------------------------------------------------


def run(connection, kind, status, *, ago=timedelta(hours=1), dry_run=False, **counts):
    created = timezone.now() - ago
    return SyncRun.objects.create(
        connection=connection,
        kind=kind,
        status=status,
        trigger="command",
        dry_run=dry_run,
        counts=counts,
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(minutes=1),
    )


def row_of(html: str, name: str) -> str:
    start = html.index(f">{name}</a>")
    return html[start : html.index("</tr>", start)]


def test_the_list_shows_last_runs_failures_and_token(staff_client, connection):
    run(connection, RunKind.IMPORT, RunStatus.SUCCEEDED, ago=timedelta(days=2), failed=9)
    latest_import = run(connection, RunKind.IMPORT, RunStatus.PARTIAL, created=3, failed=2)
    for worker in (11, 12):
        OpenFailure.objects.create(
            connection=connection, kind=RunKind.IMPORT, entity_type="employee", source_id=worker
        )
    run(connection, RunKind.IMPORT, RunStatus.FAILED, ago=timedelta(minutes=1), dry_run=True)
    export = run(connection, RunKind.EXPORT, RunStatus.SUCCEEDED, ago=timedelta(days=1), created=8)
    Connection.objects.filter(pk=connection.pk).update(
        procore_access_token="t", procore_token_expires_at=timezone.now() - timedelta(hours=1)
    )
    quiet = Connection.objects.create(name="quiet-co", procore_auth_mode="authorization_code")

    html = staff_client.get(LIST).content.decode()
    acme = row_of(html, "acme-builders")
    # The latest real run of each kind: the dry run does not count.
    assert f"/admin/linx/syncrun/{latest_import.pk}/change/" in acme
    assert "Partially failed" in acme
    assert f"/admin/linx/syncrun/{export.pk}/change/" in acme and "Succeeded" in acme
    # Failures outstanding: the records still failing (open failures), not any run's rows.
    assert ">2</strong>" in acme and "2 in import" in acme
    assert f"/admin/linx/openfailure/?connection__id__exact={connection.pk}" in acme
    # An expired token of a service account renews itself: amber, not red.
    assert re.search(r'linx-badge--warn"[^>]*>expired<', acme)

    other = row_of(html, "quiet-co")
    assert other.count(">never<") == 2
    assert re.search(r'linx-badge--bad"[^>]*>no token<', other)  # must use Connect to Procore
    assert quiet.procore_company_id is None and "not chosen" in other


def test_the_list_costs_the_same_queries_for_one_connection_or_many(staff_client, connection):
    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert staff_client.get(LIST).status_code == 200
        return len(captured)

    run(connection, RunKind.IMPORT, RunStatus.SUCCEEDED, created=1)
    one = queries()
    for n in range(20):
        other = Connection.objects.create(name=f"company-{n}", procore_client_secret="s")
        run(other, RunKind.IMPORT, RunStatus.PARTIAL, failed=1)
        run(other, RunKind.EXPORT, RunStatus.SUCCEEDED)
    assert queries() == one


# Custom fields ---------------------------------------------------------------------------


@pytest.fixture
def preimported(connection):
    """Two timesheet fieldsets and their fields, as a pre-import leaves them."""
    fields = {
        label: CustomField.objects.create(
            connection=connection, procore_id=procore_id, label=label, data_type=data_type
        )
        for procore_id, label, data_type in [
            (1, "Equipment", "string"),
            (2, "Inspection", "date"),
            (3, "Per diem", "boolean"),
            (4, "Weather", "lov_entry"),
            (5, "Foreman", "string"),
            (6, "Permit", "string"),
            (7, "Mileage", "number"),
            (8, "Retired", "string"),
        ]
    }
    CustomField.objects.filter(procore_id=8).update(gone_from_procore=True)
    daily = Fieldset.objects.create(
        connection=connection, procore_id=100, name="Daily", field_ids=[1, 2, 3, 4, 5, 6, 7, 8]
    )
    Fieldset.objects.create(connection=connection, procore_id=200, name="Extras", field_ids=[1])
    Connection.objects.filter(pk=connection.pk).update(
        preimported_at=timezone.now() - timedelta(days=3)
    )
    return {"fieldset": daily, **fields}


def custom_fields(connection) -> str:
    return f"/admin/linx/connection/{connection.pk}/custom-fields/"


def choose(client, connection, fieldset, *fields):
    return client.post(
        custom_fields(connection),
        {"fieldset": str(fieldset.pk) if fieldset else "", "fields": [str(f.pk) for f in fields]},
        follow=True,
    )


def test_the_page_shows_the_reminder_and_why_fields_cannot_be_chosen(
    staff_client, connection, preimported
):
    html = staff_client.get(custom_fields(connection)).content.decode()
    assert (
        "Every time a custom field is created or changed in Procore, re-run the pre-import." in html
    )
    assert "3\xa0days ago" in html or "3 days ago" in html
    mileage = preimported["Mileage"].pk
    assert f'value="{mileage}" id="field-{mileage}" disabled' in html
    assert "Number fields cannot be carried" in html  # in words, not the API's "number"
    assert "lov_entries" not in html and "data_type" not in html
    retired = preimported["Retired"].pk
    assert f'value="{retired}" id="field-{retired}" disabled' in html
    assert "Gone from Procore at the last pre-import" in html


def test_a_fieldset_and_five_fields_are_chosen(staff_client, connection, preimported):
    five = [preimported[n] for n in ("Equipment", "Inspection", "Per diem", "Weather", "Foreman")]
    response = choose(staff_client, connection, preimported["fieldset"], *five)
    assert "Saved: 5 custom field(s) from Daily" in response.content.decode()
    assert connection.selected_fieldset() == preimported["fieldset"]
    assert [f.label for f in connection.selected_custom_fields()] == sorted(f.label for f in five)


def test_a_sixth_field_is_refused_with_the_models_message(staff_client, connection, preimported):
    six = [
        preimported[n]
        for n in ("Equipment", "Inspection", "Per diem", "Weather", "Foreman", "Permit")
    ]
    response = choose(staff_client, connection, preimported["fieldset"], *six)
    html = response.content.decode()
    assert "6 custom fields chosen, but at most 5 can be carried" in html
    assert not connection.selected_custom_fields().exists()
    assert connection.selected_fieldset() is None  # nothing half-saved


def test_after_a_refused_save_the_page_shows_what_is_really_in_use(
    staff_client, connection, preimported
):
    choose(staff_client, connection, preimported["fieldset"], preimported["Equipment"])
    six = [
        preimported[n]
        for n in ("Equipment", "Inspection", "Per diem", "Weather", "Foreman", "Permit")
    ]
    html = choose(staff_client, connection, preimported["fieldset"], *six).content.decode()
    assert "6 custom fields chosen, but at most 5 can be carried" in html
    assert "Nothing was saved" in html
    # Only Equipment is ticked, as it is in the database; the refused five are not.
    for name in ("Equipment", "Inspection", "Per diem", "Weather", "Foreman", "Permit"):
        pk = preimported[name].pk
        ticked = f'value="{pk}" id="field-{pk}" checked' in html
        assert ticked == (name == "Equipment"), name

    # A refused change of fieldset leaves the fieldset in use shown as chosen.
    extras = Fieldset.objects.get(name="Extras")
    html = choose(staff_client, connection, extras, preimported["Weather"]).content.decode()
    assert "is not in the selected fieldset" in html
    daily, other = preimported["fieldset"].pk, extras.pk
    assert f'value="{daily}" id="fieldset-{daily}" data-fields="1 2 3 4 5 6 7 8" checked' in html
    assert f'id="fieldset-{other}" data-fields="1" checked' not in html
    assert connection.selected_fieldset() == preimported["fieldset"]


def test_an_unsupported_field_is_refused_even_if_posted(staff_client, connection, preimported):
    response = choose(staff_client, connection, preimported["fieldset"], preimported["Mileage"])
    assert "which Linx cannot carry" in response.content.decode()
    assert not connection.selected_custom_fields().exists()


def test_a_field_outside_the_chosen_fieldset_is_refused(staff_client, connection, preimported):
    extras = Fieldset.objects.get(name="Extras")
    response = choose(staff_client, connection, extras, preimported["Weather"])
    assert "is not in the selected fieldset" in response.content.decode()


def test_choosing_no_fieldset_clears_the_fields(staff_client, connection, preimported):
    choose(staff_client, connection, preimported["fieldset"], preimported["Equipment"])
    choose(staff_client, connection, None)
    assert connection.selected_fieldset() is None
    assert not connection.selected_custom_fields().exists()


def test_an_operator_sees_the_fields_but_cannot_choose(member_client, connection, preimported):
    client = member_client("Operators")
    html = client.get(custom_fields(connection)).content.decode()
    assert "Equipment" in html and 'value="Save"' not in html
    response = client.post(
        custom_fields(connection),
        {"fieldset": str(preimported["fieldset"].pk), "fields": [preimported["Equipment"].pk]},
    )
    assert response.status_code == 403
    assert connection.selected_fieldset() is None


def test_the_real_pre_import_feeds_the_page(staff_client, sandbox_connection):
    execute(create_run(sandbox_connection, RunKind.PREIMPORT, trigger="command"))
    html = staff_client.get(custom_fields(sandbox_connection)).content.decode()
    assert "Daily Timesheet Fields" in html and "Crew Timesheet Extras" in html
    assert "Mileage" in html


def test_the_custom_field_list_leads_to_the_page_where_fields_are_chosen(
    staff_client, connection, preimported
):
    html = staff_client.get("/admin/linx/customfield/").content.decode()
    assert custom_fields(connection) in html


def test_a_fieldset_or_field_of_another_connection_is_refused_and_nothing_changes(
    staff_client, connection, preimported
):
    choose(staff_client, connection, preimported["fieldset"], preimported["Equipment"])
    other = Connection.objects.create(name="other-company", procore_company_id=99)
    foreign = Fieldset.objects.create(connection=other, procore_id=300, name="Theirs")
    html = choose(staff_client, connection, foreign).content.decode()
    assert "Select a valid choice" in html and "Nothing was saved" in html
    # Before, an unknown fieldset read as "none" and silently dropped the choice in use.
    assert connection.selected_fieldset() == preimported["fieldset"]
    assert [f.label for f in connection.selected_custom_fields()] == ["Equipment"]


# Where work starts: the connection's own page ---------------------------------------------


def run_buttons(html: str) -> list[str]:
    return re.findall(r'data-linx-run="([a-z_]+)"', html)


def test_the_page_starts_runs_and_lands_on_the_runs_page(member_client, connection):
    client = member_client("Operators")
    html = client.get(page(connection)).content.decode()
    assert run_buttons(html) == [
        "preimport", "dry_run_import", "import_everything", "import_chosen", "export_time"
    ]  # fmt: skip

    response = client.post(
        LIST, {"action": "dry_run_import", "_selected_action": [connection.pk]}, follow=True
    )
    run = SyncRun.objects.get()
    assert run.dry_run and run.kind == RunKind.IMPORT
    run_page = f"/admin/linx/syncrun/{run.pk}/change/"
    assert response.redirect_chain[-1][0] == run_page
    assert f'<a href="{run_page}">#{run.pk}</a>' in response.content.decode()


def test_the_export_button_asks_for_the_week_then_lands_on_the_run(member_client, connection):
    client = member_client("Operators")
    form = client.post(LIST, {"action": "export_time", "_selected_action": [connection.pk]})
    html = form.content.decode()
    assert 'class="module aligned"' in html and f"For {connection.name}" in html
    assert f'href="{page(connection)}" class="button cancel-link"' in html

    response = client.post(
        LIST,
        {"action": "export_time", "_selected_action": [connection.pk], "apply": "1",
         "first_day": "2026-11-16", "last_day": "2026-11-22"},
    )  # fmt: skip
    run = SyncRun.objects.get()
    assert response["Location"] == f"/admin/linx/syncrun/{run.pk}/change/"


def test_several_connections_queued_from_the_list_stay_on_the_list_with_links(
    member_client, connection
):
    client = member_client("Operators")
    other = Connection.objects.create(name="second")
    response = client.post(
        LIST, {"action": "preimport", "_selected_action": [connection.pk, other.pk]}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(LIST)
    html = response.content.decode()
    for run in SyncRun.objects.all():
        assert f'<a href="/admin/linx/syncrun/{run.pk}/change/">#{run.pk}</a>' in html


def test_viewers_get_no_run_buttons(member_client, connection):
    assert run_buttons(member_client("Viewers").get(page(connection)).content.decode()) == []


def test_a_secrets_line_names_it_once(member_client, connection):
    html = member_client("Administrators").get(page(connection)).content.decode()
    labels = re.findall(r"<label[^>]*>([^<]+)</label>", html)
    for name in ("Procore client secret:", "ExakTime API key:"):
        assert labels.count(name) == 1, labels


def test_connect_to_procore_is_offered_only_where_a_person_signs_in(member_client, connection):
    client = member_client("Administrators")
    connection.procore_auth_mode = ProcoreAuthMode.CLIENT_CREDENTIALS
    connection.save()
    html = client.get(page(connection)).content.decode()
    assert ">Connect to Procore</button>" not in html
    assert "data-linx-no-connect" in html and "service account" in html

    connection.procore_auth_mode = ProcoreAuthMode.AUTHORIZATION_CODE
    connection.save()
    html = client.get(page(connection)).content.decode()
    assert ">Connect to Procore</button>" in html and "data-linx-no-connect" not in html
