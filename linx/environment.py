"""Strict readers of Linx's environment variables.

A misspelled boolean or a malformed URL must stop start-up with a message naming the
variable, never quietly become ``False`` or an empty string (django-environ alone
would do the latter). Every reader raises ``ImproperlyConfigured``.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

_env = environ.Env()


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def required(name: str, hint: str = "") -> str:
    """The variable's value; stop start-up with ``hint`` when it is not set."""
    value = _raw(name)
    if value is None:
        raise ImproperlyConfigured(f"{name} is not set. {hint}".strip())
    return value


def string(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None else value


def boolean(name: str, default: bool | None) -> bool | None:
    """Accepts true/false, yes/no, on/off, 1/0 (any case); anything else is an error."""
    value = _raw(name)
    if value is None:
        return default
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean. Use one of: "
        f"{', '.join(sorted(TRUE_WORDS))} or {', '.join(sorted(FALSE_WORDS))}."
    )


def integer(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is too small: it must be at least {minimum}.")
    return number


def words(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def url(name: str, *, schemes: tuple[str, ...]) -> str | None:
    """A URL with one of ``schemes`` and a host (or a path for sqlite), or ``None`` if unset."""
    value = _raw(name)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a malformed port raises here)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not a valid URL: {error}.") from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name} must start with {' or '.join(s + '://' for s in schemes)}"
            f" (got {parts.scheme + '://' if parts.scheme else 'no scheme'})."
        )
    if not parts.hostname and not parts.scheme.startswith("sqlite"):
        raise ImproperlyConfigured(f"{name} has no host name.")
    return value


DATABASE_SCHEMES = ("postgres", "postgresql", "pgsql", "sqlite")


def database(name: str) -> dict | None:
    """Django's DATABASES entry for a database URL, or ``None`` if unset."""
    value = url(name, schemes=DATABASE_SCHEMES)
    if value is None:
        return None
    return _env.db_url_config(value)


MAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "smtp+tls": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}


def mailers(name: str) -> dict:
    """Django's MAILERS for a mail URL such as ``smtp+tls://user:pass@host:587``.

    ``smtps`` is SMTP over TLS, ``smtp+tls`` is STARTTLS; unset means ``console://``
    (mail is printed, which suits a demo).
    """
    value = url(name, schemes=tuple(MAIL_BACKENDS)) or "console://localhost"
    parts = urlsplit(value)
    backend = MAIL_BACKENDS[parts.scheme]
    if parts.scheme == "console":
        return {"default": {"BACKEND": backend}}

    options = {
        "host": parts.hostname,
        "port": parts.port or {"smtps": 465, "smtp+tls": 587}.get(parts.scheme, 25),
        "use_ssl": parts.scheme == "smtps",
        "use_tls": parts.scheme == "smtp+tls",
        "timeout": 30,
    }
    if parts.username:
        options["username"] = unquote(parts.username)
        options["password"] = unquote(parts.password or "")
    return {"default": {"BACKEND": backend, "OPTIONS": options}}
