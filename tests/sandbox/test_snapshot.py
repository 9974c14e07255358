"""A sandbox restored from a snapshot is the generated company again, with no traffic
remembered: how the test suite resets the sandboxes without generating them per test."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from integrations.exaktime.sandbox import ExakTimeSandbox
from integrations.procore.sandbox import ProcoreSandbox


def every_record(sandbox) -> dict[str, list[dict]]:
    return {kind: sandbox.records(kind) for kind in sandbox.store.counts()}


@pytest.mark.parametrize("make", [ProcoreSandbox, ExakTimeSandbox], ids=["procore", "exaktime"])
def test_restore_brings_back_the_generated_data_and_forgets_faults_limits_and_log(make, tmp_path):
    fresh = make(tmp_path / "fresh.sqlite3", reset=True, seed=3)
    expected, options = every_record(fresh), fresh.store.kv_get("generated")
    fresh.stop()
    with make(tmp_path / "used.sqlite3", reset=True, seed=3) as sandbox:
        generated = sandbox.snapshot()
        kind, records = next((k, r) for k, r in every_record(sandbox).items() if len(r) > 1)
        sandbox.remove(kind, records[0]["id"])
        sandbox.update(kind, records[1]["id"], name="Changed by a test")
        sandbox.faults.set("status", status=503, count=2)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(sandbox.url + "/anything", timeout=5)  # noqa: S310 (loopback)
        assert every_record(sandbox) != expected and sandbox.requests() and sandbox.faults.active()

        sandbox.restore(generated)

        assert every_record(sandbox) == expected
        assert sandbox.store.kv_get("generated") == options
        assert sandbox.faults.active() == [] and sandbox.requests() == []
        assert sandbox.limiter.hourly.used == 0
