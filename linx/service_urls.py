"""Which base URLs a connection may point at.

Linx sends secrets to these hosts, so a mistyped or malicious URL must not be able to
send them in clear, embed credentials, or reach into the private network Linx runs in
(cloud metadata services, internal admin pages):

- ``https`` always; ``http`` only to loopback (``localhost``, ``127.0.0.0/8``, ``::1``),
  which is how the bundled sandboxes run;
- no user name or password in the URL, no query or fragment;
- no private, link-local or otherwise internal IP address, unless the operator allows it
  with ``LINX_ALLOW_PRIVATE_NETWORKS`` (e.g. a test server on the office network).

Host names are not resolved here (DNS answers can change after the check); the rule is
about what an operator types.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    loopback = is_loopback(host)
    if parts.scheme == "http" and not loopback:
        return f"{url!r} must use https:// (plain http is allowed only to this machine, e.g. the sandboxes)."
    if loopback:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a host name
    internal = (
        address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )
    if internal and not settings.LINX_ALLOW_PRIVATE_NETWORKS:
        return (
            f"{host} is a private-network address; Linx only talks to public services and to "
            "this machine. Set LINX_ALLOW_PRIVATE_NETWORKS=true to allow it."
        )
    return None


def validate_service_url(url: str) -> None:
    """A model-field validator: raise ValidationError with the reason."""
    if problem := problem_with(url):
        raise ValidationError(problem)
