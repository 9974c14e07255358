"""ExakTime: the client, its records and its errors (as Linx uses its API)."""

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
