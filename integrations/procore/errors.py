"""Procore's errors: one typed family, each knowing whether a retry can help.

Procore's error bodies vary (`message`, `error`, `errors` as a map or a list, plain
text or HTML); `parse_error_body` reads them all and keeps the most specific message,
and `error_from_response` wraps it in a sentence a person can act on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from integrations.errors import (
    IntegrationError,
    OutcomeUnknown,
    TryLater,
    body_or_text,
    service_says,
    shortened,
)
from integrations.http import retry_after_seconds
from integrations.redaction import redact, summarize_text

RECONNECT = "Reconnect to Procore from the connection's page."

#: Known Procore messages (matched case-insensitively inside the message) and what to do.
MESSAGE_HINTS: tuple[tuple[str, str], ...] = (
    (
        "App is not connected to this company",
        "Install the Linx app in Procore's App Management, then reconnect.",
    ),
    (
        "You have insufficient rights to access the CostCode",
        "Cost codes are not enabled for this company. In Procore, go to More Items > System "
        "Management > Licensing > Enable/Disable Features, click MODIFY, mark Cost Codes and "
        "click ENABLE.",
    ),
    (
        "Sub Jobs are not enabled",
        "Sub-jobs are not enabled for this company. In Procore, go to Company Tools > Admin > "
        "Work Breakdown Structure, click the gear near Segments, tick 'Enable the usage of Sub "
        "Jobs on projects' and save; or turn off sub-job import on the connection.",
    ),
    (
        "Missing Procore-Company-Id header!",
        "Choose the Procore company on the connection.",
    ),
    ("The access token is invalid", RECONNECT),
    ("The refresh token is invalid", RECONNECT),
    ("invalid_client", "Check the Procore client ID and secret on the connection."),
)

#: What to do when the message itself is not one we know.
STATUS_HINTS: dict[int, str] = {
    401: RECONNECT,
    404: "The record is gone, or the Linx user in Procore cannot see it "
    "(check the app's permitted projects).",
}

REFRESH_REFUSED = (
    "Procore refused the saved sign-in (the refresh token was already used or revoked). "
    "Reconnect to Procore from the connection's page."
)


class ProcoreError(IntegrationError):
    """Procore answered with an error, or could not be reached."""

    service = "Procore"
    permanent = True


class ProcoreAuthError(ProcoreError):
    """Linx's sign-in to Procore no longer works: reconnect to Procore."""


class ProcorePermissionError(ProcoreError):
    """403: the Linx app or user may not do this in Procore."""


class ProcoreNotFound(ProcoreError):
    """404: the record is gone, or the Linx user cannot see it."""


class ProcoreValidationError(ProcoreError):
    """422: Procore rejected the data; per-field and per-entry errors are kept."""

    def __init__(
        self,
        message: str,
        *,
        field_errors: Mapping[str, tuple[str, ...]] | None = None,
        index_errors: Mapping[int, tuple[str, ...]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.field_errors = dict(field_errors or {})
        self.index_errors = dict(index_errors or {})


class ProcoreRateLimited(TryLater, ProcoreError):
    """429 that outlasted Linx's patience; `retry_after` says when to come back."""


class ProcoreUnavailable(TryLater, ProcoreError):
    """Procore is down, overloaded or unreachable; the system will retry later."""


class ProcoreOutcomeUnknown(OutcomeUnknown, ProcoreError):
    """A write may or may not have reached Procore: reconcile, never re-send blindly."""

    service = "Procore"
    permanent = False


@dataclass(frozen=True)
class ErrorDetails:
    """What an error body said, most specific first."""

    message: str
    field_errors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    index_errors: dict[int, tuple[str, ...]] = field(default_factory=dict)


_MAX_LISTED = 5


def _texts(value: Any) -> tuple[str, ...]:
    """A field's messages, whether Procore sent a string, a list or something nested."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return (value.strip(),)
    if isinstance(value, Mapping):
        inner = value.get("message") or value.get("error") or value.get("errors")
        if inner is not None:
            return _texts(inner)
        return tuple(f"{k}: {t}" for k, v in value.items() for t in _texts(v))
    if isinstance(value, list | tuple):
        return tuple(t for item in value for t in _texts(item))
    return (str(value),)


def _field_errors(errors: Mapping[str, Any]) -> tuple[str, dict[str, tuple[str, ...]]]:
    fields = {str(k): _texts(v) for k, v in errors.items() if _texts(v)}
    base = list(fields.get("base", ()))
    parts = base + [f"{k}: {t}" for k, texts in fields.items() if k != "base" for t in texts]
    return "; ".join(parts), fields


def _index_errors(errors: list[Any]) -> tuple[str, dict[int, tuple[str, ...]]]:
    by_index: dict[int, tuple[str, ...]] = {}
    loose: list[str] = []
    for item in errors:
        index = item.get("index") if isinstance(item, Mapping) else None
        if isinstance(index, int) and not isinstance(index, bool):
            texts = _texts({k: v for k, v in item.items() if k != "index"})
            by_index[index] = by_index.get(index, ()) + (texts or ("rejected",))
        else:
            loose.extend(_texts(item))
    parts = loose + [f"entry {i}: {'; '.join(t)}" for i, t in sorted(by_index.items())]
    if len(parts) > _MAX_LISTED:
        parts = [*parts[:_MAX_LISTED], f"and {len(parts) - _MAX_LISTED} more"]
    return "; ".join(parts), by_index


def parse_error_body(response: requests.Response) -> ErrorDetails:
    """Read any of Procore's error body shapes into the most specific message."""
    body, text = body_or_text(response)
    if text:
        return ErrorDetails(text)
    field_errors: dict[str, tuple[str, ...]] = {}
    index_errors: dict[int, tuple[str, ...]] = {}
    specific = ""
    general = ""
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, Mapping):
            specific, field_errors = _field_errors(errors)
        elif isinstance(errors, list):
            specific, index_errors = _index_errors(errors)
        elif errors:
            specific = "; ".join(_texts(errors))
        error = body.get("error")
        description = body.get("error_description")
        if description:
            # OAuth: {"error": "invalid_grant", "error_description": "..."}
            general = f"{'; '.join(_texts(description))} ({'; '.join(_texts(error))})"
        elif isinstance(error, Mapping):
            general = "; ".join(_texts(error))
        if not general:
            general = "; ".join(_texts(body.get("message")))
        if not general and error:
            general = "; ".join(_texts(error))
    elif isinstance(body, list):
        specific, index_errors = _index_errors(body)
    elif body is not None:
        general = str(body)
    if specific and general and general not in specific:
        message = f"{general.rstrip('.')}: {specific}"
    else:
        message = specific or general or summarize_text(response.content or b"")
    message = shortened(message, response.reason)
    return ErrorDetails(message, field_errors, index_errors)


def hint_for(message: str, status: int | None = None) -> str | None:
    """What a person should do about this message (None when Linx has no advice)."""
    lowered = message.lower()
    for needle, hint in MESSAGE_HINTS:
        if needle.lower() in lowered:
            return hint
    return STATUS_HINTS.get(status) if status is not None else None


def procore_says(message: str, status: int | None) -> str:
    """`Procore says: <message> (<status>). <hint>`"""
    return service_says("Procore", message, status, hint_for(message, status))


def error_from_response(
    response: requests.Response, now: float | None = None, secrets: tuple[str, ...] = ()
) -> ProcoreError:
    """The typed error for a failed Procore response.

    `now` (unix seconds) dates a Reset header; `secrets` are blanked out of the message
    in case Procore echoed one back.
    """
    status = response.status_code
    now = time.time() if now is None else now
    details = parse_error_body(response)
    message = redact(procore_says(details.message, status), secrets)
    kwargs: dict[str, Any] = {"status": status}
    if status == 401 or "token is invalid" in details.message.lower():
        return ProcoreAuthError(message, **kwargs)
    if status == 403:
        return ProcorePermissionError(message, **kwargs)
    if status == 404:
        return ProcoreNotFound(message, **kwargs)
    if status == 422:
        return ProcoreValidationError(
            message,
            field_errors=details.field_errors,
            index_errors=details.index_errors,
            **kwargs,
        )
    if status == 429:
        return ProcoreRateLimited(message, retry_after=retry_after_seconds(response, now), **kwargs)
    if status >= 500 or status == 408:
        return ProcoreUnavailable(message, retry_after=retry_after_seconds(response, now), **kwargs)
    return ProcoreError(message, **kwargs)
