"""`linx_createstaff` makes an account that can log in straight away."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.urls import reverse

from linx.models import User

PASSWORD = "a long enough passphrase 42"


def test_the_new_account_logs_in_with_a_verified_address(client, db, monkeypatch, settings):
    settings.LINX_REQUIRE_MFA = False
    monkeypatch.setenv("LINX_STAFF_PASSWORD", PASSWORD)
    call_command("linx_createstaff", "Ops@Example.com")

    user = User.objects.get(email="ops@example.com")
    assert user.is_staff and not user.is_superuser
    assert EmailAddress.objects.get(user=user).verified
    response = client.post(
        reverse("account_login"), {"login": "ops@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_an_existing_account_is_not_overwritten_by_accident(db, monkeypatch):
    monkeypatch.setenv("LINX_STAFF_PASSWORD", PASSWORD)
    call_command("linx_createstaff", "ops@example.com")
    with pytest.raises(CommandError, match=r"already has an account\. Use --update"):
        call_command("linx_createstaff", "ops@example.com")


def test_a_weak_password_is_refused_with_the_reason(db, monkeypatch):
    monkeypatch.setenv("LINX_STAFF_PASSWORD", "short")
    with pytest.raises(CommandError, match=r"Password refused: .*too short"):
        call_command("linx_createstaff", "ops@example.com")
    assert not User.objects.exists()
