"""The one HTTP layer both clients use: session, timeouts, retries, pacing, redaction.

A client owns one `HttpClient` (one `requests.Session`, so connections are pooled).
`HttpClient.request` sends a call, waits out rate limits, retries transient failures
and returns the final response; turning a 4xx/5xx body into a typed error is the
client's job, because each service words its errors differently.
"""

from __future__ import annotations

import email.utils
import html
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

from integrations.addresses import RefusedAddress, guarded_session
from linx import __version__

logger = logging.getLogger(__name__)

USER_AGENT = f"Linx/{__version__} (+python-requests)"
#: (connect, read) seconds. A read that hangs is abandoned, never waited on for minutes.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 60.0)
#: Methods whose repetition cannot do a thing twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


# Redaction ---------------------------------------------------------------------------

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


# Errors ------------------------------------------------------------------------------


class IntegrationError(Exception):
    """A call to an outside system failed; `permanent` says whether retrying can help."""

    service: str = "integration"
    permanent: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        permanent: bool | None = None,
        service: str | None = None,
    ) -> None:
        message = redact(str(message))
        super().__init__(message)
        self.message = message
        self.status = status
        if permanent is not None:
            self.permanent = permanent
        if service is not None:
            self.service = service

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(service={self.service!r}, status={self.status!r}, "
            f"permanent={self.permanent!r}, message={redact(self.message)!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes survive pickling (task queues pickle exceptions).
        return (type(self), (self.message,), self.__dict__)


class OutcomeUnknown(IntegrationError):
    """A write may or may not have happened: reconcile before sending it again."""

    permanent = False


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
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self._unavailable = unavailable
        self._outcome_unknown = outcome_unknown
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
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
    ) -> requests.Response:
        """Send one call, retrying what is safe to retry; return the final response.

        Raises the client's `unavailable` error when transient failures outlast the
        policy, and its `outcome_unknown` error when a non-idempotent call may have
        reached the server (never re-sent). `idempotent` overrides the method's rule.
        """
        method = method.upper()
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        parts = urlsplit(url)
        host, path = parts.netloc, parts.path or "/"
        policy = self.retry
        retries = 0
        waited = 0.0
        rate_waits = 0
        while True:
            self._pace(host)
            started = time.perf_counter()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    timeout=timeout or self.timeout,
                    # A redirect could carry our API key or company header to another host.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                elapsed = (time.perf_counter() - started) * 1000
                logger.debug("%s %s %s %dms", method, path, type(exc).__name__, elapsed)
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
                if not repeatable and _may_have_been_sent(exc):
                    raise self._outcome_unknown(
                        f"{self.service} may or may not have carried out {method} {path}: "
                        f"the connection was lost after the request was sent ({reason}). "
                        "Linx checks what is there before sending it again."
                    ) from exc
                delay = self._next_backoff(retries, waited)
                if delay is None:
                    raise self._unavailable(
                        f"{self.service} did not answer {method} {path} after "
                        f"{retries + 1} tries ({reason})."
                    ) from exc
                logger.info(
                    "%s %s %s: %s, retry %d in %.1fs",
                    self.service,
                    method,
                    path,
                    reason,
                    retries + 1,
                    delay,
                )
                self.sleep(delay)
                retries += 1
                waited += delay
                continue

            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            logger.debug("%s %s %s %dms", method, path, status, elapsed)
            self._observe(host, response)

            if status == 429 or (status == 503 and response.headers.get("Retry-After")):
                wait = retry_after_seconds(response, self.clock())
                if status == 429:
                    logger.warning(
                        "%s %s %s: rate limited (429), asked to wait %s s",
                        self.service,
                        method,
                        path,
                        "?" if wait is None else f"{wait:.1f}",
                    )
                if wait is not None:
                    if wait > policy.max_rate_limit_wait or rate_waits >= (
                        policy.max_rate_limit_retries
                    ):
                        return response
                    # A reset already past (clock skew) still deserves a short pause.
                    wait = max(wait, policy.base_delay)
                    # This wait is the server's word; pacing must not add its own on top.
                    with self._lock:
                        self._budgets.pop(host, None)
                    self.sleep(wait)
                    rate_waits += 1
                    continue
            if status in policy.retry_statuses or status in (429, 503):
                if not repeatable and status in policy.write_unknown_statuses:
                    raise self._outcome_unknown(
                        f"{self.service} answered {method} {path} with {status}: it may or "
                        "may not have carried it out. Linx checks what is there before "
                        "sending it again.",
                        status=status,
                    )
                delay = self._next_backoff(retries, waited)
                if delay is None:
                    return response
                logger.info(
                    "%s %s %s: %s, retry %d in %.1fs",
                    self.service,
                    method,
                    path,
                    status,
                    retries + 1,
                    delay,
                )
                self.sleep(delay)
                retries += 1
                waited += delay
                continue
            return response

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


# Values on the wire ------------------------------------------------------------------
# Both services send JSON whose types drift (ids as strings, numbers as text), so the
# records of both read their fields through these.


def as_int(value: Any) -> int | None:
    """An id or count as int (ids can exceed 32 bits); None when absent or blank."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, Mapping):
        return as_int(value.get("id"))
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(Decimal(str(value)))
        except (InvalidOperation, ValueError):
            return None


def as_str(value: Any) -> str:
    """Text, with None as the empty string."""
    return "" if value is None else str(value)


def as_opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def as_bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "y", "t"}
    return bool(value)


def as_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def as_datetime(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware datetime (a naive one is taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_date(value: Any) -> date | None:
    """A `YYYY-MM-DD` date (a full timestamp keeps its date part)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE = re.compile(r"[+-]?\d+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def parse_iso_date(text: str) -> date | None:
    """`YYYY-MM-DD`, or the date an ISO 8601 timestamp is written on; None otherwise.

    Stricter than `date.fromisoformat`, which also takes `20261118` or week dates, and
    than slicing, which would take `2026-11-18junk`.
    """
    try:
        if _ISO_DATE.fullmatch(text):
            return date.fromisoformat(text)
        if len(text) > 10 and _ISO_DATE.fullmatch(text[:10]) and text[10] in "T ":
            return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    return None


class Reader:
    """Reads one JSON object's fields strictly, noting each value it cannot read.

    The `as_*` readers above turn a value of the wrong type into None (or into other
    text) without a word; a record read that way carries a value its source never had.
    A `Reader` never does: a value present but unreadable is read as absent *and* noted in
    `problems`, in words that name the field and the value ("Procore's latitude 'north'
    is not a number"), so that the record can fail on its own row with that message.
    """

    def __init__(self, data: Mapping[str, Any], source: str) -> None:
        self.data = data
        self.source = source
        self.problems: list[str] = []

    def _bad(self, key: str, value: Any, wanted: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:79] + "…"
        self.problems.append(f"{self.source}'s {key} {shown} is not {wanted}")

    def _absent(self, key: str, value: Any, required: bool) -> bool:
        if value is None or value == "":
            if required:
                self.problems.append(f"it has no {key} in {self.source}")
            return True
        return False

    def text(self, key: str) -> str | None:
        """Text as sent; a whole number is taken as its digits (ids often come as numbers).

        Text holding a null character or half of a UTF-16 pair (JSON can carry both) is
        unreadable: PostgreSQL stores neither, and the second is not even valid UTF-8.
        """
        value = self.data.get(key)
        if isinstance(value, str) and _UNSTORABLE.search(value):
            if "\x00" in value:
                self._bad(key, value, "text without a null character")
            else:
                self._bad(key, value, "valid Unicode text (it holds half of a character pair)")
            return None
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self._bad(key, value, "text")
        return None

    def id(self, key: str = "id", *, required: bool = False) -> int | None:
        value = self.data.get(key)
        if self._absent(key, value, required):
            return None
        number = _whole(value)
        if number is None:
            self._bad(key, value, "an id")
        return number

    def count(self, key: str) -> int | None:
        """A whole number of something (minutes, ...)."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        number = _whole(value)
        if number is None:
            self._bad(key, value, "a whole number")
        return number

    def ref(self, key: str) -> int | None:
        """`<key>_id`, or the id of a nested `<key>` object (either may be sent)."""
        if self.data.get(f"{key}_id") not in (None, ""):
            return self.id(f"{key}_id")
        value = self.data.get(key)
        if isinstance(value, Mapping):
            value = value.get("id")
        if value is None or value == "":
            return None
        number = _whole(value)
        if number is None:
            self._bad(key, self.data.get(key), "an id")
        return number

    def ids(self, key: str) -> tuple[int, ...] | None:
        """A list of ids (or of objects with one); None when the key is absent."""
        values = self.data.get(key)
        if values is None:
            return None
        if not isinstance(values, list | tuple):
            self._bad(key, values, "a list of ids")
            return ()
        out = []
        for item in values:
            number = _whole(item.get("id") if isinstance(item, Mapping) else item)
            if number is None:
                self._bad(key, item, "an id")
            else:
                out.append(number)
        return tuple(out)

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        amount = self.decimal(key)
        return None if amount is None else float(amount)

    def decimal(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None or value == "":
            return None
        amount = None
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                amount = Decimal(str(value).strip())
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite():
            self._bad(key, value, "a number")
            return None
        return amount

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self._bad(key, value, "true or false")
        return default

    def date(self, key: str, *, required: bool = False) -> date | None:
        value = self.data.get(key)
        if self._absent(key, value, required):
            return None
        parsed = parse_iso_date(value) if isinstance(value, str) else None
        if parsed is None:
            self._bad(key, value, "a date (YYYY-MM-DD)")
        return parsed

    def moment(self, key: str, *, offset: bool = False) -> datetime | None:
        """An ISO 8601 time; without `offset` a time with none is taken as UTC."""
        value = self.data.get(key)
        if value is None or value == "":
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except (AttributeError, TypeError, ValueError):
            self._bad(key, value, "an ISO 8601 time")
            return None
        if parsed.tzinfo is None:
            if offset:
                self._bad(key, value, "a time with a UTC offset")
                return None
            parsed = parsed.replace(tzinfo=UTC)
        return parsed


def _whole(value: Any) -> int | None:
    """A whole number (an id) from an int or its digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value)
    return None


def iso_utc(moment: datetime) -> str:
    """A datetime as `YYYY-MM-DDTHH:MM:SSZ` (naive taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "DEFAULT_TIMEOUT",
    "IDEMPOTENT_METHODS",
    "REDACTED",
    "USER_AGENT",
    "HttpClient",
    "IntegrationError",
    "OutcomeUnknown",
    "Reader",
    "RetryPolicy",
    "redact",
    "retry_after_seconds",
    "summarize_text",
]
