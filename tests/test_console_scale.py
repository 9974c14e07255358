"""The runs console at scale: a run of 100,000 rows and a list of 10,000 runs open with a
constant number of queries (the same as for a handful), fetching only the page shown.

Wall time is checked only as a loose sanity bound; speed goals live in bench/.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.db import connection as db
from django.utils import timezone

from linx.models import Connection, Outcome, RowResult, RunKind, RunStatus, RunTrigger, SyncRun

ROWS = 100_000
RUNS = 10_000
MAX_QUERIES = 12  # session, user, second factor, the run or list, a count, the page...
SANITY_SECONDS = 2.0  # "well under a second" is measured in bench/, not asserted here
LIST = "/admin/linx/syncrun/"


@pytest.fixture
def timed_get(staff_client, django_assert_max_num_queries):
    """GET a page (reading a streamed one whole) within MAX_QUERIES; its body, queries, time."""

    def get(url, **params):
        started = time.perf_counter()
        with django_assert_max_num_queries(MAX_QUERIES) as queries:
            response = staff_client.get(url, params)
            body = b"".join(response.streaming_content) if response.streaming else response.content
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, url
        print(f"{url} {params}: {len(queries)} queries, {elapsed * 1000:.0f} ms")
        return body, len(queries), elapsed

    return get


def make_rows(run: SyncRun, n: int) -> None:
    """``n`` rows, 2 % of them failed, written in bulk (plain INSERTs: model objects would
    spend most of this test building themselves)."""
    outcomes = [Outcome.UNCHANGED] * 90 + [Outcome.UPDATED] * 6 + [Outcome.CREATED] * 2
    outcomes += [Outcome.FAILED] * 2
    entities = ["employee", "location", "cost_code", "crew"]
    now = timezone.now()
    table = RowResult._meta.db_table
    columns = "run_id, entity_type, outcome, procore_id, exaktime_id, name, changes, message, "
    columns += "retryable, created_at"
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 10)})"  # noqa: S608
    rows = (
        (
            run.pk,
            entities[i % 4],
            str(outcomes[i % 100]),
            1_000_000 + i,
            f"X{i}",
            f"Record {i:06d}",
            json.dumps({"name": [f"Old {i}", f"Record {i:06d}"]})
            if outcomes[i % 100] == Outcome.UPDATED
            else "{}",
            "Procore answered 503." if outcomes[i % 100] == Outcome.FAILED else "",
            i % 2 == 0,
            now,
        )
        for i in range(n)
    )
    with db.cursor() as cursor:
        cursor.executemany(sql, list(rows))
    counts = {"unchanged": n * 90 // 100, "updated": n * 6 // 100, "created": n * 2 // 100,
              "failed": n * 2 // 100}  # fmt: skip
    SyncRun.objects.filter(pk=run.pk).update(
        status=RunStatus.PARTIAL,
        counts=counts,
        progress={e: {"done": n // 4, "total": n // 4} for e in entities},
        started_at=timezone.now() - timedelta(minutes=9),
        finished_at=timezone.now(),
    )


def make_runs(connections: list[Connection], n: int, user, *, running: bool = False) -> None:
    now = timezone.now()
    statuses = [RunStatus.SUCCEEDED] * 6 + [RunStatus.PARTIAL, RunStatus.FAILED,
                                            RunStatus.SKIPPED, RunStatus.CANCELLED]  # fmt: skip
    kinds = [RunKind.IMPORT, RunKind.EXPORT, RunKind.PREIMPORT]
    triggers = [RunTrigger.ADMIN, RunTrigger.SCHEDULE, RunTrigger.COMMAND, RunTrigger.RERUN]
    SyncRun.objects.bulk_create(
        (
            SyncRun(
                connection=connections[i % len(connections)],
                kind=kinds[i % 3],
                status=statuses[i % 10],
                trigger=triggers[i % 4],
                started_by=user if i % 4 == 0 else None,
                dry_run=i % 7 == 0,
                counts={"created": i % 50, "unchanged": 400, "failed": i % 3},
                created_at=now - timedelta(minutes=10 * i),
                started_at=now - timedelta(minutes=10 * i),
                finished_at=now - timedelta(minutes=10 * i - 3),
            )
            for i in range(n)
        ),
        batch_size=2000,
    )
    # A few are running, and show a progress bar.
    for conn in connections if running else []:
        SyncRun.objects.create(connection=conn, kind=RunKind.IMPORT, status=RunStatus.RUNNING,
                               trigger=RunTrigger.SCHEDULE, started_at=now, heartbeat_at=now,
                               progress={"employee": {"done": 10, "total": 90}})  # fmt: skip


@pytest.fixture
def connections(connection):
    return [connection, *(Connection.objects.create(name=f"company-{i}") for i in range(4))]


def test_a_run_of_100000_rows_opens_and_streams_its_failures_in_constant_queries(
    timed_get, connection
):
    small = SyncRun.objects.create(connection=connection, kind=RunKind.IMPORT,
                                   trigger=RunTrigger.COMMAND)  # fmt: skip
    make_rows(small, 200)
    big = SyncRun.objects.create(connection=connection, kind=RunKind.IMPORT,
                                 trigger=RunTrigger.COMMAND)  # fmt: skip
    make_rows(big, ROWS)

    _, few, _ = timed_get(f"{LIST}{small.pk}/change/")
    body, many, elapsed = timed_get(f"{LIST}{big.pk}/change/")
    assert many == few
    assert elapsed < SANITY_SECONDS
    assert b"Record 000000" in body and b"Record 000100" not in body  # only the first page
    assert b"Page 1 of 1000" in body

    for params in (
        {"page": 1000},  # the deepest page
        {"outcome": "failed"},
        {"outcome": "failed", "entity": "crew", "page": 3},
        {"q": "Record 099999"},  # a name: not indexed, still only the run's rows
        {"q": "1099999"},  # a Procore id
    ):
        body, queries, elapsed = timed_get(f"{LIST}{big.pk}/change/", **params)
        assert queries <= few, params
        assert elapsed < SANITY_SECONDS, params
    assert b"Record 099999" in body

    _, queries, elapsed = timed_get(f"{LIST}{big.pk}/progress/")
    assert queries <= 8 and elapsed < SANITY_SECONDS

    # The failed rows stream as CSV through a chunked cursor, not a query per row.
    body, queries, elapsed = timed_get(f"{LIST}{big.pk}/failed-rows.csv")
    assert body.count(b"\n") == 1 + ROWS * 2 // 100  # the header and every failed row
    assert queries <= 8
    assert elapsed < SANITY_SECONDS


def test_a_list_of_10000_runs_opens_with_a_constant_number_of_queries(
    timed_get, staff_user, connections
):
    make_runs(connections, 20, staff_user, running=True)
    _, few, _ = timed_get(LIST)
    make_runs(connections, RUNS, staff_user)

    body, many, elapsed = timed_get(LIST)
    assert many == few
    assert elapsed < SANITY_SECONDS
    assert body.count(b"linx-progress--compact") == len(connections)

    for params in (
        {"status__exact": "failed"},
        {"kind__exact": "export", "connection__id__exact": connections[1].pk},
        {"created_at__gte": str(timezone.now() - timedelta(days=7))},
        {"p": 150},
        {"q": "company-3"},
    ):
        _, queries, elapsed = timed_get(LIST, **params)
        assert queries <= few, params
        assert elapsed < SANITY_SECONDS, params
