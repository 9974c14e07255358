"""Fixtures that run the Procore and ExakTime sandboxes on free loopback ports.

Loaded for the whole suite by `pytest_plugins = ["tests.sandboxes"]` in tests/conftest.py.
Each server starts once per session on its own temporary state file; every test that asks
for one gets it reset: freshly generated small data, no tokens, no faults, an empty log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.exaktime.sandbox import ExakTimeSandbox
from integrations.procore.sandbox import ProcoreSandbox


@pytest.fixture(scope="session")
def _procore_sandbox_server(tmp_path_factory) -> Iterator[ProcoreSandbox]:
    sandbox = ProcoreSandbox(tmp_path_factory.mktemp("procore") / "procore.sqlite3")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def _exaktime_sandbox_server(tmp_path_factory) -> Iterator[ExakTimeSandbox]:
    sandbox = ExakTimeSandbox(tmp_path_factory.mktemp("exaktime") / "exaktime.sqlite3")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def procore_sandbox(_procore_sandbox_server: ProcoreSandbox) -> ProcoreSandbox:
    """The Procore sandbox (`.url` is both login and API host), reset for this test."""
    sandbox = _procore_sandbox_server
    sandbox.token_lifetime, sandbox.max_per_page = 5400, None
    sandbox.reset(scale="small", seed=1)
    return sandbox


@pytest.fixture
def exaktime_sandbox(_exaktime_sandbox_server: ExakTimeSandbox) -> ExakTimeSandbox:
    """The ExakTime sandbox, reset for this test."""
    _exaktime_sandbox_server.reset(seed=1)
    return _exaktime_sandbox_server
