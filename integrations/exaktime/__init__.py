"""ExakTime: the client, its records and its errors (contracts/exaktime.md)."""

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.errors import (
    ExakTimeAuthError,
    ExakTimeConflict,
    ExakTimeError,
    ExakTimeNotFound,
    ExakTimeOutcomeUnknown,
    ExakTimePermissionError,
    ExakTimeRateLimited,
    ExakTimeUnavailable,
    ExakTimeValidationError,
)

__all__ = [
    "ExakTimeAuthError",
    "ExakTimeClient",
    "ExakTimeConflict",
    "ExakTimeError",
    "ExakTimeNotFound",
    "ExakTimeOutcomeUnknown",
    "ExakTimePermissionError",
    "ExakTimeRateLimited",
    "ExakTimeUnavailable",
    "ExakTimeValidationError",
]
