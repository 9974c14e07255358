"""A call written now and answered later on the same thread (`HttpClient.send_now`): it
reaches the server before its answer is asked for, on a connection already open, and its
answer is taken by every rule of a call; what cannot go that way is sent in full, and a
POST whose answer is lost is an unknown outcome, never sent twice."""

from __future__ import annotations

import pytest
import responses

from integrations.errors import OutcomeUnknown
from integrations.http import HttpClient


@pytest.fixture
def http(clock, rng) -> HttpClient:
    return HttpClient("Example", sleep=clock.sleep, clock=clock, rng=rng)


def opened(http: HttpClient, server) -> None:
    """One call in full, so the session holds a connection open; the log starts afresh."""
    assert http.request("GET", f"{server.url}/open").status_code == 200
    server.seen.clear()
    server.arrived.clear()


def test_a_get_sent_now_reaches_the_server_before_its_answer_is_asked_for(http, server):
    opened(http, server)
    port_before = None
    early = http.send_now("GET", f"{server.url}/list", params={"page": 1}, headers={"X-A": "1"})

    assert early is not None
    assert server.arrived.wait(5)  # the server has it, and nobody is waiting on it yet
    response = http.request("GET", f"{server.url}/list", params={"page": 1}, early=early)
    assert response.status_code == 200
    assert response.json() == {"path": "/list?page=1"}
    assert len(server.seen) == 1  # answered once: not asked again in full
    port_before = server.seen[0][2]

    # Its connection went back to the pool: the next one goes early on it too.
    again = http.send_now("GET", f"{server.url}/list", params={"page": 2}, headers={})
    assert http.request("GET", f"{server.url}/list", early=again).json() == {"path": "/list?page=2"}
    assert [port for _, _, port in server.seen] == [port_before, port_before]


def test_nothing_goes_early_without_a_connection_open_to_reuse(http, server):
    assert http.send_now("GET", f"{server.url}/list", headers={}) is None
    assert server.seen == []  # connecting is left to the call itself
    assert http.request("GET", f"{server.url}/list").status_code == 200


def test_a_429_answered_early_is_waited_out_and_asked_again(http, server, clock):
    opened(http, server)
    server.answers = [(429, {"Retry-After": "7"})]
    early = http.send_now("GET", f"{server.url}/list", headers={})

    response = http.request("GET", f"{server.url}/list", early=early)

    assert response.status_code == 200
    assert clock.sleeps == [7.0]
    assert len(server.seen) == 2


def test_a_5xx_answered_early_is_retried_with_backoff(http, server, clock):
    opened(http, server)
    server.answers = [(502, {})]
    early = http.send_now("GET", f"{server.url}/list", headers={})

    assert http.request("GET", f"{server.url}/list", early=early).status_code == 200
    assert len(clock.sleeps) == 1 and len(server.seen) == 2


def test_an_early_get_whose_connection_is_lost_is_sent_again_in_full(http, server, clock):
    opened(http, server)
    early = http.send_now("GET", f"{server.url}/list", headers={})
    assert server.arrived.wait(5)
    early._conn.sock.close()  # the connection is lost before its answer is read

    response = http.request("GET", f"{server.url}/list", early=early)

    assert response.json() == {"path": "/list"}
    assert clock.sleeps == []  # sent again at once: a GET may be asked twice
    assert len(server.seen) == 2


def test_a_dropped_early_get_leaves_the_client_able_to_call(http, server):
    opened(http, server)
    early = http.send_now("GET", f"{server.url}/list", headers={})
    early.drop()

    assert early.answer() is None  # dropped: its answer is never read
    assert http.request("GET", f"{server.url}/next").json() == {"path": "/next"}


def test_a_dropped_post_is_never_sent_again_in_full(http, server):
    opened(http, server)
    early = http.send_now("POST", f"{server.url}/write", json={"a": 1}, headers={})
    assert server.arrived.wait(5)
    early.drop()

    with pytest.raises(OutcomeUnknown):
        http.request("POST", f"{server.url}/write", json={"a": 1}, early=early)
    assert len(server.seen) == 1


def test_a_proxy_for_the_host_means_the_call_is_sent_in_full(http, server):
    opened(http, server)
    # As the environment's HTTP_PROXY is read for the host (once, see test_http).
    proxy = {"proxies": {"http": "http://proxy.example.test:3128"}}
    http._environments[server.url] = {**http._environments[server.url], **proxy}

    assert http.send_now("GET", f"{server.url}/list", headers={}) is None
    assert server.seen == []


@responses.activate
def test_a_stand_in_for_requests_adapter_sees_every_call(http, server):
    responses.add_passthru(f"{server.url}/open")
    opened(http, server)  # a real connection is open in the pool
    responses.get(f"{server.url}/list", json=[1])

    early = http.send_now("GET", f"{server.url}/list", headers={})

    assert early is None and server.seen == []
    assert http.request("GET", f"{server.url}/list", early=early).json() == [1]


def test_a_post_whose_connection_is_lost_after_it_was_written_is_an_unknown_outcome(
    http, server, clock
):
    opened(http, server)
    early = http.send_now("POST", f"{server.url}/write", json={"a": 1}, headers={})
    assert server.arrived.wait(5)
    early._conn.sock.close()  # lost before the answer is read: it may have been carried out

    with pytest.raises(OutcomeUnknown):
        http.request("POST", f"{server.url}/write", json={"a": 1}, early=early)
    assert len(server.seen) == 1  # never sent twice


def test_the_sessions_response_hooks_see_an_early_answer(http, server):
    opened(http, server)
    seen = []
    http.session.hooks["response"].append(
        lambda response, *args, **kwargs: seen.append(response.url)
    )
    early = http.send_now("GET", f"{server.url}/list", headers={})

    http.request("GET", f"{server.url}/list", early=early)

    assert early is not None and seen == [f"{server.url}/list"]
