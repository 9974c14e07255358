"""A bulk create written now and answered later on the run's thread: the same one request
as sent in full, the token read once a second, and a call that needs a new token made
again once it is renewed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import responses
from responses.registries import OrderedRegistry

from integrations.procore import MemoryTokenStore, ProcoreClient, ProcoreValidationError, Token
from linx.sync.send_ahead import SendAhead

LOGIN = "https://login.procore.test"
API = "https://api.procore.test"
CID = 4_294_967_303
BULK = f"{API}/rest/v1.0/companies/{CID}/timesheets"
RENEWED = {"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 5400}


def entry(n: int) -> dict:
    return {"project_id": 7, "party_id": 5, "date": "2026-03-02", "hours": "8",
            "origin_id": f"{n}-regular"}  # fmt: skip


def client_with(token: Token, clock, rng, api: str = API) -> tuple[ProcoreClient, MemoryTokenStore]:
    store = MemoryTokenStore(token)
    client = ProcoreClient(api, LOGIN, "client-id", "client-secret-VALUE", CID, store,
                           "authorization_code", sleep=clock.sleep, clock=clock, rng=rng)  # fmt: skip
    return client, store


def token(clock, hours: float) -> Token:
    expires = datetime.fromtimestamp(clock.now, tz=UTC) + timedelta(hours=hours)
    return Token("access-1", expires, "refresh-1")


def created(request):
    created.threads.append(threading.current_thread().name)
    return (
        201,
        {},
        '[{"id": 1000, "origin_id": "0-regular"}, {"id": 1001, "origin_id": "1-regular"}]',
    )


def test_a_create_reaches_procore_before_its_answer_is_asked_for(clock, rng, server):
    server.answers = [(200, {}), (201, {})]
    server.bodies = {"/rest": [{"id": 1000}, {"id": 1001}]}
    client, _ = client_with(token(clock, 1), clock, rng, api=server.url)
    client.http.request("GET", f"{server.url}/open")  # a connection is open
    server.arrived.clear()
    ahead = SendAhead(client)

    sent = ahead.send([entry(0), entry(1)])

    assert server.arrived.wait(5)  # Procore has it, and nobody is waiting on it yet
    assert ahead.answer(sent) == [1000, 1001]
    posts = [path for method, path, _ in server.seen if method == "POST"]
    assert posts == [f"/rest/v1.0/companies/{CID}/timesheets"]
    ahead.close()


@responses.activate(registry=OrderedRegistry)
def test_a_401_off_the_runs_thread_is_renewed_and_sent_again_on_it_once(clock, rng):
    client, store = client_with(token(clock, 1), clock, rng)
    created.threads = []
    responses.post(BULK, status=401, json={"message": "The access token is invalid"})
    responses.post(f"{LOGIN}/oauth/token", json=RENEWED)
    responses.add_callback(responses.POST, BULK, callback=created)
    ahead = SendAhead(client)
    ids = ahead.answer(ahead.send([entry(0), entry(1)]))
    ahead.close()
    assert ids == [1000, 1001]
    assert [c.request.url for c in responses.calls] == [BULK, f"{LOGIN}/oauth/token", BULK]
    assert responses.calls[2].request.headers["Authorization"] == "Bearer access-2"
    assert store.current().refresh_token == "refresh-2"  # kept where the run keeps it
    assert created.threads == [threading.current_thread().name]


@responses.activate(registry=OrderedRegistry)
def test_a_token_about_to_expire_is_renewed_on_the_runs_thread_before_sending(clock, rng):
    client, store = client_with(token(clock, 0), clock, rng)
    created.threads = []
    responses.post(f"{LOGIN}/oauth/token", json=RENEWED)
    responses.add_callback(responses.POST, BULK, callback=created)
    ahead = SendAhead(client)
    ahead.answer(ahead.send([entry(0), entry(1)]))
    ahead.close()
    assert [c.request.url for c in responses.calls] == [f"{LOGIN}/oauth/token", BULK]
    assert store.current().access_token == "access-2"


@responses.activate
def test_creates_sent_within_a_second_share_one_reading_of_the_token(clock, rng, monkeypatch):
    client, store = client_with(token(clock, 1), clock, rng)
    created.threads = []
    responses.add_callback(responses.POST, BULK, callback=created)
    reads = []
    current = store.current
    monkeypatch.setattr(store, "current", lambda: reads.append(1) or current())
    now = [100.0]
    monkeypatch.setattr("linx.sync.read_ahead.time.monotonic", lambda: now[0])
    ahead = SendAhead(client)
    for _ in range(3):
        ahead.answer(ahead.send([entry(0), entry(1)]))
    assert len(reads) == 1  # the row is read (and its token decrypted) once
    renewed = current()  # renewed meanwhile, as by another process
    store.replace(renewed, lambda stale: Token("access-2", stale.expires_at, "refresh-2"))
    now[0] += 1.0
    ahead.answer(ahead.send([entry(0), entry(1)]))
    ahead.close()
    assert len(reads) == 2  # read again a second on: the renewed one
    sent_with = [c.request.headers["Authorization"] for c in responses.calls]
    assert sent_with == ["Bearer access-1"] * 3 + ["Bearer access-2"]


@responses.activate
def test_a_refused_create_sent_ahead_raises_its_refusal_on_the_runs_thread(clock, rng):
    client, _ = client_with(token(clock, 1), clock, rng)
    responses.post(BULK, status=422, json={"errors": [{"index": 1, "message": "Cost code is not set up"}]})  # fmt: skip
    ahead = SendAhead(client)
    future = ahead.send([entry(0), entry(1)])
    with pytest.raises(ProcoreValidationError) as caught:
        ahead.answer(future)
    ahead.close()
    assert caught.value.index_errors == {1: ("Cost code is not set up",)}
    assert len(responses.calls) == 1
