"""The shared HTTP layer: timeouts, retries, rate-limit waits, pacing, unknown-outcome writes."""

from __future__ import annotations

import logging
import pickle
import socket
import socketserver
import threading
import time
from email.utils import formatdate

import pytest
import requests
import responses
from responses.registries import OrderedRegistry
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from integrations.errors import IntegrationError, OutcomeUnknown
from integrations.http import USER_AGENT, HttpClient, RetryPolicy
from integrations.redaction import redact, summarize_text
from linx import __version__

URL = "https://api.example.test/rest/v1.0/things"


@pytest.fixture
def http(clock, rng) -> HttpClient:
    return HttpClient("Example", sleep=clock.sleep, clock=clock, rng=rng)


def dropped_after_send() -> requests.ConnectionError:
    return requests.ConnectionError(
        ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))
    )


def refused_before_send() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(MaxRetryError(None, "/rest/v1.0/things", reason))


# Basics ------------------------------------------------------------------------------


@responses.activate
def test_every_call_names_linx_and_has_a_connect_and_read_timeout(http):
    responses.get(URL, json=[])
    http.request("GET", URL)
    request = responses.calls[0].request
    assert request.headers["User-Agent"] == USER_AGENT == f"Linx/{__version__} (+python-requests)"
    assert request.req_kwargs["timeout"] == (5.0, 60.0)


def test_one_session_per_client_so_connections_are_pooled(clock):
    first = HttpClient("Example", sleep=clock.sleep, clock=clock)
    second = HttpClient("Example", sleep=clock.sleep, clock=clock)
    assert isinstance(first.session, requests.Session)
    assert first.session is not second.session


@responses.activate
def test_redirects_are_not_followed_so_headers_never_reach_another_host(http):
    responses.get(URL, status=302, headers={"Location": "https://elsewhere.test/"})
    assert http.request("GET", URL).status_code == 302
    assert len(responses.calls) == 1


# The environment: proxies, CA bundle, netrc ------------------------------------------


@responses.activate
def test_the_environments_proxy_is_used_unless_no_proxy_names_the_host(http, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.test:3128")
    responses.get(URL, json=[])
    responses.get("https://direct.example.test/x", json=[])
    monkeypatch.setenv("NO_PROXY", "direct.example.test")

    http.request("GET", URL)
    http.request("GET", URL)  # read once per host, the same every time
    http.request("GET", "https://direct.example.test/x")

    proxies = [call.request.req_kwargs.get("proxies") or {} for call in responses.calls]
    assert [p.get("https") for p in proxies] == ["http://proxy.example.test:3128"] * 2 + [None]


@responses.activate
def test_the_environments_ca_bundle_is_used_to_verify(http, monkeypatch, tmp_path):
    bundle = tmp_path / "company-ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    responses.get(URL, json=[])

    http.request("GET", URL)

    assert responses.calls[0].request.req_kwargs["verify"] == str(bundle)


@responses.activate
def test_a_netrc_entry_for_the_host_never_adds_credentials(http, monkeypatch, tmp_path):
    (tmp_path / ".netrc").write_text("machine api.example.test login someone password hunter2\n")
    (tmp_path / ".netrc").chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    responses.post(URL, json={})

    http.request("POST", URL, data={"grant_type": "client_credentials"})

    assert "Authorization" not in responses.calls[0].request.headers


# Transient failures ------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
@responses.activate(registry=OrderedRegistry)
def test_a_transient_status_is_retried_with_growing_jittered_backoff(http, clock, status):
    for _ in range(3):
        responses.get(URL, status=status)
    responses.get(URL, json={"ok": True})
    assert http.request("GET", URL).json() == {"ok": True}
    assert len(responses.calls) == 4
    # Full jitter above a 1-second floor, each cap doubling: never faster than the seed.
    assert len(clock.sleeps) == 3
    for retry, wait in enumerate(clock.sleeps):
        assert 1.0 <= wait <= 2.0 ** (retry + 1)


@responses.activate
def test_retries_are_bounded_then_the_last_answer_is_handed_back(http, clock):
    responses.get(URL, status=502)
    response = http.request("GET", URL)
    assert response.status_code == 502
    policy = RetryPolicy()
    assert len(responses.calls) == policy.max_retries + 1 >= 6  # the seed retries 5 times
    assert sum(clock.sleeps) <= policy.max_total_wait


@responses.activate
def test_total_backoff_stays_within_the_budget(clock, rng):
    http = HttpClient(
        "Example",
        retry=RetryPolicy(max_retries=50, max_total_wait=10.0),
        sleep=clock.sleep,
        clock=clock,
        rng=rng,
    )
    responses.get(URL, status=500)
    http.request("GET", URL)
    assert sum(clock.sleeps) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "failure", [requests.ReadTimeout("read timed out"), dropped_after_send(), refused_before_send()]
)
@responses.activate(registry=OrderedRegistry)
def test_timeouts_and_connection_errors_on_a_read_are_retried(http, failure):
    responses.get(URL, body=failure)
    responses.get(URL, body=failure)
    responses.get(URL, json=[1])
    assert http.request("GET", URL).json() == [1]
    assert len(responses.calls) == 3


@responses.activate
def test_a_read_that_never_answers_ends_in_a_transient_error(http, clock):
    responses.get(URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(IntegrationError) as caught:
        http.request("GET", URL)
    assert caught.value.permanent is False
    assert "did not answer GET /rest/v1.0/things after 7 tries" in caught.value.message
    assert len(responses.calls) == 7
    assert len(clock.sleeps) == 6


@pytest.mark.parametrize("status", [400, 401, 403, 404, 406, 409, 422])
@responses.activate
def test_client_errors_are_never_retried(http, clock, status):
    responses.get(URL, status=status, json={"message": "no"})
    assert http.request("GET", URL).status_code == status
    assert len(responses.calls) == 1
    assert clock.sleeps == []


# Rate limits -------------------------------------------------------------------------


@responses.activate(registry=OrderedRegistry)
def test_429_waits_until_the_reset_time(http, clock):
    responses.get(URL, status=429, headers={"X-Rate-Limit-Reset": str(int(clock.now) + 42)})
    responses.get(URL, json=[])
    assert http.request("GET", URL).status_code == 200
    assert clock.sleeps == [42.0]


@responses.activate(registry=OrderedRegistry)
def test_429_retry_after_wins_over_the_reset_time(http, clock):
    responses.get(
        URL,
        status=429,
        headers={"Retry-After": "7", "X-Rate-Limit-Reset": str(int(clock.now) + 42)},
    )
    responses.get(URL, json=[])
    http.request("GET", URL)
    assert clock.sleeps == [7.0]


@responses.activate(registry=OrderedRegistry)
def test_retry_after_is_not_followed_by_a_pacing_wait_for_the_same_window(http, clock):
    responses.get(
        URL,
        status=429,
        headers={
            "Retry-After": "7",
            "X-Rate-Limit-Limit": "25",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(int(clock.now) + 42),
        },
    )
    responses.get(URL, json=[])
    http.request("GET", URL)
    assert clock.sleeps == [7.0]


@responses.activate(registry=OrderedRegistry)
def test_the_reset_time_is_read_against_the_servers_date_header(http, clock):
    # Our clock is 1000 s ahead of the server's: the wait still is reset - Date.
    server_now = int(clock.now) - 1000
    date = formatdate(server_now, usegmt=True)
    responses.get(
        URL, status=429, headers={"X-Rate-Limit-Reset": str(server_now + 9), "Date": date}
    )
    responses.get(URL, json=[])
    http.request("GET", URL)
    assert clock.sleeps == [9.0]


@responses.activate
def test_a_429_asking_for_too_long_a_wait_is_handed_back_at_once(http, clock):
    responses.get(URL, status=429, headers={"Retry-After": "3600"})
    assert http.request("GET", URL).status_code == 429
    assert clock.sleeps == []
    assert len(responses.calls) == 1


@responses.activate(registry=OrderedRegistry)
def test_503_with_retry_after_waits_that_long(http, clock):
    responses.get(URL, status=503, headers={"Retry-After": "12"})
    responses.get(URL, json=[])
    assert http.request("GET", URL).status_code == 200
    assert clock.sleeps == [12.0]


@responses.activate(registry=OrderedRegistry)
def test_a_post_is_resent_after_429_and_503_because_they_were_not_processed(http, clock):
    responses.post(URL, status=429, headers={"Retry-After": "2"})
    responses.post(URL, status=503, headers={"Retry-After": "3"})
    responses.post(URL, status=201, json={"id": 1})
    assert http.request("POST", URL, json={}).status_code == 201
    assert clock.sleeps == [2.0, 3.0]


@responses.activate(registry=OrderedRegistry)
def test_pacing_spreads_the_last_calls_of_a_window_before_a_429_comes(http, clock):
    reset = int(clock.now) + 10
    responses.get(
        URL,
        json=[],
        headers={
            "X-Rate-Limit-Limit": "25",
            "X-Rate-Limit-Remaining": "2",
            "X-Rate-Limit-Reset": str(reset),
        },
    )
    responses.get(URL, json=[])
    http.request("GET", URL)
    assert clock.sleeps == []
    http.request("GET", URL)
    # Two calls left for ten seconds: the next one waits half of it.
    assert clock.sleeps == [5.0]
    assert [c.response.status_code for c in responses.calls] == [200, 200]


@responses.activate(registry=OrderedRegistry)
def test_an_exhausted_window_waits_for_its_reset_before_calling(http, clock):
    limits = {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0"}
    responses.get(URL, json=[], headers={**limits, "X-Rate-Limit-Reset": str(int(clock.now) + 8)})
    responses.get(URL, json=[])
    http.request("GET", URL)
    http.request("GET", URL)
    assert clock.sleeps == [8.0]


@responses.activate(registry=OrderedRegistry)
def test_no_pacing_while_plenty_of_the_window_is_left(http, clock):
    limits = {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "500"}
    responses.get(URL, json=[], headers={**limits, "X-Rate-Limit-Reset": str(int(clock.now) + 8)})
    responses.get(URL, json=[])
    http.request("GET", URL)
    http.request("GET", URL)
    assert clock.sleeps == []


# Unknown-outcome writes --------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    "failure",
    [dropped_after_send(), requests.ReadTimeout("read timed out")],
    ids=["drop", "timeout"],
)
@responses.activate
def test_a_write_that_may_have_reached_the_server_is_sent_exactly_once(
    http, clock, method, failure
):
    responses.add(method, URL, body=failure)
    with pytest.raises(OutcomeUnknown) as caught:
        http.request(method, URL, json={"origin_id": "17-regular"})
    assert len(responses.calls) == 1
    assert clock.sleeps == []
    assert caught.value.permanent is False
    assert f"may or may not have carried out {method} /rest/v1.0/things" in caught.value.message


@responses.activate
def test_a_write_answered_with_a_gateway_error_is_not_repeated_either(http):
    responses.post(URL, status=502)
    with pytest.raises(OutcomeUnknown) as caught:
        http.request("POST", URL, json={})
    assert caught.value.status == 502
    assert len(responses.calls) == 1


@responses.activate(registry=OrderedRegistry)
def test_a_write_whose_connection_never_opened_is_retried(http):
    responses.post(URL, body=refused_before_send())
    responses.post(URL, body=requests.ConnectTimeout("connect timed out"))
    responses.post(URL, status=201, json={"id": 9})
    assert http.request("POST", URL, json={}).json() == {"id": 9}
    assert len(responses.calls) == 3


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@responses.activate(registry=OrderedRegistry)
def test_idempotent_writes_are_retried_after_a_lost_answer(http, method):
    responses.add(method, URL, body=requests.ReadTimeout("read timed out"))
    responses.add(method, URL, status=200, json={})
    assert http.request(method, URL, json={}).status_code == 200
    assert len(responses.calls) == 2


@responses.activate(registry=OrderedRegistry)
def test_a_post_declared_idempotent_is_retried(http):
    responses.post(URL, body=dropped_after_send())
    responses.post(URL, json={})
    assert http.request("POST", URL, data={"grant_type": "x"}, idempotent=True).status_code == 200


def test_the_client_can_raise_its_own_error_classes(clock):
    class MineUnknown(OutcomeUnknown):
        service = "Mine"

    http = HttpClient("Mine", sleep=clock.sleep, clock=clock, outcome_unknown=MineUnknown)
    with responses.RequestsMock() as mock:
        mock.post(URL, body=dropped_after_send())
        with pytest.raises(MineUnknown):
            http.request("POST", URL)


def test_an_unusable_url_is_a_permanent_error(http):
    with pytest.raises(IntegrationError) as caught:
        http.request("GET", "not a url")
    assert caught.value.permanent is True


# Redaction and logging ---------------------------------------------------------------


def test_redact_blanks_secrets_in_mappings_text_and_urls():
    assert redact(
        {
            "Authorization": "Bearer abc",
            "Ocp-Apim-Subscription-Key": "k-123",
            "client_secret": "s",
            "grant_type": "refresh_token",
            "nested": {"refresh_token": "r", "code": "c"},
        }
    ) == {
        "Authorization": "[redacted]",
        "Ocp-Apim-Subscription-Key": "[redacted]",
        "client_secret": "[redacted]",
        "grant_type": "refresh_token",
        "nested": {"refresh_token": "[redacted]", "code": "[redacted]"},
    }
    text = (
        "Authorization: Bearer eyJhbGciOi.xyz, url /oauth/token?code=abc123&state=s1 "
        'body {"refresh_token": "rt-987", "client_secret":"cs-555"} '
        "form grant_type=refresh_token&refresh_token=rt-111&client_secret=cs-222"
    )
    cleaned = redact(text)
    for secret in ("eyJhbGciOi", "abc123", "rt-987", "cs-555", "rt-111", "cs-222"):
        assert secret not in cleaned
    assert "state=s1" in cleaned and "grant_type=refresh_token" in cleaned
    assert redact("key is super-secret-key here", ["super-secret-key"]) == "key is [redacted] here"


def test_errors_never_show_secrets_and_survive_pickling():
    error = OutcomeUnknown("lost POST with Authorization: Bearer tok-SECRET-1", status=None)
    assert "tok-SECRET-1" not in str(error)
    assert "tok-SECRET-1" not in repr(error)
    assert repr(error).startswith(
        "OutcomeUnknown(service='integration', status=None, permanent=False"
    )
    pickled = pickle.dumps(IntegrationError("x", status=502, permanent=True, service="S"))
    copy = pickle.loads(pickled)  # noqa: S301 - our own bytes, made one line above
    assert (copy.message, copy.status, copy.permanent, copy.service) == ("x", 502, True, "S")


@responses.activate
def test_each_call_is_logged_as_method_path_status_and_time_without_the_query(http, caplog):
    responses.get(URL, json=[])
    with caplog.at_level(logging.DEBUG, logger="integrations"):
        http.request("GET", URL, params={"code": "abc-secret-code", "page": 2})
    [record] = [r for r in caplog.records if r.name == "integrations.http"]
    assert record.levelno == logging.DEBUG
    method, path, status, elapsed = record.getMessage().split(" ")
    assert (method, path, status) == ("GET", "/rest/v1.0/things", "200")
    assert elapsed.endswith("ms")
    assert "abc-secret-code" not in caplog.text


def test_summarize_text_reads_html_as_one_short_line():
    page = (
        "<html><head><title>502</title><style>p{color:red}</style></head>"
        "<body><h1>502 Bad&nbsp;Gateway</h1><p>nginx</p></body></html>"
    )
    assert summarize_text(page) == "502 Bad Gateway nginx"
    assert len(summarize_text("x" * 1000)) == 300


def test_summarize_text_keeps_a_title_only_when_the_page_does_not_repeat_it():
    nginx = (
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    assert summarize_text(nginx) == "502 Bad Gateway nginx"
    blocked = "<html><head><title>Access denied</title></head><body>Error 1020</body></html>"
    assert summarize_text(blocked) == "Access denied Error 1020"
    assert summarize_text("<title>Maintenance</title>") == "Maintenance"


# Over a real socket: the failure classes requests raises are the ones relied on -----


class _Hangup(socketserver.BaseRequestHandler):
    """Reads the request, then closes (or stalls) without answering."""

    stall = 0.0

    def handle(self) -> None:
        self.server.requests += 1
        self.request.recv(65536)
        time.sleep(self.stall)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    requests = 0


@pytest.fixture
def hangup_server():
    server = _Server(("127.0.0.1", 0), _Hangup)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_real_dropped_connection_after_a_post_is_an_unknown_outcome(http, hangup_server):
    url = f"http://127.0.0.1:{hangup_server.server_address[1]}/write"
    with pytest.raises(OutcomeUnknown):
        http.request("POST", url, json={"a": 1})
    assert hangup_server.requests == 1


def test_a_real_read_timeout_after_a_post_is_an_unknown_outcome(http, hangup_server, monkeypatch):
    monkeypatch.setattr(_Hangup, "stall", 1.0)
    url = f"http://127.0.0.1:{hangup_server.server_address[1]}/write"
    with pytest.raises(OutcomeUnknown):
        http.request("POST", url, json={"a": 1}, timeout=(1.0, 0.2))
    assert hangup_server.requests == 1


def test_a_real_refused_connection_is_retried_even_for_a_post(http, clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now: the request was never sent.
    with pytest.raises(IntegrationError) as caught:
        http.request("POST", f"http://127.0.0.1:{port}/write", json={})
    assert not isinstance(caught.value, OutcomeUnknown)
    assert len(clock.sleeps) == RetryPolicy().max_retries


@responses.activate(registry=OrderedRegistry)
def test_a_wait_asked_of_one_call_holds_back_the_clients_other_calls_too(clock, rng):
    """Writes sent side by side share one connection: a 429's Retry-After is the whole
    connection's, not only the thread's that got it."""
    other = URL + "/other"
    responses.get(URL, status=429, headers={"Retry-After": "7"})
    responses.get(other, json=[])  # sent while the first call waits
    responses.get(URL, json=[])
    responses.get(other, json=[])
    calls_made_while_waiting: list[int] = []
    waiting = []

    def sleep(seconds: float) -> None:
        if not waiting:  # another thread's call, made during the first wait
            waiting.append(seconds)
            calls_made_while_waiting.append(http.request("GET", other).status_code)
        clock.sleep(seconds)

    http = HttpClient("Example", sleep=sleep, clock=clock, rng=rng)
    http.request("GET", URL)
    assert calls_made_while_waiting == [200]
    assert clock.sleeps == [7.0, 7.0]  # the other call waited too, then the first one
    http.request("GET", other)  # the wait is over: no more holding back
    assert clock.sleeps == [7.0, 7.0]
