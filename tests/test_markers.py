"""The suite's `sandbox` and `browser` markers come from what a test uses, so that
`make test-fast` leaves out exactly the tests that need the sandboxes or a browser."""

from __future__ import annotations

import pytest

from integrations.procore.sandbox import ProcoreSandbox


def test_a_test_that_asks_for_a_sandbox_is_marked_sandbox(request, exaktime_sandbox):
    assert request.node.get_closest_marker("sandbox") is not None


def test_a_test_that_reaches_a_sandbox_through_another_fixture_is_marked_too(
    request, sandbox_connection
):
    assert request.node.get_closest_marker("sandbox") is not None


def test_a_test_that_needs_no_sandbox_is_not_marked(request, connection):
    assert request.node.get_closest_marker("sandbox") is None
    assert request.node.get_closest_marker("browser") is None


def test_an_unmarked_test_that_starts_a_sandbox_fails_saying_how_to_mark_it(tmp_path):
    sandbox = ProcoreSandbox(tmp_path / "procore.sqlite3")
    try:
        with pytest.raises(AssertionError, match=r"not marked `sandbox`.*SANDBOX_PATHS"):
            sandbox.start()
    finally:
        sandbox.stop()
