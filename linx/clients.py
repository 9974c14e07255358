"""The Procore and ExakTime clients for a Connection, and where its Procore token lives.

Procore refresh tokens are single-use, so a token is renewed inside a database
transaction that locks the connection's row (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite the IMMEDIATE transaction holds the database's write lock). Of two processes on
two hosts that both find the token stale, the second waits, re-reads, sees the first
one's new token and uses it instead of spending the refresh token again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from django.conf import settings
from django.db import transaction

from integrations.addresses import guarded_session
from integrations.exaktime.client import ExakTimeClient
from integrations.http import RetryPolicy
from integrations.procore.auth import Token
from integrations.procore.client import ProcoreClient
from linx.models import Connection
from linx.service_urls import address_policy


class ConnectionTokenStore:
    """A `TokenStore` (see integrations.procore.auth) backed by one Connection row."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def __repr__(self) -> str:
        return f"ConnectionTokenStore(connection_id={self.connection_id})"

    @staticmethod
    def _token_of(connection: Connection) -> Token | None:
        if not connection.procore_access_token or connection.procore_token_expires_at is None:
            return None
        return Token(
            access_token=connection.procore_access_token,
            expires_at=connection.procore_token_expires_at,
            refresh_token=connection.procore_refresh_token or None,
        )

    def current(self) -> Token | None:
        return self._token_of(Connection.objects.get(pk=self.connection_id))

    def replace(self, stale: Token | None, obtain: Callable[[Token | None], Token]) -> Token:
        with transaction.atomic():
            row = Connection.objects.select_for_update().get(pk=self.connection_id)
            stored = self._token_of(row)
            if stored is not None and stored != stale:
                return stored  # another process renewed it meanwhile
            token = obtain(stored)
            row.procore_access_token = token.access_token
            row.procore_refresh_token = token.refresh_token or ""
            row.procore_token_expires_at = token.expires_at
            row.save(
                update_fields=[
                    "procore_access_token",
                    "procore_refresh_token",
                    "procore_token_expires_at",
                ]
            )
            return token


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
