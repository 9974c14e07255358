"""Real clients against the real sandboxes over loopback: the helpers every file shares.

A client's waits go through `Waits`: it records each one, and sleeps for real only when
the sandbox's own clock decides the outcome (a rate-limit window). Where the sandbox
answers the same however long the client waits (a fault), the wait is only recorded, so
the default retry policy is exercised as it is and the suite stays fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from integrations.exaktime.client import ExakTimeClient
from integrations.exaktime.sandbox import ExakTimeSandbox
from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.auth import MemoryTokenStore, TokenStore
from integrations.procore.client import ProcoreClient
from integrations.procore.sandbox import ProcoreSandbox
from integrations.procore.sandbox import data as procore_data
from integrations.sandbox import SandboxServer


class Waits:
    """A client's `sleep`: every wait it asked for, slept for real only when `real`."""

    def __init__(self, real: bool = False) -> None:
        self.real = real
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        if self.real:
            time.sleep(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


def calls(sandbox: SandboxServer, method: str | None = None, path: str = "") -> list[dict]:
    """The requests the sandbox logged (oldest first), optionally one method / path prefix."""
    return [
        entry
        for entry in sandbox.requests()
        if (method is None or entry["method"] == method) and entry["path"].startswith(path)
    ]


def statuses(sandbox: SandboxServer, method: str | None = None, path: str = "") -> list:
    return [entry["status"] for entry in calls(sandbox, method, path)]


def settle(sandbox: SandboxServer, count: int, timeout: float = 5.0) -> list[dict]:
    """The log once it holds `count` requests: a slow answer is logged when it ends."""
    deadline = time.monotonic() + timeout
    while len(sandbox.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return sandbox.requests()


def procore_client(
    sandbox: ProcoreSandbox,
    waits: Waits,
    *,
    store: TokenStore | None = None,
    company_id: int = procore_data.COMPANY_ID,
    **options,
) -> ProcoreClient:
    """A ProcoreClient on the sandbox (login and API host), its token kept in memory."""
    return ProcoreClient(
        api_url=sandbox.url,
        login_url=sandbox.url,
        client_id=procore_data.CLIENT_ID,
        client_secret=procore_data.CLIENT_SECRET,
        company_id=company_id,
        token_store=store if store is not None else MemoryTokenStore(),
        sleep=waits,
        **options,
    )


def exaktime_client(
    sandbox: ExakTimeSandbox,
    waits: Waits,
    *,
    api_key: str = exaktime_data.API_KEY,
    **options,
) -> ExakTimeClient:
    return ExakTimeClient(sandbox.url, api_key, sleep=waits, **options)


@pytest.fixture
def procore(procore_sandbox, waits) -> Iterator[ProcoreClient]:
    """A client of the small company with client credentials and the default policy."""
    with procore_client(procore_sandbox, waits) as client:
        yield client


@pytest.fixture
def exaktime(exaktime_sandbox, waits) -> Iterator[ExakTimeClient]:
    with exaktime_client(exaktime_sandbox, waits) as client:
        yield client
