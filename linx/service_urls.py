"""Which base URLs a connection may point at.

Linx sends secrets to these hosts, so a mistyped or malicious URL must not be able to
send them in clear, embed credentials, or reach into the private network Linx runs in
(cloud metadata services, internal admin pages):

- ``https`` always; ``http`` only to loopback (``localhost``, ``127.0.0.0/8``, ``::1``),
  which is how the bundled sandboxes run;
- no user name or password in the URL, no query or fragment;
- a host name under one of LINX_SERVICE_HOSTS: by default the real services' domains
  (``procore.com``, ``arcoro.com``, ``exaktime.com``); ``*`` allows any host name;
- no non-public IP address (private, shared, link-local, reserved, multicast, and the
  IPv6 forms that carry one), unless the operator allows it with
  ``LINX_ALLOW_PRIVATE_NETWORKS`` (e.g. a test server on the office network).

Host names are not resolved here (DNS answers can change after the check): the HTTP
layer checks the address each connection actually uses (integrations.addresses).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from integrations.addresses import AddressPolicy, non_public_kind

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def address_policy() -> AddressPolicy:
    """The non-public addresses this installation allows, for URLs and for connections."""
    return AddressPolicy(
        allow_loopback=settings.LINX_ALLOW_LOOPBACK,
        allow_private=settings.LINX_ALLOW_PRIVATE_NETWORKS,
    )


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listed(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(
        suffix == "*" or host == suffix or host.endswith(f".{suffix}")
        for suffix in (s.lower().strip(".") for s in settings.LINX_SERVICE_HOSTS)
    )


def _host_problem(host: str) -> str | None:
    """Why Linx may not send secrets to ``host``, or None."""
    if is_loopback(host):
        if settings.LINX_ALLOW_LOOPBACK:
            return None
        return f"{host} is this machine, and LINX_ALLOW_LOOPBACK is off."
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and (kind := address_policy().refusal(address)):
        return (
            f"{host} is a private-network address ({kind}); Linx only talks to public "
            "services and to this machine. Set LINX_ALLOW_PRIVATE_NETWORKS=true to allow it."
        )
    if (address is not None and non_public_kind(address)) or _listed(host):
        return None
    return (
        f"{host} is not a Procore or ExakTime host (allowed: "
        f"{', '.join(settings.LINX_SERVICE_HOSTS) or 'none'}). To use another host, add it "
        "to LINX_SERVICE_HOSTS."
    )


def problem_with(url: str) -> str | None:
    """Why ``url`` may not be a connection's base URL, or None when it may."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a malformed port raises)
    except ValueError as error:
        return f"{url!r} is not a valid URL ({error})."
    if parts.scheme not in ("https", "http") or not host:
        return f"{url!r} must be an https:// address with a host name."
    if parts.username or parts.password:
        return "Put no user name or password in the URL: Linx keeps credentials in their own fields, encrypted."
    if parts.query or parts.fragment:
        return f"{url!r} must be a base address, without ?query or #fragment."
    if parts.scheme == "http" and not is_loopback(host):
        return f"{url!r} must use https:// (plain http is allowed only to this machine, e.g. the sandboxes)."
    return _host_problem(host)


def validate_service_url(url: str) -> None:
    """A model-field validator: raise ValidationError with the reason."""
    if problem := problem_with(url):
        raise ValidationError(problem)
