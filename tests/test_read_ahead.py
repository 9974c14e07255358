"""An import reads projects' sub-job and crew lists up to LINX_PROCORE_READS_AT_ONCE at a
time, and ends exactly where one reading them one after another ends, row for row; a
token that expires while they are out is renewed and those lists read again."""

from __future__ import annotations

import threading

import pytest

from linx.models import Connection, Outcome
from linx.sync import read_ahead
from tests.test_concurrent_writes import exaktime_state, full_import

PER_PROJECT = ("/rest/v1.0/sub_jobs", "/crews")


class ListsInFlight:
    """Counts the per-project lists the Procore sandbox is answering at the same moment;
    ``on_first`` runs when the first of them arrives."""

    def __init__(self, sandbox, monkeypatch, on_first=None):
        self.now = self.peak = self.seen = 0
        self._lock = threading.Lock()
        dispatch = sandbox.dispatch

        def counting(http):
            listed = http.command == "GET" and http.path.split("?")[0].endswith(PER_PROJECT)
            with self._lock:
                self.now += listed
                self.peak = max(self.peak, self.now)
                self.seen += listed
                first = listed and self.seen == 1
            if first and on_first:
                on_first()
            try:
                dispatch(http)
            finally:
                with self._lock:
                    self.now -= listed

        monkeypatch.setattr(sandbox, "dispatch", counting)


def rows_in_order(run) -> list[tuple]:
    return list(
        run.rows.order_by("pk").values_list("entity_type", "procore_id", "outcome", "message")
    )


def a_fresh_start(connection, exaktime_sandbox, generated) -> Connection:
    """ExakTime as it was, and a connection that knows nothing of it (pre-import too)."""
    exaktime_sandbox.restore(generated)
    fresh = Connection.objects.get(pk=connection.pk)
    connection.delete()
    fresh.pk, fresh.preimported_at = None, None
    fresh.save()
    return fresh


def read_one_by_one_then_start_afresh(connection, exaktime_sandbox, server, settings):
    """The rows of a first import reading one list at a time (ExakTime writes one by one
    too), and a connection to import the same company again from the start."""
    _, generated = server
    settings.LINX_EXAKTIME_WRITES_AT_ONCE = 1
    settings.LINX_PROCORE_READS_AT_ONCE = 1
    reference = rows_in_order(full_import(connection))
    return reference, a_fresh_start(connection, exaktime_sandbox, generated)


def test_lists_read_a_few_at_a_time_give_the_rows_of_lists_read_one_by_one(
    sandbox_connection, procore_sandbox, exaktime_sandbox, _exaktime_sandbox_server,
    settings, monkeypatch,
):  # fmt: skip
    _, generated = _exaktime_sandbox_server
    procore_sandbox.latency = 0.02  # answers take a while, so reads overlap
    in_flight = ListsInFlight(procore_sandbox, monkeypatch)
    settings.LINX_EXAKTIME_WRITES_AT_ONCE = 1  # rows in an order that depends on reads only

    settings.LINX_PROCORE_READS_AT_ONCE = 1
    one_by_one = full_import(sandbox_connection)
    assert in_flight.peak == 1 and in_flight.seen >= 10
    before = rows_in_order(one_by_one), exaktime_state(exaktime_sandbox)

    fresh = a_fresh_start(sandbox_connection, exaktime_sandbox, generated)
    in_flight.peak = 0
    settings.LINX_PROCORE_READS_AT_ONCE = 4
    side_by_side = full_import(fresh)
    assert in_flight.peak == 4  # slow answers: as many at once as the setting allows

    assert side_by_side.status == one_by_one.status
    assert (rows_in_order(side_by_side), exaktime_state(exaktime_sandbox)) == before
    assert any(row[0] == "sub_job" and row[2] == Outcome.CREATED for row in before[0])
    assert any(row[0] == "crew" and row[2] == Outcome.CREATED for row in before[0])


def test_lists_answered_quickly_are_asked_for_ahead_on_the_runs_thread_with_the_same_rows(
    sandbox_connection, procore_sandbox, exaktime_sandbox, _exaktime_sandbox_server,
    settings, monkeypatch,
):  # fmt: skip
    # Quicker than the limit, threads gain nothing: the next two lists are asked for on
    # the run's own thread before the one in hand is gone through (here every answer
    # counts as quick; over loopback they are).
    reference, fresh = read_one_by_one_then_start_afresh(
        sandbox_connection, exaktime_sandbox, _exaktime_sandbox_server, settings
    )
    monkeypatch.setattr(read_ahead, "QUICK_ANSWER_SECONDS", 60.0)
    procore_sandbox.latency = 0.02  # slow enough that four would overlap
    in_flight = ListsInFlight(procore_sandbox, monkeypatch)
    workers = []
    in_worker = read_ahead.in_worker
    monkeypatch.setattr(read_ahead, "in_worker", lambda call: workers.append(1) or in_worker(call))
    settings.LINX_PROCORE_READS_AT_ONCE = 4
    run = full_import(fresh)

    assert in_flight.peak == 2 and in_flight.seen >= 10
    assert workers == []  # no list was read by a worker thread
    assert rows_in_order(run) == reference


@pytest.mark.parametrize("answers", ["slow: workers", "quick: asked for on the run's thread"])
def test_a_token_expiring_while_lists_are_read_ahead_is_renewed_and_only_those_out_read_again(
    sandbox_connection, procore_sandbox, exaktime_sandbox, _exaktime_sandbox_server,
    settings, monkeypatch, answers,
):  # fmt: skip
    reference, fresh = read_one_by_one_then_start_afresh(
        sandbox_connection, exaktime_sandbox, _exaktime_sandbox_server, settings
    )
    if answers.startswith("quick"):
        monkeypatch.setattr(read_ahead, "QUICK_ANSWER_SECONDS", 60.0)
    procore_sandbox.latency = 0.02
    procore_sandbox.clear_requests()
    in_flight = ListsInFlight(procore_sandbox, monkeypatch, on_first=procore_sandbox.expire_tokens)
    settings.LINX_PROCORE_READS_AT_ONCE = 4
    run = full_import(fresh)

    assert in_flight.peak >= 2
    refused = [r for r in procore_sandbox.requests() if r["status"] == 401]
    assert refused and all(r["path"].endswith(PER_PROJECT) for r in refused)
    # Only the lists out when it expired, the one sent as the first came back, and the
    # first read again in place (its 401 renews) were refused: those sent after the
    # renewal carry the new token, though the old one was read moments before.
    assert len(refused) <= settings.LINX_PROCORE_READS_AT_ONCE + 2
    assert rows_in_order(run) == reference  # no list failed for the expired token
