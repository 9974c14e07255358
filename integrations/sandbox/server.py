"""The sandbox server: one wire contract on loopback, its request log and controls."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from integrations.sandbox.faults import (
    FAULT_KINDS,
    HTML_ERROR_PAGE,
    Fault,
    Faults,
    RateLimiter,
    RateState,
)
from integrations.sandbox.store import Store, iso_z, utc_now
from integrations.sandbox.wire import Abort, Request, Response, compile_route, route

log = logging.getLogger(__name__)

STATE_DIR = Path(__file__).resolve().parents[2] / "var" / "sandbox"
# Query parameters that may carry a secret; the request log shows their names only.
SECRET_PARAMS = frozenset({"client_secret", "code", "refresh_token", "access_token", "token"})


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
        latency_ms: float = 0,
    ):
        """`latency_ms`: how long every API answer is held back (control paths under
        `/_sandbox/` never are), so a benchmark shows what a user on the internet waits
        for: a real service is tens of milliseconds away, loopback is not."""
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be 0 or more, not {latency_ms}")
        self.latency = latency_ms / 1000
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
                found.append((method, compile_route(pattern), getattr(self, name)))
        return found

    def add_route(self, method: str, pattern: str, handler: Callable) -> None:
        """Serve METHOD PATTERN with `handler(request)` (for routes made from data)."""
        self._routes.append((method, compile_route(pattern), handler))

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
        if self.latency and not control:
            # The way there and back, before any work (a rate limit counts the call when
            # it arrives); concurrent requests each wait their own, as on a network.
            self._stopping.wait(self.latency)
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
