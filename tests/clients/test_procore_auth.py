"""Signing in to Procore: the three grants, renewal before expiry, single-use refresh."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses.registries import OrderedRegistry

from integrations.http import HttpClient
from integrations.procore.auth import MemoryTokenStore, ProcoreAuth, Token
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    REFRESH_REFUSED,
    ProcoreAuthError,
    ProcoreOutcomeUnknown,
    ProcoreUnavailable,
)

LOGIN = "https://login.procore.test"
API = "https://api.procore.test"
TOKEN_URL = f"{LOGIN}/oauth/token"
SECRET = "client-secret-VALUE-123"


def now_of(clock) -> datetime:
    return datetime.fromtimestamp(clock.now, tz=UTC)


def token_answer(access="access-NEW-1", refresh: str | None = "refresh-NEW-1", expires_in=5400):
    body = {"access_token": access, "token_type": "bearer", "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    return body


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


@pytest.fixture
def http(clock, rng) -> HttpClient:
    return HttpClient(
        "Procore",
        sleep=clock.sleep,
        clock=clock,
        rng=rng,
        unavailable=ProcoreUnavailable,
        outcome_unknown=ProcoreOutcomeUnknown,
    )


@pytest.fixture
def auth(http) -> ProcoreAuth:
    return ProcoreAuth(LOGIN, "client-id", SECRET, http=http, mode="authorization_code")


# Token -------------------------------------------------------------------------------


def test_a_token_never_shows_its_secrets():
    token = Token("access-SECRET", datetime(2030, 1, 1, tzinfo=UTC), "refresh-SECRET")
    assert "SECRET" not in repr(token) and "SECRET" not in str(token)
    assert repr(token) == (
        "Token(access_token='[redacted]', expires_at='2030-01-01T00:00:00+00:00', "
        "refresh_token='[redacted]')"
    )


def test_a_token_expires_soon_within_five_minutes_of_its_expiry():
    token = Token("a", datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    assert not token.expires_soon(datetime(2030, 1, 1, 11, 54, tzinfo=UTC))
    assert token.expires_soon(datetime(2030, 1, 1, 11, 56, tzinfo=UTC))
    assert token.expires_soon(datetime(2030, 1, 1, 13, 0, tzinfo=UTC))
    assert not token.expires_soon(datetime(2030, 1, 1, 11, 59, tzinfo=UTC), timedelta(0))


def test_a_token_round_trips_through_its_stored_form():
    token = Token("a", datetime(2030, 1, 1, tzinfo=UTC), None)
    assert Token.from_dict(token.as_dict()) == token


# The Connect button ------------------------------------------------------------------


def test_the_authorize_url_carries_client_redirect_and_state(auth):
    url = auth.authorize_url("https://linx.test/procore/callback?x=1", "state-abc")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{LOGIN}/oauth/authorize"
    assert parse_qs(parts.query) == {
        "response_type": ["code"],
        "client_id": ["client-id"],
        "redirect_uri": ["https://linx.test/procore/callback?x=1"],
        "state": ["state-abc"],
    }
    assert SECRET not in url


def test_state_is_unguessable_and_checked_exactly():
    first, second = ProcoreAuth.new_state(), ProcoreAuth.new_state()
    assert first != second and len(first) >= 32
    assert ProcoreAuth.state_matches(first, first)
    assert not ProcoreAuth.state_matches(first, second)
    assert not ProcoreAuth.state_matches(first, None)
    assert not ProcoreAuth.state_matches(None, None)


@responses.activate
def test_the_code_is_exchanged_for_a_token_pair(auth, clock):
    responses.post(TOKEN_URL, json=token_answer())
    token = auth.exchange_code("code-XYZ-789", "https://linx.test/cb")
    assert token == Token("access-NEW-1", now_of(clock) + timedelta(seconds=5400), "refresh-NEW-1")
    assert form(responses.calls[0]) == {
        "grant_type": "authorization_code",
        "code": "code-XYZ-789",
        "redirect_uri": "https://linx.test/cb",
        "client_id": "client-id",
        "client_secret": SECRET,
    }


@responses.activate
def test_a_refused_code_says_connect_again(auth):
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant"})
    with pytest.raises(ProcoreAuthError, match="Use Connect again"):
        auth.exchange_code("code-OLD-0001", "https://linx.test/cb")


# Grants ------------------------------------------------------------------------------


@responses.activate
def test_client_credentials_get_a_token_without_refresh_token(http, clock):
    auth = ProcoreAuth(LOGIN, "client-id", SECRET, http=http)
    responses.post(TOKEN_URL, json=token_answer(refresh=None))
    token = auth.client_credentials()
    assert token.refresh_token is None
    assert form(responses.calls[0])["grant_type"] == "client_credentials"
    assert responses.calls[0].request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@responses.activate
def test_refresh_spends_the_refresh_token(auth):
    responses.post(TOKEN_URL, json=token_answer("access-2", "refresh-2"))
    token = auth.refresh(Token("access-1", datetime(2030, 1, 1, tzinfo=UTC), "refresh-1"))
    assert (token.access_token, token.refresh_token) == ("access-2", "refresh-2")
    assert form(responses.calls[0])["refresh_token"] == "refresh-1"
    assert form(responses.calls[0])["grant_type"] == "refresh_token"


@pytest.mark.parametrize("status", [400, 401])
@responses.activate
def test_a_refused_refresh_says_reconnect(auth, status):
    responses.post(TOKEN_URL, status=status, json={"error": "The refresh token is invalid"})
    with pytest.raises(ProcoreAuthError) as caught:
        auth.refresh(Token("access-1", datetime(2030, 1, 1, tzinfo=UTC), "refresh-USED-1"))
    assert caught.value.message == REFRESH_REFUSED
    assert "Reconnect to Procore" in caught.value.message
    assert caught.value.permanent is True


@responses.activate(registry=OrderedRegistry)
def test_a_refresh_whose_answer_was_lost_is_retried_since_a_replay_is_only_refused(auth):
    responses.post(TOKEN_URL, body=requests.ReadTimeout("read timed out"))
    responses.post(TOKEN_URL, json=token_answer())
    token = auth.refresh(Token("a", datetime(2030, 1, 1, tzinfo=UTC), "refresh-1"))
    assert token.access_token == "access-NEW-1"


def test_authorization_code_mode_without_a_token_asks_to_connect(auth):
    with pytest.raises(ProcoreAuthError, match="not connected to Procore yet"):
        auth.obtain(None)


# Renewal -----------------------------------------------------------------------------


@responses.activate
def test_a_token_is_renewed_shortly_before_it_expires(auth, clock):
    store = MemoryTokenStore(Token("access-OLD", now_of(clock) + timedelta(minutes=3), "refresh-1"))
    responses.post(TOKEN_URL, json=token_answer())
    assert auth.valid_token(store, now_of(clock)).access_token == "access-NEW-1"
    assert store.current().access_token == "access-NEW-1"
    assert len(responses.calls) == 1


@responses.activate
def test_a_token_far_from_expiry_is_used_as_is(auth, clock):
    fresh = Token("access-OK", now_of(clock) + timedelta(minutes=30), "refresh-1")
    store = MemoryTokenStore(fresh)
    assert auth.valid_token(store, now_of(clock)) is fresh
    assert len(responses.calls) == 0


@responses.activate
def test_client_credentials_ask_again_when_the_token_expires(http, clock):
    auth = ProcoreAuth(LOGIN, "client-id", SECRET, http=http)
    store = MemoryTokenStore(Token("access-OLD", now_of(clock) - timedelta(seconds=1)))
    responses.post(TOKEN_URL, json=token_answer(refresh=None))
    assert auth.valid_token(store, now_of(clock)).access_token == "access-NEW-1"
    assert form(responses.calls[0])["grant_type"] == "client_credentials"


def test_the_store_hands_back_a_token_renewed_meanwhile_without_obtaining():
    stale = Token("a-1", datetime(2030, 1, 1, tzinfo=UTC), "r-1")
    renewed = Token("a-2", datetime(2030, 1, 1, 2, tzinfo=UTC), "r-2")
    store = MemoryTokenStore(renewed)
    assert store.replace(stale, lambda stored: pytest.fail("must not obtain")) is renewed
    assert store.replace(renewed, lambda stored: stale) is stale
    assert MemoryTokenStore().replace(None, lambda stored: stale) is stale


class RacingStore(MemoryTokenStore):
    """Both callers read the stale token before either replaces it."""

    def __init__(self, token: Token) -> None:
        super().__init__(token)
        self.both_read = threading.Barrier(2, timeout=5)
        self.reads = 0

    def current(self) -> Token | None:
        token = super().current()
        self.reads += 1
        if self.reads <= 2:
            self.both_read.wait()
        return token


def test_two_concurrent_callers_send_exactly_one_refresh(clock):
    stale = Token("access-OLD", now_of(clock) - timedelta(minutes=1), "refresh-ONCE")
    store = RacingStore(stale)
    results: list[object] = []

    def one_process() -> None:
        client = ProcoreClient(
            API, LOGIN, "client-id", SECRET, 42, store, "authorization_code", clock=clock
        )
        try:
            results.append(list(client.companies()))
        except Exception as error:  # reported by the assertion below
            results.append(error)

    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json=token_answer("access-NEW", "refresh-NEW"))
        mock.get(f"{API}/rest/v1.0/companies", json=[{"id": 42, "name": "Acme"}])
        threads = [threading.Thread(target=one_process) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        refreshes = [c for c in mock.calls if c.request.url == TOKEN_URL]
        api_calls = [c for c in mock.calls if c.request.url.startswith(API)]

    assert len(refreshes) == 1
    assert form(refreshes[0])["refresh_token"] == "refresh-ONCE"
    assert [len(r) for r in results] == [1, 1], results
    assert {c.request.headers["Authorization"] for c in api_calls} == {"Bearer access-NEW"}
    assert store.current().refresh_token == "refresh-NEW"
