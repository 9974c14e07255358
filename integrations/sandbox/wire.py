"""A sandbox's requests and answers, and the router that maps one to a handler."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import parse_qs


class Abort(Exception):
    """Stop handling a request and answer `status`.

    With only a message, the server's wire format shapes the body (`error_body`); `body`
    gives the exact body instead.
    """

    def __init__(self, status: int, message: str = "", *, body: Any = None, headers=None):
        super().__init__(message or str(status))
        self.status, self.message, self.body = status, message, body
        self.headers = headers or {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    base_url: str
    params: dict[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise Abort(400, f"{name} must be an integer") from None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise Abort(400, "The request body is not valid JSON") from None

    def form(self) -> dict[str, str]:
        """Form fields (or a JSON object's fields: OAuth servers take both)."""
        if "json" in (self.headers.get("Content-Type") or ""):
            data = self.json()
            return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        pairs = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[0] for key, values in pairs.items()}


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list: JSON; str: text; bytes: as is; None: empty
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", self.content_type or "application/json"
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


def route(method: str, pattern: str) -> Callable:
    """Mark a server method as the handler of METHOD PATTERN.

    `{name}` in the pattern matches a numeric id (handed over as an int in
    `request.params`), `{name:word}` a word of letters and underscores.
    """

    def mark(handler: Callable) -> Callable:
        handler.routes = [*getattr(handler, "routes", []), (method, pattern)]
        return handler

    return mark


def compile_route(pattern: str) -> re.Pattern:
    """A route pattern (`/things/{id}`, `{kind:word}`) as the regex that matches its paths."""

    def group(match: re.Match) -> str:
        name, _, kind = match.group(1).partition(":")
        return f"(?P<{name}>[A-Za-z_]+)" if kind == "word" else f"(?P<{name}>[0-9]+)"

    return re.compile("^" + re.sub(r"\\\{(\w+(?::word)?)\\\}", group, re.escape(pattern)) + "$")
