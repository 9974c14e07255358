"""A connection's Procore token lives encrypted on its row and is renewed by one caller."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses
from django.db import connection as db_connection
from django.db.models.functions import Now

from integrations.procore.auth import Token
from integrations.procore.errors import ProcoreAuthError
from linx.clients import TOKEN_LEASE, ConnectionTokenStore, procore_client
from linx.models import Connection, ProcoreAuthMode, RunKind, RunStatus, RunTrigger
from linx.sync.execute import execute
from linx.sync.runs import create_run

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


def _lease(connection_id: int) -> tuple[str, datetime | None]:
    row = Connection.objects.get(pk=connection_id)
    return row.procore_token_lease_owner, row.procore_token_lease_until


def test_the_renewer_holds_a_lease_only_while_it_asks_procore(code_connection):
    store = ConnectionTokenStore(code_connection.pk)
    fresh = Token("new-access", datetime.now(UTC) + timedelta(hours=1), "new-refresh")
    seen = []

    def obtain(stored):
        seen.append(_lease(code_connection.pk))
        # Held: another caller may not claim it meanwhile.
        assert Connection.objects.filter(procore_token_lease_until__lt=Now()).count() == 0
        return fresh

    store.replace(store.current(), obtain)
    ((owner, until),) = seen
    assert owner  # this process's claim
    left = until - datetime.now(UTC)
    # Set from the database's clock, TOKEN_LEASE ahead (a little skew allowed).
    assert TOKEN_LEASE - timedelta(minutes=1) < left <= TOKEN_LEASE + timedelta(seconds=5)
    assert _lease(code_connection.pk) == ("", None)  # released with the new token saved


def test_a_lease_left_by_a_dead_renewer_expires_and_the_next_caller_renews(code_connection):
    Connection.objects.filter(pk=code_connection.pk).update(
        procore_token_lease_owner="dead-host:4242:gone",
        procore_token_lease_until=datetime.now(UTC) - timedelta(seconds=1),
    )
    store = ConnectionTokenStore(code_connection.pk)
    fresh = Token("new-access", datetime.now(UTC) + timedelta(hours=1), "new-refresh")
    calls = []

    def obtain(stored):
        calls.append(stored)
        return fresh

    assert store.replace(store.current(), obtain) == fresh
    assert [t.refresh_token for t in calls] == ["old-refresh"]
    assert _lease(code_connection.pk) == ("", None)


def test_a_failed_renewal_releases_the_lease_at_once(code_connection):
    store = ConnectionTokenStore(code_connection.pk)

    def refused(stored):
        raise ProcoreAuthError("Procore refused the refresh token.")

    with pytest.raises(ProcoreAuthError):
        store.replace(store.current(), refused)
    assert _lease(code_connection.pk) == ("", None)
    # The next caller renews without waiting for a lease to run out.
    fresh = Token("new-access", datetime.now(UTC) + timedelta(hours=1), "new-refresh")
    started = time.monotonic()
    assert store.replace(store.current(), lambda stored: fresh) == fresh
    assert time.monotonic() - started < 2


class _HangingTokenEndpoint(BaseHTTPRequestHandler):
    """A login host whose token endpoint answers only when the test releases it."""

    arrived = threading.Event()
    release = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        type(self).arrived.set()
        type(self).release.wait(60)
        body = json.dumps({"access_token": "late", "expires_in": 5400}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_hanging_token_endpoint_holds_up_no_other_connections_run(
    transactional_db, sandbox_connection
):
    """No transaction is held across a network call: one connection's login host hanging
    (a typo, an outage) must not make another connection's run wait to write its rows."""
    _HangingTokenEndpoint.arrived.clear()
    _HangingTokenEndpoint.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HangingTokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stuck = Connection.objects.create(
        name="stuck",
        procore_login_url=f"http://127.0.0.1:{server.server_port}",
        procore_api_url=f"http://127.0.0.1:{server.server_port}",
        procore_client_id="cid",
        procore_client_secret="csecret",
        procore_company_id=1,
        exaktime_api_url=sandbox_connection.exaktime_api_url,
        exaktime_api_key="key",
    )
    signed_in = []

    def sign_in():
        try:
            client = procore_client(Connection.objects.get(pk=stuck.pk))
            signed_in.append(client.auth.valid_token(client.token_store, datetime.now(UTC)))
        finally:
            db_connection.close()

    signing_in = threading.Thread(target=sign_in)
    signing_in.start()
    try:
        assert _HangingTokenEndpoint.arrived.wait(10), "the token request never arrived"
        began = time.monotonic()
        run = execute(create_run(sandbox_connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
        took = time.monotonic() - began
    finally:
        _HangingTokenEndpoint.release.set()
        signing_in.join(30)
        server.shutdown()
        server.server_close()
    assert run.status == RunStatus.SUCCEEDED, run.message
    assert run.rows.exists()
    assert took < 10, f"the other connection's run waited {took:.1f} s"
    # The hanging sign-in still completes, and its token is kept.
    assert [t.access_token for t in signed_in] == ["late"]
    assert Connection.objects.get(pk=stuck.pk).procore_access_token == "late"
