"""A secret follows its service, never a new URL: repointing a service clears its secrets.

Secrets are write-only, so "change the URL to a listener, press Test connection" would
be the one way to read them. Every path that saves a connection clears them: the
model itself, the admin and `linx_connection set`.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.utils import timezone

from linx.models import Connection
from linx.sync.preflight import Status, run_preflight
from tests.test_admin_secrets import change_url, form_data

PROCORE_SECRET = "procore-secret-value-acme"
EXAKTIME_KEY = "exaktime-key-value-acme"
LISTENER = "https://listener.example.net"


@pytest.fixture(autouse=True)
def _custom_hosts_allowed(settings):
    # An installation that allows a custom host: there the URL rules alone cannot stop an
    # administrator repointing a connection at a listener.
    settings.LINX_SERVICE_HOSTS = [*settings.LINX_SERVICE_HOSTS, "example.net"]


@pytest.fixture
def signed_in(connection) -> Connection:
    """The `connection` fixture holding a live Procore token."""
    connection.procore_access_token = "live-access-token-123"
    connection.procore_refresh_token = "live-refresh-token-456"
    connection.procore_token_expires_at = timezone.now() + timedelta(hours=1)
    connection.save()
    return Connection.objects.get(pk=connection.pk)


def stored(connection) -> Connection:
    return Connection.objects.get(pk=connection.pk)


# --- The model: every path that saves gets the rule --------------------------------------


@pytest.mark.parametrize("url_field", ["procore_api_url", "procore_login_url"])
def test_a_new_procore_url_clears_procore_secret_and_tokens(signed_in, url_field, caplog):
    setattr(signed_in, url_field, LISTENER)
    with caplog.at_level(logging.WARNING, logger="linx.audit"):
        signed_in.save()
    row = stored(signed_in)
    assert getattr(row, url_field) == LISTENER
    assert row.procore_client_secret == ""
    assert row.procore_access_token == row.procore_refresh_token == ""
    assert row.procore_token_expires_at is None
    assert row.exaktime_api_key == EXAKTIME_KEY  # the other service is untouched
    assert "Procore client secret was cleared because the URL changed" in (
        signed_in.cleared_secrets_message()
    )
    # The audit trail names the change and who made it, and holds no secret.
    audit = caplog.text
    assert url_field in audit and LISTENER in audit and "procore_client_secret" in audit
    assert "a direct save of the model" in audit
    for secret in (PROCORE_SECRET, "live-access-token-123", "live-refresh-token-456"):
        assert secret not in audit


def test_a_new_exaktime_url_clears_the_api_key_only(signed_in):
    signed_in.exaktime_api_url = LISTENER
    signed_in.save()
    row = stored(signed_in)
    assert row.exaktime_api_key == ""
    assert row.procore_client_secret == PROCORE_SECRET
    assert row.procore_access_token == "live-access-token-123"


def test_the_rule_holds_for_a_save_of_chosen_fields_too(signed_in):
    signed_in.procore_api_url = LISTENER
    signed_in.save(update_fields=["procore_api_url"])
    row = stored(signed_in)
    assert row.procore_api_url == LISTENER
    assert row.procore_client_secret == row.procore_access_token == ""


def test_a_new_secret_given_in_the_same_save_is_kept(signed_in):
    signed_in.procore_api_url = LISTENER
    signed_in.procore_client_secret = "a-new-secret-for-the-new-url"
    signed_in.save()
    row = stored(signed_in)
    assert row.procore_client_secret == "a-new-secret-for-the-new-url"
    assert row.procore_access_token == ""  # a token is never carried to another host


def test_the_same_secret_typed_again_with_the_new_url_is_kept(signed_in):
    signed_in.exaktime_api_url = LISTENER
    signed_in.enter_secret("exaktime_api_key", EXAKTIME_KEY)
    signed_in.save()
    assert stored(signed_in).exaktime_api_key == EXAKTIME_KEY


def test_saving_without_a_url_change_keeps_everything(signed_in):
    signed_in.time_zone = "America/Chicago"
    signed_in.save()
    row = stored(signed_in)
    assert (row.procore_client_secret, row.exaktime_api_key) == (PROCORE_SECRET, EXAKTIME_KEY)
    assert row.procore_access_token == "live-access-token-123"
    assert signed_in.cleared_secrets_message() == ""


# --- The admin ---------------------------------------------------------------------------


def test_the_admin_clears_them_says_so_and_records_who(staff_client, signed_in, staff_user):
    response = staff_client.post(
        change_url(signed_in), form_data(signed_in, procore_api_url=LISTENER), follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Procore client secret was cleared because the URL changed: enter it again" in page
    row = stored(signed_in)
    assert row.procore_client_secret == row.procore_access_token == ""
    assert row.exaktime_api_key == EXAKTIME_KEY
    entry = LogEntry.objects.get(object_id=str(signed_in.pk))
    assert entry.user == staff_user
    assert "Procore API URL" in entry.get_change_message()
    assert "Procore client secret (cleared: URL changed)" in entry.get_change_message()
    # Test connection now reports the secret missing instead of sending it anywhere.
    checks = run_preflight(row)
    sign_in = next(c for c in checks if c.system == "Procore")
    assert sign_in.status == Status.FAILED
    assert "No client ID or secret" in sign_in.detail


def test_in_the_admin_a_secret_typed_with_the_new_url_is_kept(staff_client, signed_in):
    staff_client.post(
        change_url(signed_in),
        form_data(signed_in, exaktime_api_url=LISTENER, exaktime_api_key=EXAKTIME_KEY),
    )
    row = stored(signed_in)
    assert (row.exaktime_api_url, row.exaktime_api_key) == (LISTENER, EXAKTIME_KEY)


# --- linx_connection set -----------------------------------------------------------------


def test_the_command_clears_them_and_says_so(signed_in, caplog):
    err = io.StringIO()
    with caplog.at_level(logging.WARNING, logger="linx.audit"):
        call_command(
            "linx_connection", "set", signed_in.name, "--exaktime-api-url", LISTENER,
            stdout=io.StringIO(), stderr=err,
        )  # fmt: skip
    assert "ExakTime API key was cleared because the URL changed: enter it again" in (
        err.getvalue()
    )
    assert stored(signed_in).exaktime_api_key == ""
    assert stored(signed_in).procore_client_secret == PROCORE_SECRET
    assert "linx_connection set" in caplog.text
    assert EXAKTIME_KEY not in caplog.text


def test_the_command_keeps_a_secret_given_with_the_new_url(signed_in):
    err = io.StringIO()
    call_command(
        "linx_connection", "set", signed_in.name, "--procore-login-url", LISTENER,
        "--procore-client-secret", PROCORE_SECRET, stdout=io.StringIO(), stderr=err,
    )  # fmt: skip
    row = stored(signed_in)
    assert row.procore_client_secret == PROCORE_SECRET
    assert row.procore_access_token == ""
    assert "client secret" not in err.getvalue()
