"""The errors every call to an outside system can raise, whichever service it is."""

from __future__ import annotations

from typing import Any

import requests

from integrations.redaction import redact, summarize_text


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


class TryLater(IntegrationError):
    """A refusal that passes with time (rate limit, outage): `retry_after` says when to
    come back, when the service said so. Each service's own error class comes after it."""

    permanent = False

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


#: The longest service message kept; error pages and long lists are cut to this.
MAX_MESSAGE = 500


def service_says(service: str, message: str, status: int | None, hint: str | None) -> str:
    """`<service> says: <message> (<status>). <hint>`: their words first, then ours."""
    text = message.strip().rstrip(".")
    sentence = f"{service} says: {text} ({status})." if status else f"{service} says: {text}."
    return f"{sentence} {hint}" if hint else sentence


def shortened(message: str, reason: str | None) -> str:
    """A service's message, or the status's reason phrase, at most `MAX_MESSAGE` long."""
    message = message or reason or "no details given"
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return message


def body_or_text(response: requests.Response) -> tuple[Any, str]:
    """An error answer's JSON body and "", or (when it is not JSON: an error page, plain
    text) None and one readable line of it."""
    try:
        return response.json(), ""
    except ValueError:
        return None, shortened(summarize_text(response.content or b""), response.reason)
