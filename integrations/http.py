"""The transport both clients use: one session, timeouts, retries and rate-limit pacing.

A client owns one `HttpClient` (one `requests.Session`, so connections are pooled).
`HttpClient.request` sends a call, waits out rate limits, retries transient failures
and returns the final response; turning a 4xx/5xx body into a typed error is the
client's job, because each service words its errors differently. Redaction, the
shared errors and the readers of values on the wire live in their own modules.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self, TypedDict
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from integrations.addresses import RefusedAddress, guarded_session
from integrations.early_send import EarlySend
from integrations.errors import IntegrationError, OutcomeUnknown
from integrations.redaction import redact, summarize_text
from linx import __version__

logger = logging.getLogger(__name__)

USER_AGENT = f"Linx/{__version__} (+python-requests)"
#: (connect, read) seconds. A read that hangs is abandoned, never waited on for minutes.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 60.0)
#: Methods whose repetition cannot do a thing twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

# Retry policy ------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries, and how it paces itself against rate limits."""

    #: Transient failures retried (the seed product's floor is 5 at 1-second intervals).
    max_retries: int = 6
    #: First retry waits between `base_delay` and twice that; each cap doubles.
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: Total seconds of backoff one call may spend before it gives up.
    max_total_wait: float = 60.0
    retry_statuses: frozenset[int] = frozenset({500, 502, 504})
    #: For POST/PATCH these mean the server may have acted: no blind repeat.
    write_unknown_statuses: frozenset[int] = frozenset({500, 502, 504})
    #: A 429/503 asking for a longer wait than this is handed back, not slept on.
    max_rate_limit_wait: float = 120.0
    max_rate_limit_retries: int = 5
    #: Pacing starts when Remaining falls to max(pace_min_remaining, limit * pace_fraction).
    pace_fraction: float = 0.2
    pace_min_remaining: int = 5

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number `retry` (0-based): full jitter above `base_delay`.

        The floor keeps Linx at least as patient as the seed's 1-second retries.
        """
        cap = min(self.max_delay, self.base_delay * 2 ** (retry + 1))
        return rng.uniform(self.base_delay, max(self.base_delay, cap))


def header_float(headers: Mapping[str, str], name: str) -> float | None:
    """A numeric header, or None when it is absent or unreadable."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(str(raw).strip())
    except ValueError:
        return None


def _server_now(headers: Mapping[str, str], fallback: float) -> float:
    """The server's clock from `Date` (Procore: measure Reset against it, not ours)."""
    raw = headers.get("Date")
    if raw:
        try:
            return email.utils.parsedate_to_datetime(raw).timestamp()
        except (TypeError, ValueError):
            pass
    return fallback


def _reset_in(headers: Mapping[str, str], now: float) -> float | None:
    reset = header_float(headers, "X-Rate-Limit-Reset")
    if reset is None:
        return None
    # Unix seconds per the contract; a small number can only be "seconds from now".
    if reset < 1_000_000_000:
        return reset
    return reset - _server_now(headers, now)


def retry_after_seconds(response: requests.Response, now: float) -> float | None:
    """How long a 429/503 asks to wait: Retry-After wins, then X-Rate-Limit-Reset."""
    raw = response.headers.get("Retry-After")
    if raw:
        seconds = header_float(response.headers, "Retry-After")
        if seconds is None:
            try:
                seconds = email.utils.parsedate_to_datetime(raw).timestamp() - _server_now(
                    response.headers, now
                )
            except (TypeError, ValueError):
                seconds = None
        if seconds is not None:
            return max(seconds, 0.0)
    if response.status_code == 429:
        reset_in = _reset_in(response.headers, now)
        if reset_in is not None:
            return max(reset_in, 0.0)
    return None


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    """False only when the failure happened while connecting, before any byte was sent."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError):
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, MaxRetryError):
            inner = inner.reason
        # NewConnectionError and NameResolutionError are ConnectTimeoutError subclasses.
        if isinstance(inner, ConnectTimeoutError):
            return False
    return True


def _refused_address(exc: requests.RequestException) -> RefusedAddress | None:
    """The address check that stopped the connection, if that is what failed."""
    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        inner = inner.reason
    return inner if isinstance(inner, RefusedAddress) else None


_UNUSABLE_REQUEST = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
)


@dataclass
class _Budget:
    """The latest rate-limit window one host told us about."""

    limit: float | None
    remaining: float
    reset_at: float  # on our clock


@dataclass(frozen=True)
class _Call:
    """One call as `HttpClient.request` was asked to make it."""

    method: str
    url: str
    host: str
    path: str
    #: Whether sending it twice cannot do a thing twice.
    repeatable: bool
    #: What `requests` sends besides method and URL (params, body, headers, timeout).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tries:
    """What one call has spent so far: transient retries, their backoff, rate-limit waits."""

    retries: int = 0
    waited: float = 0.0
    rate_waits: int = 0
    rested_until: float = 0.0  # the end of the last rate-limit wait this call slept


class HttpOptions(TypedDict, total=False):
    """What a service's client passes through to its `HttpClient` (tests fake the clock)."""

    timeout: tuple[float, float]
    retry: RetryPolicy | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    rng: random.Random | None
    session: requests.Session | None


# The HTTP client ---------------------------------------------------------------------


class HttpClient:
    """One pooled session to one service, with its retry policy and rate-limit pacing."""

    def __init__(
        self,
        service: str,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        unavailable: type[IntegrationError] = IntegrationError,
        outcome_unknown: type[IntegrationError] = OutcomeUnknown,
    ) -> None:
        self.service = service
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        # Jitter only spreads retries out; nothing secret depends on it.
        self._rng = rng or random.Random()  # noqa: S311
        # Connects only to public addresses (and loopback): see integrations.addresses.
        self.session = session or guarded_session()
        # With `trust_env`, requests reads the environment's proxies and CA bundle, and
        # looks for ~/.netrc, on every request (a tenth of a small request's own work):
        # they are read once per host instead (`_environment`), netrc not at all (every
        # call carries its own credentials).
        self._trusts_environment = self.session.trust_env
        self.session.trust_env = False
        self._environments: dict[str, dict[str, Any]] = {}
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self._unavailable = unavailable
        self._outcome_unknown = outcome_unknown
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
        # Host → when the wait a 429 or 503 asked for ends: the client's other calls
        # (threads sending writes side by side) hold back until then too.
        self._held_until: dict[str, float] = {}
        self._secrets: list[str] = []

    def __repr__(self) -> str:
        return f"HttpClient(service={self.service!r})"

    def add_secret(self, value: str | None) -> None:
        """Remember a secret so it is blanked out of any text this client produces."""
        with self._lock:
            if value and value not in self._secrets:
                self._secrets.append(value)
                # Access tokens rotate; the oldest ones no longer matter.
                del self._secrets[:-20]

    @property
    def secrets(self) -> tuple[str, ...]:
        """The literal secrets this client blanks out."""
        with self._lock:
            return tuple(self._secrets)

    def redact(self, value: Any) -> Any:
        """`redact()` plus the literal secrets this client was told about."""
        return redact(value, self.secrets)

    def close(self) -> None:
        self.session.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        idempotent: bool | None = None,
        early: EarlySend | None = None,
    ) -> requests.Response:
        """Send one call, retrying what is safe to retry; return the final response.

        Raises the client's `unavailable` error when transient failures outlast the
        policy, and its `outcome_unknown` error when a non-idempotent call may have
        reached the server (never re-sent). `idempotent` overrides the method's rule.
        ``early``: the call's first try, already sent (`send_now`).
        """
        method = method.upper()
        parts = urlsplit(url)
        call = _Call(
            method=method,
            url=url,
            host=parts.netloc,
            path=parts.path or "/",
            repeatable=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
            options={
                "params": params,
                "json": json,
                "data": data,
                "headers": headers,
                "timeout": timeout or self.timeout,
                **self._environment(parts.scheme, parts.netloc),
            },
        )
        tries = _Tries()
        while True:
            if early is None:  # an early try was held and paced when it was sent
                self._hold(call.host, tries)
                self._pace(call.host)
            sent, early = early, None
            try:
                response = self._send(call, sent)
            except requests.RequestException as exc:
                self._retry_after_failure(call, tries, exc)
                continue
            wait = self._asked_wait(call, response)
            if wait is not None:
                if self._wait_out(call.host, tries, wait):
                    continue
                return response
            if not self._is_transient(response.status_code):
                return response
            self._refuse_unknown_write(call, response.status_code)
            if not self._back_off(call, tries, response.status_code):
                return response

    def _environment(self, scheme: str, host: str) -> dict[str, Any]:
        """The proxies (honouring NO_PROXY) and CA bundle the environment sets for this
        host, as requests would read them for each request; read once per host."""
        if not self._trusts_environment:
            return {}
        origin = f"{scheme}://{host}"
        found = self._environments.get(origin)
        if found is None:
            found = {}
            if proxies := requests.utils.get_environ_proxies(f"{origin}/"):
                found["proxies"] = proxies
            if bundle := os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"):
                found["verify"] = bundle
            self._environments[origin] = found
        return found

    def send_now(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str],
    ) -> EarlySend | None:
        """Write a call now, on this thread, and read its answer later (see `early_send`):
        hand it to `request` as ``early``, which takes the answer by every rule of a call
        (a 429 waited out, a 5xx retried, a GET whose answer could not be read sent in
        full, a POST's an unknown outcome). None, with nothing sent, when it cannot go
        early: `request` then sends it in full."""
        method, parts = method.upper(), urlsplit(url)
        environment = self._environment(parts.scheme, parts.netloc)
        if "proxies" in environment:
            return None

        def held_and_paced() -> None:  # as `request` does before a call, once it will go
            self._hold(parts.netloc, _Tries())
            self._pace(parts.netloc)

        return EarlySend.send(
            self.session,
            method,
            url,
            params=params,
            json=json,
            headers=headers,
            timeout=self.timeout,
            verify=environment.get("verify", True),
            repeatable=method in IDEMPOTENT_METHODS,
            before=held_and_paced,
        )

    def _send(self, call: _Call, early: EarlySend | None = None) -> requests.Response:
        """One attempt, timed for the debug log, with what its answer says of rate limits
        (``early``: sent already, its answer read here unless it cannot be)."""
        started = time.perf_counter()
        try:
            response = early.answer() if early is not None else None
            if response is None:
                response = self.session.request(
                    call.method,
                    call.url,
                    **call.options,
                    # A redirect could carry our API key or company header to another host.
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            elapsed = (time.perf_counter() - started) * 1000
            logger.debug("%s %s %s %dms", call.method, call.path, type(exc).__name__, elapsed)
            raise
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("%s %s %s %dms", call.method, call.path, response.status_code, elapsed)
        self._observe(call.host, response)
        return response

    def _retry_after_failure(
        self, call: _Call, tries: _Tries, exc: requests.RequestException
    ) -> None:
        """Back off after a failed attempt, or raise when retrying cannot help or is unsafe."""
        reason = self._describe(exc)
        if refused := _refused_address(exc):
            raise self._unavailable(
                f"Cannot call {self.service}: {refused}. Check the URL on the connection.",
                permanent=True,
            ) from exc
        if isinstance(exc, _UNUSABLE_REQUEST):
            raise self._unavailable(
                f"Cannot call {self.service}: {reason}. Check the URL on the connection.",
                permanent=True,
            ) from exc
        if not call.repeatable and _may_have_been_sent(exc):
            raise self._outcome_unknown(
                f"{self.service} may or may not have carried out {call.method} {call.path}: "
                f"the connection was lost after the request was sent ({reason}). "
                "Linx checks what is there before sending it again."
            ) from exc
        if not self._back_off(call, tries, reason):
            raise self._unavailable(
                f"{self.service} did not answer {call.method} {call.path} after "
                f"{tries.retries + 1} tries ({reason})."
            ) from exc

    def _asked_wait(self, call: _Call, response: requests.Response) -> float | None:
        """How long a 429 (or a 503 with Retry-After) asks to wait; None when it names none.

        A 429 naming no wait is then retried like any other transient failure.
        """
        status = response.status_code
        if not (status == 429 or (status == 503 and response.headers.get("Retry-After"))):
            return None
        wait = retry_after_seconds(response, self.clock())
        if status == 429:
            logger.warning(
                "%s %s %s: rate limited (429), asked to wait %s s",
                self.service,
                call.method,
                call.path,
                "?" if wait is None else f"{wait:.1f}",
            )
        return wait

    def _wait_out(self, host: str, tries: _Tries, wait: float) -> bool:
        """Sleep the wait a rate limit asked for; False when it is too long or one too many."""
        policy = self.retry
        if wait > policy.max_rate_limit_wait or tries.rate_waits >= policy.max_rate_limit_retries:
            return False
        # A reset already past (clock skew) still deserves a short pause.
        wait = max(wait, policy.base_delay)
        # This wait is the server's word; pacing must not add its own on top. It holds
        # for the whole connection: calls other threads make now wait it out as well.
        until = self.clock() + wait
        with self._lock:
            self._budgets.pop(host, None)
            self._held_until[host] = max(self._held_until.get(host, 0.0), until)
        tries.rested_until = until
        self.sleep(wait)
        with self._lock:  # waited out: calls made from now on need not wait for it
            if self._held_until.get(host) == until:
                del self._held_until[host]
        tries.rate_waits += 1
        return True

    def _hold(self, host: str, tries: _Tries) -> None:
        """Wait out what a 429 or 503 asked of another call to this host (not twice of
        the call that slept it)."""
        with self._lock:
            until = self._held_until.get(host, 0.0)
        wait = until - max(self.clock(), tries.rested_until)
        if wait > 0:
            logger.debug(
                "%s: waiting %.2fs, as the service asked, before %s", self.service, wait, host
            )
            tries.rested_until = until
            self.sleep(wait)

    def _is_transient(self, status: int) -> bool:
        return status in self.retry.retry_statuses or status in (429, 503)

    def _refuse_unknown_write(self, call: _Call, status: int) -> None:
        """A write answered with a 5xx may have been carried out: never repeat it blindly."""
        if not call.repeatable and status in self.retry.write_unknown_statuses:
            raise self._outcome_unknown(
                f"{self.service} answered {call.method} {call.path} with {status}: it may or "
                "may not have carried it out. Linx checks what is there before "
                "sending it again.",
                status=status,
            )

    def _back_off(self, call: _Call, tries: _Tries, reason: object) -> bool:
        """Sleep before the next try of a transient failure; False when the policy is spent."""
        delay = self._next_backoff(tries.retries, tries.waited)
        if delay is None:
            return False
        logger.info(
            "%s %s %s: %s, retry %d in %.1fs",
            self.service,
            call.method,
            call.path,
            reason,
            tries.retries + 1,
            delay,
        )
        self.sleep(delay)
        tries.retries += 1
        tries.waited += delay
        return True

    def _next_backoff(self, retries: int, waited: float) -> float | None:
        policy = self.retry
        if retries >= policy.max_retries:
            return None
        budget = policy.max_total_wait - waited
        if budget <= 0:
            return None
        return min(policy.backoff(retries, self._rng), budget)

    def _describe(self, exc: requests.RequestException) -> str:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            reason = "connecting timed out"
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            reason = "no answer within the read timeout"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            reason = "connection failed" if not _may_have_been_sent(exc) else "connection lost"
        else:
            reason = type(exc).__name__
        detail = summarize_text(str(exc), 200)
        return self.redact(f"{reason}: {detail}" if detail else reason)

    def _observe(self, host: str, response: requests.Response) -> None:
        """Remember the rate-limit window the response describes."""
        headers = response.headers
        remaining = header_float(headers, "X-Rate-Limit-Remaining")
        now = self.clock()
        reset_in = _reset_in(headers, now)
        if remaining is None or reset_in is None:
            return
        budget = _Budget(header_float(headers, "X-Rate-Limit-Limit"), remaining, now + reset_in)
        with self._lock:
            self._budgets[host] = budget

    def _pace(self, host: str) -> None:
        """Sleep before a call when the window is nearly spent, spreading what is left."""
        policy = self.retry
        with self._lock:
            budget = self._budgets.get(host)
            if budget is None:
                return
            now = self.clock()
            left = budget.reset_at - now
            if left <= 0:
                del self._budgets[host]
                return
            threshold = max(policy.pace_min_remaining, (budget.limit or 0) * policy.pace_fraction)
            wait = 0.0
            if budget.remaining <= threshold:
                wait = left / max(budget.remaining, 1)
                if wait > policy.max_rate_limit_wait:
                    # Sleeping that long helps nobody: let the server's 429 decide.
                    wait = 0.0
            # Count this call against the window so the next one paces on its own.
            budget.remaining -= 1
        if wait > 0:
            logger.debug("%s: pacing %.2fs before the next call to %s", self.service, wait, host)
            self.sleep(wait)


class ServiceClient:
    """What the Procore and ExakTime clients share: one `HttpClient`, closed with them."""

    http: HttpClient

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "USER_AGENT",
    "HttpClient",
    "HttpOptions",
    "RetryPolicy",
    "ServiceClient",
    "retry_after_seconds",
]
