"""The Procore and ExakTime clients for a Connection, and where its Procore token lives.

Procore refresh tokens are single-use, so one caller at a time renews a connection's
token. It does so under a lease on the connection's row (``procore_token_lease_owner``
and ``_until``), claimed by one compare-and-set UPDATE against the database's clock and
released when the new token is saved. No transaction is open while Procore is asked: a
slow or unreachable login host holds up only callers that need this connection's token,
never another connection's writes. Of two processes that both find the token stale, the
second finds the lease held, waits, and reads the first one's new token instead of
spending the refresh token again. A lease whose holder died expires on its own.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now

from integrations.addresses import guarded_session
from integrations.exaktime.client import ExakTimeClient
from integrations.http import RetryPolicy
from integrations.procore.auth import Token
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import ProcoreUnavailable
from linx.models import Connection
from linx.service_urls import address_policy

#: How long a renewer may take before another caller may renew in its place. Longer than
#: any token request with its retries, so a live renewer never loses it (a second refresh
#: with the same token would be refused); it only runs out when its holder died.
TOKEN_LEASE = timedelta(minutes=5)
#: How often a caller waiting for another's renewal looks again.
LEASE_POLL_SECONDS = 0.2


class ConnectionTokenStore:
    """A `TokenStore` (see integrations.procore.auth) backed by one Connection row."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def __repr__(self) -> str:
        return f"ConnectionTokenStore(connection_id={self.connection_id})"

    def current(self) -> Token | None:
        # Read before every Procore call (another process may have renewed it): only
        # the token's own columns, not the whole connection and every secret on it.
        access, expires_at, refresh = (
            Connection.objects.filter(pk=self.connection_id)
            .values_list(
                "procore_access_token", "procore_token_expires_at", "procore_refresh_token"
            )
            .get()
        )
        if not access or expires_at is None:
            return None
        return Token(access_token=access, expires_at=expires_at, refresh_token=refresh or None)

    def replace(self, stale: Token | None, obtain: Callable[[Token | None], Token]) -> Token:
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"[-100:]
        renewed = self._claim_lease(stale, owner)
        if renewed is not None:
            return renewed  # another caller renewed it while this one waited
        try:
            stored = self.current()  # again: a renewal may have been saved just before the claim
            if stored is not None and stored != stale:
                return stored
            token = obtain(stored)  # the network call: no transaction, no lock is open
            Connection.objects.filter(pk=self.connection_id).update(
                procore_access_token=token.access_token,
                procore_refresh_token=token.refresh_token or "",
                procore_token_expires_at=token.expires_at,
            )
            return token
        finally:
            Connection.objects.filter(
                pk=self.connection_id, procore_token_lease_owner=owner
            ).update(procore_token_lease_owner="", procore_token_lease_until=None)

    def _claim_lease(self, stale: Token | None, owner: str) -> Token | None:
        """Claim the renewal lease (None), or return the token another caller renewed.

        While another caller holds the lease, wait for its token; when the lease runs out
        without one (its holder died, or gave up), claim it here.
        """
        free = Q(procore_token_lease_until__isnull=True) | Q(procore_token_lease_until__lt=Now())
        give_up = time.monotonic() + TOKEN_LEASE.total_seconds() + 30
        while True:
            stored = self.current()
            if stored is not None and stored != stale:
                return stored
            claimed = Connection.objects.filter(free, pk=self.connection_id).update(
                procore_token_lease_owner=owner, procore_token_lease_until=Now() + TOKEN_LEASE
            )
            if claimed:
                return None
            if time.monotonic() > give_up:
                raise ProcoreUnavailable(
                    "Another Linx process has been renewing this connection's Procore sign-in "
                    f"for over {TOKEN_LEASE}; try again later."
                )
            time.sleep(LEASE_POLL_SECONDS)


def retry_policy() -> RetryPolicy:
    """The clients' retry policy: the library's defaults, adjusted by LINX_HTTP_RETRY."""
    return replace(RetryPolicy(), **settings.LINX_HTTP_RETRY)


def procore_client(connection: Connection, **options) -> ProcoreClient:
    """A Procore client for ``connection``, its token kept on the connection's row."""
    options.setdefault("retry", retry_policy())
    options.setdefault("session", guarded_session(address_policy()))
    return ProcoreClient(
        api_url=connection.procore_api_url,
        login_url=connection.procore_login_url,
        client_id=connection.procore_client_id,
        client_secret=connection.procore_client_secret,
        company_id=connection.procore_company_id,
        token_store=ConnectionTokenStore(connection.pk),
        auth_mode=connection.procore_auth_mode,
        **options,
    )


def exaktime_client(connection: Connection, **options) -> ExakTimeClient:
    """An ExakTime client for ``connection``."""
    options.setdefault("retry", retry_policy())
    options.setdefault("session", guarded_session(address_policy()))
    return ExakTimeClient(
        api_url=connection.exaktime_api_url, api_key=connection.exaktime_api_key, **options
    )
