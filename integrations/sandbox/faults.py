"""What a sandbox does to its callers on purpose: rate-limit windows and injected faults."""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.sandbox.server import SandboxServer


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
