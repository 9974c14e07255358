"""The HTTP layer checks the address each connection really uses, after DNS.

A resolver is made to answer private addresses for public-looking names: the request
is refused before any byte is sent, and a permitted answer is the one connected to.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.addresses import AddressPolicy, guarded_session, non_public_kind
from integrations.errors import IntegrationError
from integrations.http import HttpClient, RetryPolicy

REAL_GETADDRINFO = socket.getaddrinfo


class Resolver:
    """Answers chosen addresses for names; literal addresses resolve as usual."""

    def __init__(self, monkeypatch, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            self.asked.append(host)
            return [self._answer(address, port) for address in self.answers[host].pop(0)]
        return REAL_GETADDRINFO(host, port, family, type, proto, flags)

    @staticmethod
    def _answer(address: str, port):
        if ipaddress.ip_address(address).version == 6:
            return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
        return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


@pytest.fixture
def no_connects(monkeypatch) -> list:
    """Every socket connect attempted (there must be none when an address is refused)."""
    attempts = []

    def connect(sock, address):
        attempts.append(address)
        raise AssertionError(f"connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def client(**policy) -> HttpClient:
    retry = RetryPolicy(base_delay=0.001, max_delay=0.001, max_total_wait=0.01)
    session = guarded_session(AddressPolicy(**policy)) if policy else None
    return HttpClient("Procore", retry=retry, sleep=lambda s: None, session=session)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("10.1.2.3", "private"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo, client 192.0.2.45
        ("fd00::1", "private"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("240.0.0.1", "reserved"),
    ],
)
def test_a_public_name_resolving_to_a_private_address_is_refused_before_sending(
    monkeypatch, no_connects, answer, kind
):
    resolver = Resolver(monkeypatch, {"api.procore.com": [[answer]]})
    with pytest.raises(IntegrationError) as refused:
        client().request("GET", "https://api.procore.com/rest/v1.0/me")
    assert refused.value.permanent  # retrying cannot help: nothing is tried again
    assert f"a {kind} address" in str(refused.value)
    assert "api.procore.com" in str(refused.value)
    assert no_connects == []
    assert resolver.asked == ["api.procore.com"]


def test_one_private_answer_among_public_ones_refuses_the_name(monkeypatch, no_connects):
    Resolver(monkeypatch, {"api.procore.com": [["52.1.2.3", "169.254.169.254"]]})
    with pytest.raises(IntegrationError, match="link-local"):
        client().request("GET", "https://api.procore.com/rest/v1.0/me")
    assert no_connects == []


def test_private_networks_can_be_allowed(monkeypatch):
    Resolver(monkeypatch, {"intranet.example.com": [["10.1.2.3"]]})
    assert AddressPolicy(allow_private=True).refusal(ipaddress.ip_address("10.1.2.3")) is None
    assert AddressPolicy().refusal(ipaddress.ip_address("10.1.2.3")) == "private"


def test_public_addresses_are_public():
    for address in ("52.1.2.3", "2600:1f18::1", "2002:3401:0203::"):  # 6to4 of 52.1.2.3
        assert non_public_kind(ipaddress.ip_address(address)) is None


@pytest.fixture
def local_server():
    """A plain HTTP server on loopback (where the sandboxes listen)."""

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"hello": "world"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_checked_address_is_the_one_connected_to(monkeypatch, local_server):
    # A second look-up would get the metadata address: there must be none.
    resolver = Resolver(monkeypatch, {"api.procore.com": [["127.0.0.1"], ["169.254.169.254"]]})
    response = client().request("GET", f"http://api.procore.com:{local_server}/")
    assert response.json() == {"hello": "world"}
    assert resolver.asked == ["api.procore.com"]


def test_loopback_can_be_refused_too(monkeypatch, local_server, no_connects):
    Resolver(monkeypatch, {"api.procore.com": [["127.0.0.1"]]})
    with pytest.raises(IntegrationError, match="a loopback address"):
        client(allow_loopback=False).request("GET", f"http://api.procore.com:{local_server}/")
    assert no_connects == []


def test_every_new_connection_is_checked_again(monkeypatch, local_server):
    # The name moves to a private address between two connections (DNS rebinding).
    Resolver(monkeypatch, {"api.procore.com": [["127.0.0.1"], ["10.9.9.9"]]})
    http = client()
    http.request("GET", f"http://api.procore.com:{local_server}/")
    http.session.close()  # the pooled connection is gone; the next one resolves again
    with pytest.raises(IntegrationError, match="a private address"):
        http.request("GET", f"http://api.procore.com:{local_server}/")


def test_a_redirect_is_handed_back_never_followed(monkeypatch, local_server):
    resolver = Resolver(monkeypatch, {"api.procore.com": [["127.0.0.1"]]})
    response = client().request("GET", f"http://api.procore.com:{local_server}/moved")
    assert response.status_code == 302
    assert resolver.asked == ["api.procore.com"]  # nothing else was looked up or reached
