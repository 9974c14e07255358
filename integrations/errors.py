"""The errors every call to an outside system can raise, whichever service it is."""

from __future__ import annotations

from typing import Any

from integrations.redaction import redact


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
