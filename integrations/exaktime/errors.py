"""ExakTime's errors: one typed family, each knowing whether a retry can help.

ExakTime answers `{"error": {"code", "message", "details"}}`; `error_from_response`
turns that (or any other body) into a sentence a person can act on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from integrations.errors import (
    MAX_MESSAGE,
    IntegrationError,
    OutcomeUnknown,
    TryLater,
    body_or_text,
    service_says,
    shortened,
)
from integrations.http import retry_after_seconds
from integrations.redaction import redact

#: What to do, by status, after ExakTime's own words.
STATUS_HINTS: dict[int, str] = {
    401: "The ExakTime API key is missing or wrong: check it on the connection.",
    403: "The ExakTime API key is read-only; Linx needs a read-write key.",
    409: "Another ExakTime record already uses this ID (or name); change one of them.",
}


class ExakTimeError(IntegrationError):
    """ExakTime answered with an error, or could not be reached."""

    service = "ExakTime"
    permanent = True


class ExakTimeAuthError(ExakTimeError):
    """401: the API key is missing or wrong."""


class ExakTimePermissionError(ExakTimeError):
    """403: the API key may not write."""


class ExakTimeNotFound(ExakTimeError):
    """404: no record with that id."""


class _WithFields(ExakTimeError):
    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field_errors: Mapping[str, tuple[str, ...]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.code = code
        self.field_errors = dict(field_errors or {})


class ExakTimeConflict(_WithFields):
    """409: a duplicate `identifier` (or `name`, for cost codes)."""


class ExakTimeValidationError(_WithFields):
    """422 (or 400): ExakTime rejected the data; `field_errors` names the fields."""


class ExakTimeRateLimited(TryLater, ExakTimeError):
    """429 that outlasted Linx's patience; `retry_after` says when to come back."""


class ExakTimeUnavailable(TryLater, ExakTimeError):
    """ExakTime is down, overloaded or unreachable; the system will retry later."""


class ExakTimeOutcomeUnknown(OutcomeUnknown, ExakTimeError):
    """A write may or may not have reached ExakTime: reconcile, never re-send blindly."""

    service = "ExakTime"
    permanent = False


@dataclass(frozen=True)
class ErrorDetails:
    message: str
    code: str | None = None
    field_errors: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _texts(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value.strip(),)
    if isinstance(value, list | tuple):
        return tuple(t for v in value for t in _texts(v))
    if isinstance(value, Mapping):
        return tuple(f"{k}: {t}" for k, v in value.items() for t in _texts(v))
    return (str(value),)


def parse_error_body(response: requests.Response) -> ErrorDetails:
    """ExakTime's error envelope, or whatever else came back, as the most specific text."""
    body, text = body_or_text(response)
    if text:
        return ErrorDetails(text)
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        # Outside the contract's envelope: take the likeliest field, else everything.
        loose = error or (body.get("message") if isinstance(body, Mapping) else None) or body
        text = "; ".join(_texts(loose))
        return ErrorDetails(text[:MAX_MESSAGE] or response.reason or "no details given")
    code = error.get("code")
    details = error.get("details")
    fields: dict[str, tuple[str, ...]] = {}
    if isinstance(details, Mapping):
        # Details may nest the field map under "fields".
        inner = details.get("fields")
        source = inner if isinstance(inner, Mapping) else details
        fields = {str(k): _texts(v) or ("invalid",) for k, v in source.items()}
    message = "; ".join(_texts(error.get("message"))) or (str(code) if code else "")
    specific = "; ".join(f"{k}: {'; '.join(v)}" for k, v in fields.items())
    if specific and specific not in message:
        message = f"{message.rstrip('.')}: {specific}" if message else specific
    message = shortened(message, response.reason)
    return ErrorDetails(message, str(code) if code else None, fields)


def exaktime_says(message: str, status: int | None) -> str:
    """`ExakTime says: <message> (<status>). <hint>`"""
    return service_says(
        "ExakTime", message, status, STATUS_HINTS.get(status) if status is not None else None
    )


def error_from_response(
    response: requests.Response, now: float | None = None, secrets: tuple[str, ...] = ()
) -> ExakTimeError:
    """The typed error for a failed ExakTime response (`secrets` blanked from the text)."""
    status = response.status_code
    now = time.time() if now is None else now
    details = parse_error_body(response)
    message = redact(exaktime_says(details.message, status), secrets)
    if status == 401:
        return ExakTimeAuthError(message, status=status)
    if status == 403:
        return ExakTimePermissionError(message, status=status)
    if status == 404:
        return ExakTimeNotFound(message, status=status)
    if status == 409:
        return ExakTimeConflict(
            message, code=details.code, field_errors=details.field_errors, status=status
        )
    if status in (400, 422):
        return ExakTimeValidationError(
            message, code=details.code, field_errors=details.field_errors, status=status
        )
    if status == 429:
        return ExakTimeRateLimited(
            message, retry_after=retry_after_seconds(response, now), status=status
        )
    if status >= 500 or status == 408:
        return ExakTimeUnavailable(
            message, retry_after=retry_after_seconds(response, now), status=status
        )
    return ExakTimeError(message, status=status)
