"""Machinery shared by the Procore and ExakTime sandbox servers.

A sandbox is a real HTTP server on loopback that speaks one wire contract, so Linx runs,
demos and is tested end to end with no account anywhere. This module holds what both have
in common: the SQLite store, the request router, rate-limit windows, fault injection, the
request log and the `/_sandbox/` control and inspection endpoints. The wire formats
themselves live in `integrations/procore/sandbox/` and `integrations/exaktime/sandbox/`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

STATE_DIR = Path(__file__).resolve().parent.parent / "var" / "sandbox"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Query parameters that may carry a secret; the request log shows their names only.
SECRET_PARAMS = frozenset({"client_secret", "code", "refresh_token", "access_token", "token"})
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso_z(moment: datetime) -> str:
    """`2026-01-05T08:00:00Z`: the one timestamp format both sandboxes store (sortable as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def field_sql(name: str) -> str:
    """The SQL expression of a top-level JSON field of a record (indexes use the same text)."""
    if not _FIELD_NAME.match(name):
        raise ValueError(f"not a field name: {name!r}")
    return f"json_extract(body, '$.{name}')"


# --- State ------------------------------------------------------------------------------


class Store:
    """One sandbox's records as JSON documents in its own SQLite file, shared by threads.

    A record is (kind, id, scope, body): `scope` is the company, project or account it
    belongs to, so lists are `WHERE kind = ? AND scope = ?` pages with LIMIT/OFFSET and
    nothing is held in memory beyond the page asked for.
    """

    SCHEMA = f"""
        CREATE TABLE IF NOT EXISTS records (
            kind TEXT NOT NULL, id INTEGER NOT NULL, scope INTEGER, body TEXT NOT NULL,
            PRIMARY KEY (kind, id));
        CREATE INDEX IF NOT EXISTS records_scope ON records (kind, scope, id);
        -- Uniqueness checks (ExakTime's identifier and name); `id` last so that the
        -- planner picks these over records_scope for an ORDER BY id query.
        CREATE INDEX IF NOT EXISTS records_identifier_id
            ON records (kind, scope, {field_sql("identifier")}, id);
        CREATE INDEX IF NOT EXISTS records_name_id ON records (kind, scope, {field_sql("name")}, id);
        CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """

    def __init__(self, path: str | Path, *, id_bases: dict[str, int] | None = None, schema=""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.id_bases = id_bases or {}
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(self.SCHEMA + schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the store for a read-check-write that must not interleave with another."""
        with self._lock:
            if self._db.in_transaction:  # nested: the outer block commits
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """Run SQL on the sandbox's own extra tables (tokens, ...)."""
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    def snapshot(self) -> sqlite3.Connection:
        """Every table copied into memory, for `restore`."""
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        with self._lock:
            self._db.backup(copy)
        return copy

    def restore(self, snapshot: sqlite3.Connection) -> None:
        """Every table back as it was when `snapshot` was taken (a page copy: no SQL replayed)."""
        with self._lock:
            snapshot.backup(self._db)

    def wipe(self) -> None:
        """Empty every table (a reset)."""
        with self.transaction():
            tables = self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).fetchall()
            for (table,) in tables:
                self._db.execute(f'DELETE FROM "{table}"')  # noqa: S608 (names from sqlite_master)

    # key/value settings (generation options, API keys, ...)
    def kv_get(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM kv WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def kv_set(self, key: str, value: Any) -> None:
        self.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, json.dumps(value)))

    # records
    def next_id(self, kind: str) -> int:
        with self._lock:
            (top,) = self._db.execute(
                "SELECT max(id) FROM records WHERE kind = ?", (kind,)
            ).fetchone()
        return top + 1 if top is not None else self.id_bases.get(kind, 1)

    def insert(self, kind: str, body: dict, *, scope: int | None = None) -> dict:
        """Store a new record; one without an id gets the next id of its kind."""
        with self.transaction():
            if body.get("id") is None:
                body = {**body, "id": self.next_id(kind)}
            self._db.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?)", (kind, body["id"], scope, _dump(body))
            )
        return body

    def insert_many(self, rows: Iterable[tuple[str, int | None, dict]]) -> int:
        """Store (kind, scope, body) rows whose bodies carry their ids; one transaction."""
        with self.transaction():
            cursor = self._db.executemany(
                "INSERT INTO records VALUES (?, ?, ?, ?)",
                ((kind, body["id"], scope, _dump(body)) for kind, scope, body in rows),
            )
        return cursor.rowcount

    def replace(self, kind: str, body: dict) -> dict:
        """Write a record's whole body back (its kind, id and scope stay)."""
        with self._lock:
            self._db.execute(
                "UPDATE records SET body = ? WHERE kind = ? AND id = ?",
                (_dump(body), kind, body["id"]),
            )
        return body

    def delete(self, kind: str, record_id: int) -> bool:
        """Remove a record for good; False when there was none."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id)
            )
        return cursor.rowcount > 0

    def get(self, kind: str, record_id: Any, *, scope: int | None = None) -> dict | None:
        """The record, or None; with `scope`, only if it lives there."""
        try:
            record_id = int(record_id)
        except (TypeError, ValueError):
            return None
        sql, params = "SELECT body FROM records WHERE kind = ? AND id = ?", [kind, record_id]
        if scope is not None:
            sql, params = sql + " AND scope = ?", [*params, scope]
        rows = self.execute(sql, params)
        return json.loads(rows[0][0]) if rows else None

    def scope_of(self, kind: str, record_id: int) -> int | None:
        rows = self.execute(
            "SELECT scope FROM records WHERE kind = ? AND id = ?", (kind, record_id)
        )
        return rows[0][0] if rows else None

    def select(
        self,
        kind: str,
        *,
        scope: int | None = None,
        eq: dict[str, Any] | None = None,
        where: Iterable[tuple[str, Iterable[Any]]] = (),
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict]:
        """Records of a kind in id order; `eq` compares JSON fields (None means null),
        `where` adds (SQL fragment, params) conditions written with `field_sql`."""
        clause, params = self._where(kind, scope, eq, where)
        sql = f"SELECT body FROM records WHERE {clause} ORDER BY id"  # noqa: S608 (values are bound)
        if limit is not None:
            sql, params = sql + " LIMIT ? OFFSET ?", [*params, limit, offset]
        return [json.loads(body) for (body,) in self.execute(sql, params)]

    def count(
        self,
        kind: str,
        *,
        scope: int | None = None,
        eq: dict[str, Any] | None = None,
        where: Iterable[tuple[str, Iterable[Any]]] = (),
    ) -> int:
        clause, params = self._where(kind, scope, eq, where)
        return self.execute(f"SELECT count(*) FROM records WHERE {clause}", params)[0][0]  # noqa: S608

    def counts(self) -> dict[str, int]:
        """How many records of each kind the store holds."""
        return dict(self.execute("SELECT kind, count(*) FROM records GROUP BY kind ORDER BY kind"))

    @staticmethod
    def _where(kind, scope, eq, where) -> tuple[str, list[Any]]:
        parts, params = ["kind = ?"], [kind]
        if scope is not None:
            parts.append("scope = ?")
            params.append(scope)
        for name, value in (eq or {}).items():
            # IS compares nulls too; a JSON boolean reads back as 1/0, like a Python bool.
            parts.append(f"{field_sql(name)} {'IS' if value is None else '='} ?")
            params.append(value)
        for fragment, values in where:
            parts.append(f"({fragment})")
            params.extend(values)
        return " AND ".join(parts), params


def _dump(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"))


# --- Requests and responses -------------------------------------------------------------


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


def _compile(pattern: str) -> re.Pattern:
    def group(match: re.Match) -> str:
        name, _, kind = match.group(1).partition(":")
        return f"(?P<{name}>[A-Za-z_]+)" if kind == "word" else f"(?P<{name}>[0-9]+)"

    return re.compile("^" + re.sub(r"\\\{(\w+(?::word)?)\\\}", group, re.escape(pattern)) + "$")


# --- Rate limits and faults -------------------------------------------------------------


@dataclass
class Window:
    """A fixed rate-limit window that starts with the first request after the last one ended."""

    limit: int
    seconds: float
    used: int = 0
    resets_at: float = 0.0

    def hit(self, now: float) -> bool:
        if now >= self.resets_at:
            self.used, self.resets_at = 0, now + self.seconds
        self.used += 1  # refused calls count too, as on Procore
        return self.used <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class RateState:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # Unix seconds
    retry_after: int  # seconds until the exhausted window resets

    def headers(self) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(self.limit),
            "X-Rate-Limit-Remaining": str(self.remaining),
            "X-Rate-Limit-Reset": str(self.reset),
        }


class RateLimiter:
    """An hourly and a 10-second spike window, as Procore has; both count every request."""

    def __init__(self, hourly: int, spike: int, *, hourly_seconds=3600.0, spike_seconds=10.0):
        self._lock = threading.Lock()
        self._default_spike = (spike, spike_seconds)
        self.hourly = Window(hourly, hourly_seconds)
        self.spike = Window(spike, spike_seconds)

    def set_spike(self, limit: int | None = None, seconds: float | None = None) -> None:
        """A tighter spike window (a fault), or back to the configured one; starts afresh."""
        default_limit, default_seconds = self._default_spike
        with self._lock:
            self.spike = Window(limit or default_limit, seconds or default_seconds)

    def reset(self) -> None:
        with self._lock:
            self.hourly = Window(self.hourly.limit, self.hourly.seconds)
        self.set_spike()

    def hit(self, now: float) -> RateState:
        with self._lock:
            allowed = self.hourly.hit(now) & self.spike.hit(now)  # both windows count the call
            # The headers describe whichever window is closer to running out.
            closer = min((self.spike, self.hourly), key=lambda window: window.remaining)
            exhausted = [w for w in (self.spike, self.hourly) if w.used > w.limit]
            wait = max((w.resets_at for w in exhausted), default=now) - now
            return RateState(
                allowed,
                closer.limit,
                closer.remaining,
                math.ceil(closer.resets_at),
                math.ceil(wait),
            )


FAULT_KINDS = {
    "status": "answer `status` (Retry-After: `retry_after` when given) without touching state",
    "html": "answer `status` (default 502) with an HTML error page, as a proxy would",
    "malformed_json": "handle the request, then send a truncated JSON body",
    "slow": "handle the request, then wait `seconds` before answering (beyond a client's timeout)",
    "drop_after_write": "perform a write, then close the connection without answering",
    "spike_limit": "a tight spike window: `limit` requests per `seconds` (default 5 per 10)",
    "expire_tokens": "expire every access token now (Procore; immediate, nothing to count)",
}


@dataclass
class Fault:
    """One switched-on fault; it applies to the next `count` matching requests (None: all)."""

    kind: str
    count: int | None = 1
    status: int | None = None
    retry_after: int | None = None
    seconds: float | None = None
    limit: int | None = None
    method: str | None = None
    path: str | None = None  # a path prefix

    def matches(self, method: str, path: str) -> bool:
        if self.kind == "drop_after_write" and not self.method and method not in WRITE_METHODS:
            return False
        return (not self.method or self.method.upper() == method) and (
            not self.path or path.startswith(self.path)
        )


class Faults:
    """The faults a test (`server.faults.set(...)`) or a person (`POST /_sandbox/faults`)
    switched on. See FAULT_KINDS."""

    def __init__(self, server: SandboxServer):
        self._server = server
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def set(self, kind: str, **options: Any) -> Fault:
        """Switch a fault on, e.g. `set("status", status=503, retry_after=2, count=3)`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        fault = Fault(kind, **options)
        if kind == "status" and not fault.status:
            raise ValueError("a status fault needs `status`")
        if kind == "slow" and fault.seconds is None:
            raise ValueError("a slow fault needs `seconds`")
        if kind == "spike_limit":
            fault.limit, fault.seconds = fault.limit or 5, fault.seconds or 10.0
            self._server.limiter.set_spike(fault.limit, fault.seconds)
        if kind == "expire_tokens":
            self._server.expire_tokens()
            return fault
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
        self._server.limiter.set_spike()

    def active(self) -> list[dict]:
        with self._lock:
            return [
                {k: v for k, v in asdict(rule).items() if v is not None} for rule in self._rules
            ]

    def take(self, kinds: set[str], method: str, path: str) -> Fault | None:
        """The first live fault of these kinds matching the request, using one of its count."""
        with self._lock:
            for rule in self._rules:
                if rule.kind in kinds and rule.count != 0 and rule.matches(method, path):
                    if rule.count is not None:
                        rule.count -= 1
                    self._rules = [r for r in self._rules if r.count != 0]
                    return rule
        return None


HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


# --- The server -------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients' connection pools are exercised
    server_version = "LinxSandbox/1"
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK stalls

    def _dispatch(self) -> None:
        self.server.sandbox.dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sandbox keeps its own request log, without secrets."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow or hung request never blocks stop()
    request_queue_size = 128  # concurrent clients connect without waiting on SYN retries
    sandbox: SandboxServer


class SandboxServer:
    """A wire contract served over loopback, with its state in its own SQLite file.

    Subclasses add `@route` handlers, fill the store in `generate()`, and shape error
    bodies in `error_body()`. Paths under `/_sandbox/` are the control and inspection
    endpoints: no faults, no rate limits, not logged.
    """

    name = "sandbox"
    id_bases: dict[str, int] = {}
    schema = ""  # extra tables
    rate_limit_headers = False  # whether every answer carries X-Rate-Limit-*
    log_size = 2000

    def __init__(
        self,
        state_path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        hourly_limit: int = 1_000_000,
        spike_limit: int = 10_000,
    ):
        self.state_path = Path(state_path or STATE_DIR / f"{self.name}.sqlite3")
        self.store = Store(self.state_path, id_bases=self.id_bases, schema=self.schema)
        self.host, self.port = host, port
        self.faults = Faults(self)
        self.limiter = RateLimiter(hourly_limit, spike_limit)
        self._log: deque[dict] = deque(maxlen=self.log_size)
        self._routes = self._collect_routes()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # life ---------------------------------------------------------------------------

    def start(self) -> str:
        """Serve in a background thread; the base URL (an OS-chosen port when port=0)."""
        if self._httpd is None:
            self._stopping.clear()
            self._httpd = _HTTPServer((self.host, self.port), _Handler)
            self._httpd.sandbox = self
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},  # stop() returns quickly
                name=f"{self.name}-sandbox",
                daemon=True,
            )
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving (waking any slow-fault sleepers) and close the state file."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None
        self.store.close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # data ---------------------------------------------------------------------------

    generate_defaults: dict[str, Any] = {}

    def load(self, *, reset: bool = False, **wanted: Any) -> None:
        """Keep the data in the state file, or generate it: when there is none, when `reset`
        is asked, or when an option given (not None) differs from the one it was made with."""
        stored = self.store.kv_get("generated")
        given = {name: value for name, value in wanted.items() if value is not None}
        options = {**self.generate_defaults, **(stored or {}), **given}
        if reset or stored != options:
            self.reset(**options)

    def reset(self, **options: Any) -> None:
        """Forget everything (records, tokens, faults, log) and generate the data afresh."""
        settings = {**self.store.kv_get("generated", {}), **options}
        self.store.wipe()
        self._forget_traffic()
        self.generate(**settings)

    def snapshot(self) -> sqlite3.Connection:
        """The data as it is now (records, tokens, settings), to `restore` later."""
        return self.store.snapshot()

    def restore(self, snapshot: sqlite3.Connection) -> None:
        """Back to a `snapshot`'s data, with no faults, rate-limit use or log: a reset that
        copies data generated once instead of generating it again (the test suite's)."""
        self.store.restore(snapshot)
        self._forget_traffic()

    def _forget_traffic(self) -> None:
        self.faults.clear()
        self.limiter.reset()
        self.clear_requests()

    def generate(self, **options: Any) -> None:
        raise NotImplementedError

    def expire_tokens(self) -> None:
        raise ValueError(f"the {self.name} sandbox has no tokens to expire")

    def summary(self) -> dict:
        """What the sandbox holds, for a person (`GET /_sandbox/state`)."""
        return {
            "sandbox": self.name,
            "url": self.url,
            "state_file": str(self.state_path),
            "generated": self.store.kv_get("generated"),
            "records": self.store.counts(),
            "faults": self.faults.active(),
            "rate_limits": {
                name: {"limit": w.limit, "used": w.used, "seconds": w.seconds}
                for name, w in (("hourly", self.limiter.hourly), ("spike", self.limiter.spike))
            },
        }

    def get(self, kind: str, record_id: int) -> dict | None:
        """A record as stored (for tests and the inspection view)."""
        return self.store.get(kind, record_id)

    def records(self, kind: str, *, scope: int | None = None, **eq: Any) -> list[dict]:
        """Every record of a kind, optionally only those whose fields equal `eq`."""
        return self.store.select(kind, scope=scope, eq=eq)

    def add(self, kind: str, fields: dict, *, scope: int | None = None) -> dict:
        """Add a record, filling what `fields` leaves out with the kind's defaults."""
        if kind not in self.id_bases:
            raise ValueError(f"the {self.name} sandbox has no {kind!r} records")
        body = self.touch(kind, {**self.defaults(kind), **fields})
        return self.store.insert(kind, body, scope=scope)

    def update(self, kind: str, record_id: int, **fields: Any) -> dict:
        """Change fields of a record (a nested dict is merged one level deep), as if a
        person edited it in the product: its change stamp moves."""
        with self.store.transaction():
            body = self.store.get(kind, record_id)
            if body is None:
                raise KeyError(f"no {kind} {record_id}")
            for name, value in fields.items():
                if isinstance(value, dict) and isinstance(body.get(name), dict):
                    value = {**body[name], **value}
                body[name] = value
            return self.store.replace(kind, self.touch(kind, body))

    def remove(self, kind: str, record_id: int) -> None:
        """Delete a record, as if a person deleted it in the product (no trace left)."""
        if not self.store.delete(kind, record_id):
            raise KeyError(f"no {kind} {record_id}")

    def defaults(self, kind: str) -> dict:
        """Field values a record added by a test starts with (override per sandbox)."""
        return {}

    def touch(self, kind: str, body: dict) -> dict:
        """Mark a record as changed now (override: updated_at, revision, ...)."""
        return body

    # request log --------------------------------------------------------------------

    def requests(self, limit: int | None = None) -> list[dict]:
        """Recent requests, oldest first: method, path, query (secrets hidden), status,
        milliseconds, and the fault applied if any. Never headers or bodies."""
        entries = list(self._log)
        return entries[-limit:] if limit else entries

    def clear_requests(self) -> None:
        self._log.clear()

    def _record(self, req: Request, status: int | None, started: float, fault: Fault | None):
        query = {
            key: ["[hidden]"] * len(values) if key in SECRET_PARAMS else values
            for key, values in req.query.items()
        }
        entry = {
            "time": iso_z(utc_now()),
            "method": req.method,
            "path": req.path,
            "query": query,
            "status": status,
            "ms": round((time.monotonic() - started) * 1000, 1),
        }
        if fault:
            entry["fault"] = fault.kind
        self._log.append(entry)

    # wire hooks ---------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        """The body of an error answer in this wire format."""
        return {"error": message}

    def rate_limited(self, state: RateState) -> Response:
        """The answer once a rate-limit window is exhausted."""
        return Response(429, self.error_body(429, "Too many requests"))

    # dispatch -----------------------------------------------------------------------

    def _collect_routes(self) -> list[tuple[str, re.Pattern, Callable]]:
        found = []
        for name in dir(type(self)):
            handler = getattr(type(self), name)
            for method, pattern in getattr(handler, "routes", ()):
                found.append((method, _compile(pattern), getattr(self, name)))
        return found

    def add_route(self, method: str, pattern: str, handler: Callable) -> None:
        """Serve METHOD PATTERN with `handler(request)` (for routes made from data)."""
        self._routes.append((method, _compile(pattern), handler))

    def _parse(self, http: BaseHTTPRequestHandler) -> Request:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        host = http.headers.get("Host") or f"{self.host}:{self.port}"
        return Request(
            method=http.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=http.headers,
            body=http.rfile.read(length) if length else b"",
            base_url=f"http://{host}",
        )

    def _handle(self, req: Request) -> Response:
        allowed = []
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if not match:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            req.params = {k: int(v) if v.isdigit() else v for k, v in match.groupdict().items()}
            result = handler(req)
            return result if isinstance(result, Response) else Response(200, result)
        if allowed:
            raise Abort(
                405, f"{req.method} is not allowed here", headers={"Allow": ", ".join(allowed)}
            )
        raise Abort(404, f"No route for {req.method} {req.path}")

    def _error(self, exc: Abort) -> Response:
        body = exc.body if exc.body is not None else self.error_body(exc.status, exc.message)
        return Response(exc.status, body, dict(exc.headers))

    def dispatch(self, http: BaseHTTPRequestHandler) -> None:
        """Answer one request: faults, rate limits, the route, the log."""
        started = time.monotonic()
        req = self._parse(http)
        control = req.path.startswith("/_sandbox/")
        rate = None if control else self.limiter.hit(time.time())  # every call counts
        fault = None if control else self.faults.take({"status", "html"}, req.method, req.path)
        try:
            if fault:
                raise self._fault_answer(fault)
            response = self._handle(req) if control or rate.allowed else self.rate_limited(rate)
        except Abort as exc:
            response = self._error(exc)
        except Exception:
            log.exception("%s sandbox failed on %s %s", self.name, req.method, req.path)
            response = Response(500, self.error_body(500, "Internal sandbox error"))

        if not control and response.status < 500:
            # A write was performed only if it succeeded; a refused one drops nothing.
            kinds = {"drop_after_write", "malformed_json"} if response.status < 300 else set()
            after = self.faults.take(kinds or {"malformed_json"}, req.method, req.path)
            if after and after.kind == "drop_after_write":
                self._record(req, None, started, after)
                self._drop(http)
                return
            if after:
                fault = after
                encoded, _ = response.encode()
                response.body = encoded[: len(encoded) // 2] or b"{"
                response.content_type = "application/json"
        if not control and (slow := self.faults.take({"slow"}, req.method, req.path)):
            # Done, but answered late: a client that gives up first cannot know a write
            # happened (it did).
            fault = slow
            self._stopping.wait(slow.seconds)
        if rate is not None and self.rate_limit_headers:
            response.headers = {**rate.headers(), **response.headers}
        if not control:
            self._record(req, response.status, started, fault)
        self._write(http, response)

    def _fault_answer(self, fault: Fault) -> Abort:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.kind == "html":
            status = fault.status or 502
            reason = BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
            page = HTML_ERROR_PAGE.format(status=status, reason=reason)
            return Abort(
                status, body=page.encode(), headers={**headers, "Content-Type": "text/html"}
            )
        if fault.status == 429 and self.rate_limit_headers:
            # An exhausted window, as a real 429 would describe it.
            reset = int(time.time()) + (fault.retry_after or 1)
            headers.update({"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": str(reset)})
        message = BaseHTTPRequestHandler.responses.get(fault.status, ("Error",))[0]
        return Abort(fault.status, message, headers=headers)

    @staticmethod
    def _drop(http: BaseHTTPRequestHandler) -> None:
        http.close_connection = True
        with contextlib.suppress(OSError):  # the client may be gone already
            http.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _write(http: BaseHTTPRequestHandler, response: Response) -> None:
        payload, content_type = response.encode()
        headers = {"Content-Type": content_type, **response.headers}
        try:
            http.send_response(response.status)
            for name, value in headers.items():
                http.send_header(name, value)
            http.send_header("Content-Length", str(len(payload)))
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            http.close_connection = True  # the client gave up (a slow fault beyond its timeout)

    # control and inspection: /_sandbox/ ---------------------------------------------

    @route("GET", "/_sandbox/state")
    def _state(self, req: Request) -> dict:
        return self.summary()

    @route("GET", "/_sandbox/requests")
    def _requests(self, req: Request) -> dict:
        return {"requests": self.requests(req.int_arg("limit", 200))}

    @route("DELETE", "/_sandbox/requests")
    def _clear_requests(self, req: Request) -> Response:
        self.clear_requests()
        return Response(204)

    @route("GET", "/_sandbox/faults")
    def _faults(self, req: Request) -> dict:
        return {"faults": self.faults.active(), "kinds": FAULT_KINDS}

    @route("POST", "/_sandbox/faults")
    def _set_faults(self, req: Request) -> Response:
        """One fault object, or {"faults": [...]}: {"kind": "status", "status": 503, ...}."""
        data = req.json()
        rules = data.get("faults", [data]) if isinstance(data, dict) else data
        try:
            for rule in rules:
                self.faults.set(**rule)
        except (TypeError, ValueError, AttributeError) as exc:
            raise Abort(400, body={"error": str(exc)}) from None
        return Response(201, {"faults": self.faults.active()})

    @route("DELETE", "/_sandbox/faults")
    def _clear_faults(self, req: Request) -> Response:
        self.faults.clear()
        return Response(204)

    @route("POST", "/_sandbox/reset")
    def _reset(self, req: Request) -> dict:
        """Generate the data afresh; the body may change {"scale", "seed"}."""
        options = req.json() or {}
        try:
            self.reset(**options)
        except (TypeError, ValueError) as exc:
            raise Abort(400, body={"error": str(exc)}) from None
        return self.summary()

    @route("GET", "/_sandbox/records/{kind:word}")
    def _list_records(self, req: Request) -> dict:
        per_page = min(req.int_arg("per_page", 100), 1000)
        page = max(req.int_arg("page", 1), 1)
        scope = req.int_arg("scope")
        return {
            "kind": req.params["kind"],
            "total": self.store.count(req.params["kind"], scope=scope),
            "records": self.store.select(
                req.params["kind"], scope=scope, limit=per_page, offset=(page - 1) * per_page
            ),
        }

    @route("GET", "/_sandbox/records/{kind:word}/{id}")
    def _get_record(self, req: Request) -> dict:
        body = self.store.get(req.params["kind"], req.params["id"])
        if body is None:
            raise Abort(404, body={"error": "no such record"})
        return body

    @route("POST", "/_sandbox/records/{kind:word}")
    def _add_record(self, req: Request) -> Response:
        """Add a record: body = its fields, `?scope=` the company/project/account it lives in."""
        fields = req.json()
        if not isinstance(fields, dict):
            raise Abort(400, body={"error": "send the record's fields as a JSON object"})
        try:
            added = self.add(req.params["kind"], fields, scope=req.int_arg("scope"))
        except ValueError as exc:
            raise Abort(400, body={"error": str(exc)}) from None
        return Response(201, added)

    @route("PATCH", "/_sandbox/records/{kind:word}/{id}")
    def _update_record(self, req: Request) -> dict:
        fields = req.json()
        if not isinstance(fields, dict):
            raise Abort(400, body={"error": "send the fields to change as a JSON object"})
        try:
            return self.update(req.params["kind"], req.params["id"], **fields)
        except KeyError:
            raise Abort(404, body={"error": "no such record"}) from None
