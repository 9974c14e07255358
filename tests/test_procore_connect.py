"""The Connect to Procore button: authorization code round trip with `state` checked."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from linx.models import Connection, ProcoreAuthMode

LOGIN = "https://login-sandbox.procore.com"


def start(client, connection):
    return client.post(f"/procore/connect/{connection.pk}/")


def test_connect_sends_the_browser_to_procore_with_a_fresh_state(staff_client, connection):
    response = start(staff_client, connection)
    assert response.status_code == 302
    target = urlsplit(response.url)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{LOGIN}/oauth/authorize"
    query = parse_qs(target.query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == ["client-id-acme"]
    assert query["redirect_uri"] == ["http://testserver/procore/callback/"]
    assert len(query["state"][0]) >= 32
    assert "procore-secret-value-acme" not in response.url


def test_the_callback_stores_the_token_pair(staff_client, connection):
    state = parse_qs(urlsplit(start(staff_client, connection).url).query)["state"][0]
    with responses.RequestsMock() as mock:
        token_call = mock.post(
            f"{LOGIN}/oauth/token",
            json={"access_token": "acc", "refresh_token": "ref", "expires_in": 5400},
        )
        response = staff_client.get("/procore/callback/", {"code": "the-code", "state": state})
    assert response.status_code == 302
    assert response.url == f"/admin/linx/connection/{connection.pk}/change/"
    assert "grant_type=authorization_code" in token_call.calls[0].request.body
    assert "code=the-code" in token_call.calls[0].request.body
    connection = Connection.objects.get(pk=connection.pk)
    assert connection.procore_access_token == "acc"
    assert connection.procore_refresh_token == "ref"
    assert connection.procore_auth_mode == ProcoreAuthMode.AUTHORIZATION_CODE


@pytest.mark.parametrize("forged", ["", "not-the-state"])
def test_a_forged_state_is_refused_before_any_code_is_exchanged(staff_client, connection, forged):
    start(staff_client, connection)
    with responses.RequestsMock():  # any HTTP call at all would fail this test
        response = staff_client.get("/procore/callback/", {"code": "stolen", "state": forged})
    assert response.status_code == 400
    assert b"state does not match" in response.content
    assert Connection.objects.get(pk=connection.pk).procore_access_token == ""


def test_a_state_works_once(staff_client, connection):
    state = parse_qs(urlsplit(start(staff_client, connection).url).query)["state"][0]
    with responses.RequestsMock() as mock:
        mock.post(f"{LOGIN}/oauth/token", json={"access_token": "a", "expires_in": 60})
        staff_client.get("/procore/callback/", {"code": "c", "state": state})
        replay = staff_client.get("/procore/callback/", {"code": "c", "state": state})
    assert replay.status_code == 400


def test_connect_needs_a_post_with_csrf(staff_client, connection, client):
    assert staff_client.get(f"/procore/connect/{connection.pk}/").status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.cookies = staff_client.cookies
    assert start(strict, connection).status_code == 403


def test_a_refused_code_says_what_to_do(staff_client, connection):
    state = parse_qs(urlsplit(start(staff_client, connection).url).query)["state"][0]
    with responses.RequestsMock() as mock:
        mock.post(
            f"{LOGIN}/oauth/token",
            status=401,
            json={"error": "invalid_grant", "error_description": "The code is invalid"},
        )
        response = staff_client.get(
            "/procore/callback/", {"code": "old", "state": state}, follow=True
        )
    assert b"Use Connect again" in response.content
    assert Connection.objects.get(pk=connection.pk).procore_access_token == ""


def test_the_connection_page_has_the_connect_button(staff_client, connection):
    # Offered where a person signs in; a service account's page says why it has none
    # (test_console_connections).
    connection.procore_auth_mode = ProcoreAuthMode.AUTHORIZATION_CODE
    connection.save()
    page = staff_client.get(f"/admin/linx/connection/{connection.pk}/change/").content.decode()
    assert f'action="/procore/connect/{connection.pk}/"' in page
    assert "Connect to Procore" in page
