"""Procore sign-in against the sandbox: tokens that die mid-run, refresh tokens that work once.

A 401 earns one renewal and one retry; the list carries on where it was. A refresh token
already spent (by another process, or a refresh whose answer was lost) is reported as
"reconnect to Procore", and nothing is sent again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from integrations.procore.auth import MemoryTokenStore
from integrations.procore.errors import ProcoreAuthError
from integrations.procore.sandbox import data as procore_data
from linx import clients
from linx.models import Connection
from tests.against_sandboxes.conftest import calls, procore_client, statuses

CID = procore_data.COMPANY_ID
USERS = f"/rest/v1.3/companies/{CID}/users"
REDIRECT = "http://127.0.0.1:9/procore/callback"


def active_workers(sandbox) -> list[int]:
    return [u["id"] for u in sandbox.records("user", scope=CID, is_active=True)]


def sign_in_code(sandbox) -> str:
    """What Procore's authorize step hands the browser back (the sandbox approves at once)."""
    answer = requests.get(
        f"{sandbox.url}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": procore_data.CLIENT_ID,
            "redirect_uri": REDIRECT,
            "state": "s1",
        },
        allow_redirects=False,
        timeout=5,
    )
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def refresh(sandbox, refresh_token: str) -> requests.Response:
    """Spend a refresh token the way another process would."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": procore_data.CLIENT_ID,
        "client_secret": procore_data.CLIENT_SECRET,
    }
    return requests.post(f"{sandbox.url}/oauth/token", data=form, timeout=5)


def read_with_tokens_expiring_after_two_pages(sandbox, client) -> list[int]:
    workers = client.workers()
    read = [next(workers).id for _ in range(8)]  # two pages of four
    sandbox.faults.set("expire_tokens")
    return read + [w.id for w in workers]


def test_tokens_expiring_mid_list_cost_one_new_token_and_the_list_carries_on(
    procore_sandbox, waits
):
    procore_sandbox.max_per_page = 4
    store = MemoryTokenStore()
    with procore_client(procore_sandbox, waits, store=store) as client:
        first = client.auth.valid_token(store, datetime.now(UTC))
        read = read_with_tokens_expiring_after_two_pages(procore_sandbox, client)

    assert read == active_workers(procore_sandbox)
    assert statuses(procore_sandbox, "POST", "/oauth/token") == [200, 200]
    assert statuses(procore_sandbox, "GET", USERS) == [200, 200, 401, 200, 200, 200, 200]
    pages = [e["query"]["page"] for e in calls(procore_sandbox, "GET", USERS)]
    assert pages == [["1"], ["2"], ["3"], ["3"], ["4"], ["5"], ["6"]], "page 3 once more"
    assert store.current() != first and store.current().refresh_token is None


def test_a_connection_with_a_refresh_token_renews_it_mid_list_and_keeps_the_new_pair(
    procore_sandbox, sandbox_connection, waits
):
    procore_sandbox.max_per_page = 4
    Connection.objects.filter(pk=sandbox_connection.pk).update(
        procore_auth_mode="authorization_code"
    )
    connection = Connection.objects.get(pk=sandbox_connection.pk)
    with clients.procore_client(connection, sleep=waits) as client:
        token = client.auth.exchange_code(sign_in_code(procore_sandbox), REDIRECT)
        client.token_store.replace(None, lambda _: token)
        read = read_with_tokens_expiring_after_two_pages(procore_sandbox, client)

    assert read == active_workers(procore_sandbox)
    row = Connection.objects.get(pk=connection.pk)
    assert row.procore_refresh_token and row.procore_refresh_token != token.refresh_token
    assert row.procore_access_token != token.access_token
    # The code, then one refresh; the spent refresh token is dead in the sandbox.
    assert statuses(procore_sandbox, "POST", "/oauth/token") == [200, 200]
    spent = refresh(procore_sandbox, token.refresh_token)
    assert spent.status_code == 400


def test_a_refresh_token_already_used_says_reconnect_to_procore(
    procore_sandbox, sandbox_connection, waits
):
    Connection.objects.filter(pk=sandbox_connection.pk).update(
        procore_auth_mode="authorization_code"
    )
    connection = Connection.objects.get(pk=sandbox_connection.pk)
    with clients.procore_client(connection, sleep=waits) as client:
        token = client.auth.exchange_code(sign_in_code(procore_sandbox), REDIRECT)
        client.token_store.replace(None, lambda _: token)
        # Another host spends the refresh token (or a refresh's answer was lost) ...
        elsewhere = refresh(procore_sandbox, token.refresh_token)
        assert elsewhere.ok
        procore_sandbox.faults.set("expire_tokens")
        # ... so this connection's access token dies and its refresh token is spent.
        with pytest.raises(ProcoreAuthError) as caught:
            list(client.workers())

    message = str(caught.value)
    assert "refresh token was already used or revoked" in message
    assert message.endswith("Reconnect to Procore from the connection's page.")
    assert token.refresh_token not in repr(caught.value)
    assert statuses(procore_sandbox, "POST", "/oauth/token") == [200, 200, 400]
    assert statuses(procore_sandbox, "GET", USERS) == [401], "one try, no loop"
    row = Connection.objects.get(pk=connection.pk)
    assert row.procore_refresh_token == token.refresh_token, "nothing half-saved"
    assert waits.seconds == []


def test_a_wrong_client_secret_says_to_check_it(procore_sandbox, sandbox_connection, waits):
    sandbox_connection.procore_client_secret = "not-the-sandbox-secret"
    sandbox_connection.save()

    client = clients.procore_client(sandbox_connection, sleep=waits)
    with client, pytest.raises(ProcoreAuthError) as caught:
        list(client.workers())

    assert "Check the Procore client ID and secret on the connection." in str(caught.value)
    assert "not-the-sandbox-secret" not in repr(caught.value)
    assert statuses(procore_sandbox) == [401]
    assert Connection.objects.get(pk=sandbox_connection.pk).procore_access_token == ""
