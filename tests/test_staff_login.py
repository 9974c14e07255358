"""Staff reach the admin only through allauth: rate limits, and a second factor."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.urls import reverse

from linx.models import User


def log_in(client, email, password):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def current_code(secret: str, *, steps_back: int = 0) -> str:
    import time

    from allauth.mfa import app_settings

    step = int(time.time()) // app_settings.TOTP_PERIOD - steps_back
    return format_hotp_value(hotp_value(secret, step))


@pytest.fixture
def totp_secret(staff_user) -> str:
    secret = generate_totp_secret()
    TOTP.activate(staff_user, secret)
    return secret


def test_the_admin_sends_anonymous_visitors_to_allauth_login(client):
    response = client.get("/admin/", follow=True)
    final_url, _ = response.redirect_chain[-1]
    assert final_url == f"{reverse('account_login')}?next=%2Fadmin%2F"
    assert response.status_code == 200


def test_the_admins_own_login_form_redirects_to_allauth_too(client):
    response = client.get("/admin/login/?next=/admin/linx/connection/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_sign_up_is_closed(client, db):
    response = client.post(
        reverse("account_signup"),
        {"email": "intruder@example.com", "password1": "x" * 20, "password2": "x" * 20},
    )
    assert not User.objects.filter(email="intruder@example.com").exists()
    assert b"Sign Up Closed" in response.content or response.status_code == 403


def test_repeated_wrong_passwords_are_rate_limited(client, staff_user, staff_password):
    for _ in range(5):
        assert log_in(client, staff_user.email, "wrong password").status_code == 200
    # The sixth try is refused even with the right password.
    response = log_in(client, staff_user.email, staff_password)
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_staff_with_totp_must_enter_a_code_before_the_admin(
    client, staff_user, staff_password, totp_secret
):
    response = log_in(client, staff_user.email, staff_password)
    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session  # not logged in yet

    assert client.post(reverse("mfa_authenticate"), {"code": "000000"}).status_code == 200
    assert "_auth_user_id" not in client.session

    response = client.post(reverse("mfa_authenticate"), {"code": current_code(totp_secret)})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_a_code_typed_as_the_app_turns_over_is_taken_once_and_an_older_one_is_not(
    client, staff_user, staff_password, totp_secret
):
    # The code the app showed a moment ago (the previous 30-second step) still signs in:
    # a person typing at the turn is not refused. Two steps back is too old.
    log_in(client, staff_user.email, staff_password)
    too_old = current_code(totp_secret, steps_back=2)
    assert client.post(reverse("mfa_authenticate"), {"code": too_old}).status_code == 200
    assert "_auth_user_id" not in client.session

    just_turned = current_code(totp_secret, steps_back=1)
    response = client.post(reverse("mfa_authenticate"), {"code": just_turned})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200

    # The same code a second time (say, seen over a shoulder) is refused.
    client.logout()
    log_in(client, staff_user.email, staff_password)
    assert client.post(reverse("mfa_authenticate"), {"code": just_turned}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_also_passes_the_second_step(
    client, staff_user, staff_password, totp_secret
):
    codes = RecoveryCodes.activate(staff_user).get_unused_codes()
    log_in(client, staff_user.email, staff_password)
    client.post(reverse("mfa_authenticate"), {"code": codes[0]})
    assert client.get("/admin/").status_code == 200


def test_staff_without_a_second_factor_are_sent_to_set_one_up(client, staff_user, staff_password):
    assert log_in(client, staff_user.email, staff_password).status_code == 302
    response = client.get("/admin/linx/connection/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("mfa_activate_totp"))
    # Setting up a factor asks for the password once more (allauth's reauthentication),
    # then the set-up page itself is reachable.
    response = client.get(response.url, follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))
    response = client.post(
        response.redirect_chain[-1][0], {"password": staff_password}, follow=True
    )
    assert response.redirect_chain[-1][0].startswith(reverse("mfa_activate_totp"))
    assert b"Authenticator" in response.content


def test_requiring_a_second_factor_can_be_switched_off(
    client, settings, staff_user, staff_password
):
    settings.LINX_REQUIRE_MFA = False
    log_in(client, staff_user.email, staff_password)
    assert client.get("/admin/").status_code == 200


def test_non_staff_accounts_cannot_use_the_admin(client, db, staff_password):
    user = User.objects.create_user("viewer@example.com", staff_password)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    log_in(client, user.email, staff_password)
    assert client.get("/admin/", follow=True).status_code == 403
    assert not Authenticator.objects.exists()


def test_the_login_page_offers_no_sign_up(client, db):
    page = client.get(reverse("account_login")).content.decode()
    assert "sign up" not in page.lower()
    assert "Accounts are made by an administrator" in page


# --- Behind a proxy: rate limits key on the real client, not on the proxy ----------------

PROXY = "10.0.0.2"


def log_in_through_proxy(client, email, password, forwarded_for: str):
    """A login as the proxy relays it: from the proxy's address, the client's in the header."""
    return client.post(
        reverse("account_login"),
        {"login": email, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


@pytest.fixture
def behind_one_proxy(settings, monkeypatch):
    """allauth configured as Linx's settings configure it for LINX_BEHIND_PROXY=true."""
    import runpy

    import linx.settings

    monkeypatch.setenv("LINX_BEHIND_PROXY", "true")
    computed = runpy.run_path(linx.settings.__file__)
    for name, value in computed.items():
        if name.startswith("ALLAUTH_"):
            setattr(settings, name, value)
    settings.LINX_REQUIRE_MFA = False


def test_behind_a_proxy_one_attacker_does_not_lock_out_another_address(
    behind_one_proxy, client, staff_user, staff_password
):
    from django.test import Client

    for attempt in range(12):
        log_in_through_proxy(
            client, f"nobody{attempt}@example.com", "wrong password", "203.0.113.66"
        )
    refused = log_in_through_proxy(client, "nobody@example.com", "wrong", "203.0.113.66")
    assert b"Too many failed login attempts" in refused.content

    colleague = Client()
    response = log_in_through_proxy(colleague, staff_user.email, staff_password, "198.51.100.7")
    assert response.status_code == 302
    assert "_auth_user_id" in colleague.session


def test_behind_a_proxy_a_forged_forwarded_for_does_not_escape_the_limit(
    behind_one_proxy, client, staff_user, staff_password
):
    # The client writes what it likes in front; the proxy appends the address it saw.
    for attempt in range(10):
        log_in_through_proxy(
            client, f"nobody{attempt}@example.com", "wrong", f"192.0.2.{attempt}, 203.0.113.66"
        )
    response = log_in_through_proxy(
        client, staff_user.email, staff_password, "192.0.2.200, 203.0.113.66"
    )
    assert b"Too many failed login attempts" in response.content


def test_sign_in_offers_forgot_your_password_once(client):
    page = client.get("/accounts/login/").content.decode()
    assert page.count("Forgot your password?") == 1
    assert 'href="/accounts/password/reset/"' in page


def test_the_browsers_icon_is_served_to_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an icon file
    assert "max-age" in response["Cache-Control"]
