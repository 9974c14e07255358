"""Procore: the client, its sign-in, its records and its errors (as Linx uses its API)."""

from integrations.procore.auth import MemoryTokenStore, ProcoreAuth, Token, TokenStore
from integrations.procore.client import ProcoreClient
from integrations.procore.errors import (
    ProcoreAuthError,
    ProcoreError,
    ProcoreNotFound,
    ProcoreOutcomeUnknown,
    ProcorePermissionError,
    ProcoreRateLimited,
    ProcoreUnavailable,
    ProcoreValidationError,
)

__all__ = [
    "MemoryTokenStore",
    "ProcoreAuth",
    "ProcoreAuthError",
    "ProcoreClient",
    "ProcoreError",
    "ProcoreNotFound",
    "ProcoreOutcomeUnknown",
    "ProcorePermissionError",
    "ProcoreRateLimited",
    "ProcoreUnavailable",
    "ProcoreValidationError",
    "Token",
    "TokenStore",
]
