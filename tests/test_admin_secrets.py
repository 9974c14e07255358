"""Secrets in the admin are write-only: they can be set or replaced, never shown back."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from linx.models import Connection


@pytest.fixture
def admin_client(staff_client):
    return staff_client


def change_url(connection) -> str:
    return f"/admin/linx/connection/{connection.pk}/change/"


def form_data(connection, **overrides) -> dict:
    data = {
        "name": connection.name,
        "is_active": "on",
        "procore_login_url": connection.procore_login_url,
        "procore_api_url": connection.procore_api_url,
        "procore_auth_mode": connection.procore_auth_mode,
        "procore_client_id": connection.procore_client_id,
        "procore_client_secret": "",
        "procore_company_id": connection.procore_company_id,
        "procore_company_name": "",
        "exaktime_api_url": connection.exaktime_api_url,
        "exaktime_api_key": "",
        "preimport_max_age": "1 00:00:00",
        "time_type_regular": "REG",
        "time_type_ot1": "OT",
        "time_type_ot2": "DT",
        "time_entry_mode": "hours",
        "fieldsets-TOTAL_FORMS": "0",
        "fieldsets-INITIAL_FORMS": "0",
        "custom_fields-TOTAL_FORMS": "0",
        "custom_fields-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_the_change_page_shows_set_but_never_the_secret(admin_client, connection):
    page = admin_client.get(change_url(connection)).content.decode()
    assert "procore-secret-value-acme" not in page
    assert "exaktime-key-value-acme" not in page
    assert "Set. Leave blank to keep it" in page


def test_a_blank_secret_box_keeps_the_stored_secret(admin_client, connection):
    response = admin_client.post(change_url(connection), form_data(connection))
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.procore_client_secret == "procore-secret-value-acme"


def test_a_typed_secret_replaces_it_and_clear_removes_it(admin_client, connection):
    admin_client.post(
        change_url(connection),
        form_data(connection, procore_client_secret="new-secret", clear_exaktime_api_key="on"),
    )
    connection = Connection.objects.get(pk=connection.pk)
    assert connection.procore_client_secret == "new-secret"
    assert connection.exaktime_api_key == ""


def add_data(**overrides) -> dict:
    data = {
        "name": "newco",
        "is_active": "on",
        "procore_login_url": "https://login.procore.com",
        "procore_api_url": "https://api.procore.com",
        "procore_auth_mode": "client_credentials",
        "procore_client_id": "cid",
        "procore_client_secret": "typed-procore-secret",
        "procore_company_id": "7",
        "exaktime_api_url": "https://api.arcoro.com",
        "exaktime_api_key": "typed-exaktime-key",
        "full_import_every": "1 00:00:00",
        "preimport_max_age": "1 00:00:00",
        "time_type_regular": "REG",
        "time_type_ot1": "OT",
        "time_type_ot2": "DT",
        "time_entry_mode": "hours",
        "time_zone": "UTC",
    }
    data.update(overrides)
    return data


def readonly_status(page: str, label: str) -> str:
    """The set / not set shown for a secret on the connection page: "Stored", on the
    secret's own line, after its box (its label would only repeat the box's)."""
    field = {"Procore client secret": "client_secret_status", "ExakTime API key": "api_key_status"}
    found = re.search(
        rf'field-{field[label]}">\s*<label class="inline">Stored:</label>\s*'
        r'<div class="readonly">([^<]*)</div>',
        page,
    )
    assert found, f"no status for {label}"
    return found.group(1).strip()


def test_a_refused_add_asks_for_the_secrets_again_and_never_says_set(admin_client):
    response = admin_client.post(
        "/admin/linx/connection/add/", add_data(procore_login_url="http://login.example.com")
    )
    page = response.content.decode()
    assert response.status_code == 200  # shown again, for the URL
    assert "must use https://" in page
    assert "typed-procore-secret" not in page and "typed-exaktime-key" not in page
    assert page.count("Not saved: enter it again.") == 2
    assert readonly_status(page, "Procore client secret") == "not set"
    assert readonly_status(page, "ExakTime API key") == "not set"
    assert not Connection.objects.exists()


def test_a_refused_change_keeps_saying_what_is_stored_and_asks_for_the_new_secret(
    admin_client, connection
):
    response = admin_client.post(
        change_url(connection),
        form_data(
            connection,
            procore_api_url="http://api.example.com",
            procore_client_secret="replacement-secret",
        ),
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "replacement-secret" not in page and "procore-secret-value-acme" not in page
    assert page.count("Not saved: enter it again.") == 1  # only the secret that was typed
    assert readonly_status(page, "Procore client secret") == "set"  # the stored one
    connection.refresh_from_db()
    assert connection.procore_client_secret == "procore-secret-value-acme"


def test_a_new_client_id_forgets_the_procore_token_and_keeps_other_settings(
    admin_client, connection
):
    connection.procore_access_token = "live-access-token-123"
    connection.procore_refresh_token = "live-refresh-token-456"
    connection.procore_token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    admin_client.post(change_url(connection), form_data(connection, procore_client_id="new-app"))
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.procore_client_id == "new-app"
    assert stored.procore_access_token == stored.procore_refresh_token == ""
    assert stored.procore_token_expires_at is None
    assert stored.procore_client_secret == "procore-secret-value-acme"  # not a moved service


def test_a_change_that_leaves_signing_in_alone_keeps_the_procore_token(admin_client, connection):
    connection.procore_access_token = "live-access-token-123"
    connection.save()
    admin_client.post(change_url(connection), form_data(connection, is_active=""))
    stored = Connection.objects.get(pk=connection.pk)
    assert not stored.is_active
    assert stored.procore_access_token == "live-access-token-123"


def test_a_new_client_secret_forgets_the_procore_token(admin_client, connection):
    connection.procore_access_token = "live-access-token-123"
    connection.save()
    admin_client.post(
        change_url(connection), form_data(connection, procore_client_secret="another-secret")
    )
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.procore_client_secret == "another-secret"
    assert stored.procore_access_token == ""
