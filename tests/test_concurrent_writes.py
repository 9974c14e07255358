"""An import sends up to LINX_EXAKTIME_WRITES_AT_ONCE ExakTime writes at once, and ends
exactly where one sending them one after another ends: in ExakTime, in Procore and in
Linx's mappings and rows."""

from __future__ import annotations

import threading
from collections import Counter

from linx.models import Connection, EntityMapping, RunKind, RunTrigger
from linx.sync.execute import execute
from linx.sync.runs import create_run

KINDS = ("employee", "job", "cost_code", "group", "location_category", "custom_field")


def full_import(connection):
    run = create_run(
        connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND, parameters={"full": True}
    )
    return execute(run)


def exaktime_state(sandbox) -> dict:
    """Every ExakTime record, its ids (made in whatever order writes arrived) replaced by
    the ID or name of the record they point at."""
    records = {kind: sandbox.records(kind) for kind in KINDS}
    label = {
        r["id"]: (kind, r.get("identifier") or r.get("name"))
        for kind, found in records.items()
        for r in found
    }

    def plain(value, field):
        if field.endswith("_ids") and isinstance(value, list):
            return sorted(label.get(v, v) for v in value)
        if field.endswith("_id") and isinstance(value, int):
            return label.get(value, value)
        return value

    return {
        kind: sorted(
            repr(sorted((f, plain(v, f)) for f, v in r.items() if f != "id")) for r in found
        )
        for kind, found in records.items()
    }


def linx_state(connection, run) -> dict:
    mappings = sorted(
        (m.entity_type, m.procore_id, m.name, bool(m.exaktime_id))
        for m in EntityMapping.objects.filter(connection=connection)
    )
    rows = Counter((r.entity_type, r.procore_id, r.outcome, r.message) for r in run.rows.all())
    return {"status": run.status, "counts": run.counts, "mappings": mappings, "rows": rows}


class InFlight:
    """Counts the ExakTime writes the sandbox is answering at the same moment."""

    def __init__(self, sandbox, monkeypatch):
        self.now = self.peak = 0
        self._lock = threading.Lock()
        dispatch = sandbox.dispatch

        def counting(http):
            write = http.command != "GET" and not http.path.startswith("/_sandbox/")
            with self._lock:
                self.now += write
                self.peak = max(self.peak, self.now)
            try:
                dispatch(http)
            finally:
                with self._lock:
                    self.now -= write

        monkeypatch.setattr(sandbox, "dispatch", counting)


def test_a_concurrent_import_ends_as_a_sequential_one_with_at_most_n_writes_at_once(
    sandbox_connection, procore_sandbox, exaktime_sandbox, _exaktime_sandbox_server,
    settings, monkeypatch,
):  # fmt: skip
    _, generated = _exaktime_sandbox_server
    exaktime_sandbox.latency = 0.02  # answers take a while, so writes overlap
    procore_before = {kind: procore_sandbox.records(kind) for kind in ("worker", "project")}
    in_flight = InFlight(exaktime_sandbox, monkeypatch)

    settings.LINX_EXAKTIME_WRITES_AT_ONCE = 1
    sequential = full_import(sandbox_connection)
    assert in_flight.peak == 1
    one_by_one = exaktime_state(exaktime_sandbox), linx_state(sandbox_connection, sequential)

    # ExakTime as it was, and a connection that knows nothing of it (the pre-import too).
    exaktime_sandbox.restore(generated)
    fresh = Connection.objects.get(pk=sandbox_connection.pk)
    sandbox_connection.delete()
    fresh.pk, fresh.preimported_at = None, None
    fresh.save()
    settings.LINX_EXAKTIME_WRITES_AT_ONCE = 4
    concurrent = full_import(fresh)
    assert 2 <= in_flight.peak <= 4
    side_by_side = exaktime_state(exaktime_sandbox), linx_state(fresh, concurrent)

    assert sum(concurrent.counts.values()) > 50 and concurrent.counts.get("created", 0) > 30
    assert side_by_side[0] == one_by_one[0]
    assert side_by_side[1] == one_by_one[1]
    assert {k: procore_sandbox.records(k) for k in procore_before} == procore_before
