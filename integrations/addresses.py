"""Which addresses the clients may connect to, checked at the moment they connect.

A URL's host name says nothing about where it leads: `169.254.169.254.nip.io` resolves
to the cloud metadata service, and a name can resolve somewhere else tomorrow. So the
check is made on the address a connection is about to use, after DNS, on every new
connection; the socket then connects to that very address (no second look-up for an
attacker's DNS server to answer differently).

Refused unless allowed: every address Python's `ipaddress` does not call public
(private, shared, link-local, reserved, multicast, unspecified, documentation and
benchmark ranges), and the same addresses inside IPv6 forms that carry an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64). Loopback is allowed by default: the bundled
sandboxes listen there.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError
from urllib3.util.connection import allowed_gai_family

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (a packet to it may end up there)."""
    found = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)
    if address in NAT64_PREFIX:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def _kind_of(address: IPAddress) -> str | None:
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (carrier-grade NAT)", address in SHARED_ADDRESS_SPACE),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, applies in checks if applies), None)


def non_public_kind(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is ("link-local", ...), None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            if kind := _kind_of(inner):
                return kind
    return _kind_of(address)


class RefusedAddress(NewConnectionError):
    """A host resolved to an address Linx may not connect to; nothing was sent."""

    def __init__(self, conn, host: str, address: IPAddress, kind: str) -> None:
        shown = host if host == str(address) else f"{host} ({address})"
        self.message = (
            f"refused to connect to {shown}: a {kind} address. Linx only talks to public "
            "services and to this machine"
        )
        super().__init__(conn, self.message)
        self.address = address
        self.kind = kind

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class AddressPolicy:
    """Which non-public addresses are nevertheless allowed."""

    allow_loopback: bool = True
    allow_private: bool = False

    def refusal(self, address: IPAddress) -> str | None:
        """The kind of address that is refused, or None when `address` may be used."""
        kind = non_public_kind(address)
        if kind is None or (kind == "loopback" and self.allow_loopback) or self.allow_private:
            return None
        return kind


class _GuardedConnectionMixin:
    """Resolve, check every address, then connect to a checked one (never re-resolved)."""

    address_policy: AddressPolicy = AddressPolicy()

    def _new_conn(self) -> socket.socket:
        host = self._dns_host
        try:
            answers = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except OSError:
            return super()._new_conn()  # urllib3 words a failed look-up itself
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(a[4][0].split("%")[0]) for a in answers)
        )
        # One refused answer refuses them all: which one is used is not ours to choose.
        for address in addresses:
            if kind := self.address_policy.refusal(address):
                raise RefusedAddress(self, host, address, kind)
        error: Exception | None = None
        for address in addresses:
            self._dns_host = str(address)
            try:
                return super()._new_conn()
            except NewConnectionError as failed:
                error = failed
            finally:
                self._dns_host = host
        raise error or NewConnectionError(self, f"{host} resolved to no address")


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every new connection goes through `AddressPolicy`."""

    def __init__(self, policy: AddressPolicy, **kwargs) -> None:
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pools(self.policy)


def _guarded_pools(policy: AddressPolicy) -> dict[str, type]:
    """urllib3 pool classes whose connections check addresses against `policy`."""

    class Connection(GuardedHTTPConnection):
        address_policy = policy

    class SecureConnection(GuardedHTTPSConnection):
        address_policy = policy

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


def guarded_session(policy: AddressPolicy | None = None) -> requests.Session:
    """A requests session that connects only to addresses `policy` allows."""
    session = requests.Session()
    adapter = GuardedAdapter(policy or AddressPolicy())
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
