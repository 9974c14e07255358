"""Redaction: what text from or about a call may be shown, with its secrets blanked out.

Every message, log line and row result that carries text from a service passes through
`redact` (secrets by key, by pattern and by literal value) and, for error bodies,
`summarize_text` (one short readable line).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
#: Mapping keys (headers, form fields, JSON keys) whose values are never shown.
SECRET_KEYS = frozenset(
    {
        "authorization",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "code",
        "password",
        "api_key",
        "ocp-apim-subscription-key",
    }
)
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    # key=value in a query string or form body ("code" only here: in prose it is a word).
    (
        re.compile(
            r"(?i)(?<![\w-])(client_secret|access_token|refresh_token|id_token|token|code"
            r"|password|api_key|subscription-key)=([^&\s\"']+)"
        ),
        rf"\1={REDACTED}",
    ),
    # "key": "value" in JSON, key: value in a header dump.
    (
        re.compile(
            r"(?i)([\"']?\b(?:client_secret|access_token|refresh_token|id_token|password|api_key"
            r"|ocp-apim-subscription-key|authorization)[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;}&]+)"
        ),
        rf"\1{REDACTED}",
    ),
)
#: Shorter "secrets" would blank out ordinary words of a message.
_MIN_LITERAL_SECRET = 6


def redact(value: Any, secrets: tuple[str, ...] | list[str] = ()) -> Any:
    """Return `value` with secrets replaced: mappings by key, text by pattern and literal."""
    if isinstance(value, Mapping):
        return {
            k: REDACTED
            if isinstance(k, str) and k.lower() in SECRET_KEYS and v
            else redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, secrets) for v in value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return value
    for secret in secrets:
        if secret and len(secret) >= _MIN_LITERAL_SECRET:
            value = value.replace(secret, REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        value = pattern.sub(replacement, value)
    return value


def _plain(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"(?s)<[^>]*>", " ", markup)).split())


def summarize_text(body: str | bytes, limit: int = 300) -> str:
    """A plain-text or HTML error body as one short line a person can read."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", body)
    text = _plain(body)
    # An error page's <title> mostly repeats its heading ("502 Bad Gateway" twice): keep
    # it only when it says something the rest of the page does not.
    if title := re.search(r"(?is)<title\b[^>]*>(.*?)</title\s*>", body):
        rest = _plain(body[: title.start()] + " " + body[title.end() :])
        if _plain(title.group(1)) in rest:
            text = rest
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text
