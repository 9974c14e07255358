"""A connection's Procore token lives encrypted on its row and is renewed by one caller."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import responses

from integrations.procore.auth import Token
from linx.clients import ConnectionTokenStore, procore_client
from linx.models import Connection, ProcoreAuthMode

LOGIN = "https://login-sandbox.procore.com"


@pytest.fixture
def code_connection(transactional_db) -> Connection:
    """A connection signed in through the Connect button, holding a stale token pair."""
    return Connection.objects.create(
        name="coded",
        procore_login_url=LOGIN,
        procore_api_url="https://sandbox.procore.com",
        procore_auth_mode=ProcoreAuthMode.AUTHORIZATION_CODE,
        procore_client_id="cid",
        procore_client_secret="csecret",
        procore_company_id=42,
        procore_access_token="old-access",
        procore_refresh_token="old-refresh",
        procore_token_expires_at=datetime.now(UTC) - timedelta(minutes=1),
    )


def test_the_token_pair_is_stored_encrypted_with_its_expiry(code_connection):
    store = ConnectionTokenStore(code_connection.pk)
    fresh = Token("new-access", datetime.now(UTC) + timedelta(hours=1), "new-refresh")
    assert store.replace(store.current(), lambda stored: fresh) == fresh
    row = Connection.objects.get(pk=code_connection.pk)
    assert (row.procore_access_token, row.procore_refresh_token) == ("new-access", "new-refresh")
    assert row.procore_token_expires_at == fresh.expires_at
    assert store.current() == fresh


def test_two_callers_with_a_stale_token_spend_the_refresh_token_once(code_connection):
    """Two workers find the token stale at once: exactly one refresh reaches Procore."""
    refreshes = []

    def token_endpoint(request):
        refreshes.append(request.body)
        time.sleep(0.3)  # the second caller arrives while the first refresh is in flight
        return (
            200,
            {},
            '{"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 5400}',
        )

    stale = ConnectionTokenStore(code_connection.pk).current()
    results, errors = [], []

    def worker():
        try:
            client = procore_client(Connection.objects.get(pk=code_connection.pk))
            results.append(client.auth.renew(client.token_store, stale))
        except Exception as error:
            errors.append(error)
        finally:
            from django.db import connection

            connection.close()

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, f"{LOGIN}/oauth/token", callback=token_endpoint)
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert errors == []
    assert len(refreshes) == 1
    assert "refresh_token=old-refresh" in refreshes[0]
    assert [t.access_token for t in results] == ["new-access", "new-access"]
