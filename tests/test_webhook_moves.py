"""A hook belongs to one company at one Procore address: a connection moved to another
Procore address or company forgets its hook id and secret, switches near-real-time import
off, and tells the operator to install it again (admin, `linx_connection set`)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from linx.models import Connection
from tests.test_admin_secrets import change_url, form_data
from tests.test_cli import run_command

HOOK_SECRET = "hook-secret-value-0123456789abcdef"
OTHER_COMPANY = 4_294_967_296 + 8


@pytest.fixture
def hooked(connection) -> Connection:
    """The `connection` fixture with its hook installed."""
    Connection.objects.filter(pk=connection.pk).update(
        webhooks_enabled=True,
        webhook_path_id="r4nd0m-path-id",
        webhook_hook_id=9_000_000_001,
        webhook_checked_at=timezone.now(),
    )
    connection = Connection.objects.get(pk=connection.pk)
    connection.webhook_secret = HOOK_SECRET
    connection.save()
    return Connection.objects.get(pk=connection.pk)


def uninstalled(connection) -> bool:
    row = Connection.objects.get(pk=connection.pk)
    return (
        row.webhooks_enabled is False
        and row.webhook_secret == ""
        and row.webhook_hook_id is None
        and row.webhook_checked_at is None
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("procore_api_url", "https://api.procore.com"), ("procore_company_id", OTHER_COMPANY)],
)
def test_a_new_procore_address_or_company_forgets_the_hook(hooked, field, value):
    setattr(hooked, field, value)
    hooked.save()

    assert uninstalled(hooked)
    assert Connection.objects.get(pk=hooked.pk).webhook_path_id == "r4nd0m-path-id"
    message = hooked.cleared_secrets_message()
    assert f"linx_connection webhooks {hooked.name} --install" in message
    assert HOOK_SECRET not in message


def test_other_changes_keep_the_hook(hooked):
    hooked.procore_login_url = "https://login.procore.com"  # the same API and company
    hooked.import_sub_jobs = True
    hooked.save()

    row = Connection.objects.get(pk=hooked.pk)
    assert row.webhooks_enabled and row.webhook_secret == HOOK_SECRET
    assert "near-real-time" not in hooked.cleared_secrets_message().lower()


def test_the_admin_says_to_install_again(staff_client, hooked):
    response = staff_client.post(
        change_url(hooked), form_data(hooked, procore_company_id=OTHER_COMPANY), follow=True
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Near-real-time import was switched off" in page
    assert "--install" in page
    assert uninstalled(hooked)


def test_linx_connection_set_says_to_install_again(capsys, hooked):
    code, _, err = run_command(
        capsys, "linx_connection", "set", hooked.name, "--procore-company-id", str(OTHER_COMPANY)
    )

    assert code == 0
    assert f"linx_connection webhooks {hooked.name} --install" in err
    assert uninstalled(hooked)
