"""Signing in to Procore: OAuth grants, tokens, and the store that keeps refresh single-use.

Procore's refresh tokens work once: a refresh that was sent has spent the old token even
if its answer is lost. So every new token is obtained through `TokenStore.replace`,
which lets exactly one caller (per connection, across processes for a database-backed
store) obtain and persist a token while the others pick up the result.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from urllib.parse import urlencode

from integrations.http import HttpClient
from integrations.procore.errors import (
    REFRESH_REFUSED,
    ProcoreAuthError,
    ProcoreUnavailable,
    error_from_response,
)
from integrations.redaction import REDACTED
from integrations.values import Reader

AuthMode = Literal["client_credentials", "authorization_code"]
AUTH_MODES: tuple[str, ...] = ("client_credentials", "authorization_code")
#: Renew this long before expiry so a call never starts with a dying token.
REFRESH_MARGIN = timedelta(minutes=5)
#: Procore's documented lifetime, used when a token response leaves it out.
DEFAULT_LIFETIME = timedelta(seconds=5400)


@dataclass(frozen=True)
class Token:
    """An access token, its expiry (aware UTC) and the refresh token that came with it."""

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        refresh = None if self.refresh_token is None else REDACTED
        return (
            f"Token(access_token={REDACTED!r}, expires_at={self.expires_at.isoformat()!r}, "
            f"refresh_token={refresh!r})"
        )

    def expires_soon(self, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
        """True when the token is expired or will be within `margin`."""
        return now + margin >= self.expires_at

    @classmethod
    def from_response(cls, data: Mapping[str, Any], now: datetime) -> Token:
        """A token from Procore's token endpoint answer, received at `now`."""
        access = data.get("access_token")
        if not access or not isinstance(access, str):
            raise ProcoreAuthError("Procore's token answer has no access token.")
        seconds = Reader(data, "Procore").number("expires_in")
        lifetime = DEFAULT_LIFETIME if seconds is None else timedelta(seconds=seconds)
        # Our clock, not created_at: expiry is checked against our clock.
        refresh = data.get("refresh_token") or None
        return cls(access_token=access, expires_at=now + lifetime, refresh_token=refresh)

    def as_dict(self) -> dict[str, str | None]:
        """A plain form for storage (encrypt it: it holds secrets)."""
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at.isoformat(),
            "refresh_token": self.refresh_token,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """The inverse of `as_dict`."""
        expires_at = Reader(data, "the stored token").moment("expires_at")
        if expires_at is None:
            raise ValueError("stored token has no readable expires_at")
        return cls(
            access_token=str(data["access_token"]),
            expires_at=expires_at,
            refresh_token=data.get("refresh_token") or None,
        )


class TokenStore(Protocol):
    """Where one connection's token lives. Implementations must make `replace` atomic."""

    def current(self) -> Token | None:
        """The stored token, or None before the first sign-in."""
        ...

    def replace(self, stale: Token | None, obtain: Callable[[Token | None], Token]) -> Token:
        """Re-read the stored token; if it differs from `stale` (another process
        refreshed meanwhile) return the stored one WITHOUT calling `obtain`; otherwise
        call `obtain(stored)`, persist its result and return it, letting no other caller
        of the same store call `obtain` in between (a lock or a lease; a database-backed
        store must not hold a transaction open across `obtain`, which goes to the network)."""
        ...


class MemoryTokenStore:
    """A `TokenStore` in memory, for tests and one-process tools."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenStore({self._token!r})"

    def current(self) -> Token | None:
        with self._lock:
            return self._token

    def replace(self, stale: Token | None, obtain: Callable[[Token | None], Token]) -> Token:
        with self._lock:
            stored = self._token
            if stored is not None and stored != stale:
                return stored
            token = obtain(stored)
            self._token = token
            return token


class ProcoreAuth:
    """Procore's OAuth endpoints on the login host, and the renewal rules built on them."""

    def __init__(
        self,
        login_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: HttpClient,
        mode: AuthMode = "client_credentials",
    ) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"auth mode must be one of {AUTH_MODES}, not {mode!r}")
        self.login_url = login_url.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.mode = mode
        self._http = http
        http.add_secret(client_secret)

    def __repr__(self) -> str:
        return f"ProcoreAuth(login_url={self.login_url!r}, mode={self.mode!r})"

    # The Connect button -------------------------------------------------------------

    @staticmethod
    def new_state() -> str:
        """An unguessable `state` for one authorization round trip."""
        return secrets.token_urlsafe(32)

    @staticmethod
    def state_matches(expected: str | None, received: str | None) -> bool:
        """Whether the `state` Procore sent back is ours (constant-time compare)."""
        if not expected or not received:
            return False
        return hmac.compare_digest(expected.encode(), received.encode())

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the browser so a person can grant Linx access."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self.login_url}/oauth/authorize?{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> Token:
        """Trade the code from the authorize redirect for a token pair.

        Persist it with `store.replace(store.current(), lambda _: token)`.
        """
        try:
            return self._grant(
                {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
            )
        except ProcoreAuthError as exc:
            raise ProcoreAuthError(
                "Procore refused the sign-in code (it expired or was already used). "
                f"Use Connect again. ({exc.message})",
                status=exc.status,
            ) from exc

    # Grants -------------------------------------------------------------------------

    def client_credentials(self) -> Token:
        """A fresh access token for the app's service account (no refresh token)."""
        return self._grant({"grant_type": "client_credentials"})

    def refresh(self, token: Token) -> Token:
        """Spend `token`'s refresh token on a new pair. Call it only inside `replace`."""
        if not token.refresh_token:
            raise ProcoreAuthError(
                "Linx holds no Procore refresh token for this connection. "
                "Reconnect to Procore from the connection's page."
            )
        try:
            return self._grant(
                {"grant_type": "refresh_token", "refresh_token": token.refresh_token}
            )
        except ProcoreAuthError as exc:
            raise ProcoreAuthError(REFRESH_REFUSED, status=exc.status) from exc

    def obtain(self, stored: Token | None) -> Token:
        """A new token for this connection's mode, given the one stored now."""
        if self.mode == "client_credentials":
            return self.client_credentials()
        if stored is None:
            raise ProcoreAuthError(
                "Linx is not connected to Procore yet. Use Connect on the connection's page."
            )
        return self.refresh(stored)

    # Renewal ------------------------------------------------------------------------

    def valid_token(self, store: TokenStore, now: datetime) -> Token:
        """The stored token, renewed first when it is missing or expires soon."""
        token = store.current()
        if token is not None and not token.expires_soon(now):
            self._http.add_secret(token.access_token)
            return token
        return self.renew(store, token)

    def renew(self, store: TokenStore, stale: Token | None) -> Token:
        """Replace `stale` (e.g. after a 401) unless another caller already has."""
        token = store.replace(stale, self.obtain)
        self._http.add_secret(token.access_token)
        self._http.add_secret(token.refresh_token)
        return token

    def _grant(self, fields: dict[str, str]) -> Token:
        url = f"{self.login_url}/oauth/token"
        data = {**fields, "client_id": self.client_id, "client_secret": self._client_secret}
        for key in ("code", "refresh_token"):
            self._http.add_secret(fields.get(key))
        # A replayed grant is refused, never doubled, so repeating one is safe.
        response = self._http.request("POST", url, data=data, idempotent=True)
        now = self._http.clock()
        if response.status_code >= 300:
            error = error_from_response(response, now, secrets=self._http.secrets)
            if response.status_code in (400, 401):
                raise ProcoreAuthError(error.message, status=response.status_code)
            raise error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping):
            raise ProcoreUnavailable(
                "Procore's token endpoint answered with something that is not a JSON object."
            )
        token = Token.from_response(body, datetime.fromtimestamp(now, tz=UTC))
        self._http.add_secret(token.access_token)
        self._http.add_secret(token.refresh_token)
        return token
