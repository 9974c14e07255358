"""Fixtures that run the Procore and ExakTime sandboxes on free loopback ports.

Loaded for the whole suite by `pytest_plugins = ["tests.sandboxes"]` in tests/conftest.py.
Each server starts once per session on its own temporary state file, and its small company
is generated once then: every test that asks for one gets it reset to a copy of that
company (tests change it), with no tokens, no faults and an empty log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from integrations.exaktime.sandbox import ExakTimeSandbox
from integrations.procore.sandbox import ProcoreSandbox
from integrations.sandbox import SandboxServer

# A started server and its data as generated at the start of the test run.
Running = tuple[SandboxServer, sqlite3.Connection]


def _serve(sandbox: SandboxServer) -> Iterator[Running]:
    generated = sandbox.snapshot()
    sandbox.start()
    yield sandbox, generated
    sandbox.stop()
    generated.close()


@pytest.fixture(scope="session")
def _procore_sandbox_server(tmp_path_factory) -> Iterator[Running]:
    path = tmp_path_factory.mktemp("procore") / "procore.sqlite3"
    yield from _serve(ProcoreSandbox(path, reset=True, scale="small", seed=1))


@pytest.fixture(scope="session")
def _exaktime_sandbox_server(tmp_path_factory) -> Iterator[Running]:
    path = tmp_path_factory.mktemp("exaktime") / "exaktime.sqlite3"
    yield from _serve(ExakTimeSandbox(path, reset=True, seed=1))


@pytest.fixture
def procore_sandbox(_procore_sandbox_server: Running) -> ProcoreSandbox:
    """The Procore sandbox (`.url` is both login and API host), reset for this test."""
    sandbox, generated = _procore_sandbox_server
    sandbox.token_lifetime, sandbox.max_per_page, sandbox.latency = 5400, None, 0
    sandbox.restore(generated)
    return sandbox


@pytest.fixture
def exaktime_sandbox(_exaktime_sandbox_server: Running) -> ExakTimeSandbox:
    """The ExakTime sandbox, reset for this test."""
    sandbox, generated = _exaktime_sandbox_server
    sandbox.latency = 0
    sandbox.restore(generated)
    return sandbox


@pytest.fixture(autouse=True)
def _sandbox_tests_are_marked(request, monkeypatch) -> None:
    """A test that starts a sandbox server itself must be marked `sandbox` (by its path in
    tests/conftest.py), or `make test-fast` would run it: it fails at once saying so."""
    if request.node.get_closest_marker("sandbox") is None:

        def refuse(server: SandboxServer) -> str:
            raise AssertionError(
                f"{request.node.nodeid} starts the {server.name} sandbox but is not marked "
                "`sandbox`: add its file to SANDBOX_PATHS in tests/conftest.py"
            )

        monkeypatch.setattr(SandboxServer, "start", refuse)
