"""Benchmark: every list of the large Procore sandbox company, through ProcoreClient and raw.

Starts the Procore sandbox (scale `large`: 5,000 workers, 500 projects with sub-jobs,
crews and cost codes) in a process of its own on a temporary state file, then in one run:

1. warms the sandbox up by fetching every page once with bare `requests` (untimed; this
   also reads how many pages each list has, from its `Total` and `Per-Page` headers);
2. fetches every list through `ProcoreClient`, iterating its typed records (timed);
3. fetches the same pages again with a bare `requests.Session`: the same first URLs and
   page sizes, the same token and headers, following `Link rel="next"` and decoding each
   page's JSON (timed). That is the raw limit the client is measured against.

It prints one row per list and the two ratios that matter: client time / raw time (what
the client's layers cost) and requests made / pages that exist (1.00: no call wasted).

    .venv/bin/python bench/fetch_procore.py [--scale large|small] [--rounds 3]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

from integrations.http import USER_AGENT
from integrations.procore.auth import MemoryTokenStore
from integrations.procore.client import PER_PAGE, ProcoreClient
from integrations.procore.sandbox import ProcoreSandbox, data

CID = data.COMPANY_ID


def serve(
    state_path: str, scale: str, latency_ms: float, ready: multiprocessing.Queue, stop
) -> None:
    """The sandbox's process: generate the company, serve until told to stop."""
    sandbox = ProcoreSandbox(state_path, scale=scale, reset=True, latency_ms=latency_ms)
    ready.put(sandbox.start())
    stop.wait()
    sandbox.stop()


@dataclass
class Fetch:
    """One list as both sides fetch it: its first page's path and query, and the client call."""

    path: str
    params: dict[str, object]
    client: Callable[[ProcoreClient], Iterable[object]]


@dataclass
class Row:
    """One line of the table: a list, or one list per project added up."""

    label: str
    fetches: list[Fetch]
    records: int = 0
    pages: int = 0
    client_requests: list[int] = field(default_factory=list)
    client_seconds: list[float] = field(default_factory=list)
    raw_requests: list[int] = field(default_factory=list)
    raw_seconds: list[float] = field(default_factory=list)


def first_page(name: str, params: dict[str, object] | None = None) -> dict[str, object]:
    """The query the client sends for a list's first page (its own page sizes)."""
    return {**(params or {}), "page": 1, "per_page": PER_PAGE[name]}


PROJECTS = Fetch(
    "/rest/v1.1/projects",
    first_page("projects", {"company_id": CID, "filters[by_status]": "All"}),
    lambda c: c.projects("All"),
)
COST_CODE_LISTS = Fetch(
    "/rest/v1.0/standard_cost_code_lists",
    first_page("standard_cost_code_lists", {"company_id": CID}),
    lambda c: c.standard_cost_code_lists(),
)


def company_rows(project_ids: list[int], list_ids: list[int]) -> list[Row]:
    """Every list import reads, in the order a full import reads them."""
    company = f"/rest/v1.0/companies/{CID}"

    def one(label, name, path, client, params=None) -> Row:
        return Row(label, [Fetch(path, first_page(name, params), client)])

    def each_project(label, name, path, params, client) -> Row:
        fetches = [
            Fetch(path(p), first_page(name, params(p)), lambda c, p=p: client(c, p))
            for p in project_ids
        ]
        return Row(f"{label} ({len(project_ids)} projects)", fetches)

    return [
        one("workers", "users", f"/rest/v1.3/companies/{CID}/users", lambda c: c.workers()),
        one("inactive workers", "users_inactive", f"{company}/users/inactive",
            lambda c: c.inactive_workers()),
        Row("projects (all statuses)", [PROJECTS]),
        each_project("sub-jobs", "sub_jobs", lambda p: "/rest/v1.0/sub_jobs",
                     lambda p: {"project_id": p}, lambda c, p: c.sub_jobs(p)),
        Row("cost code lists", [COST_CODE_LISTS]),
        Row("standard cost codes", [
            Fetch("/rest/v1.0/standard_cost_codes",
                  first_page("standard_cost_codes", {"company_id": CID,
                             "standard_cost_code_list_id": list_id, "view": "extended"}),
                  lambda c, list_id=list_id: c.standard_cost_codes(list_id))
            for list_id in list_ids
        ]),
        each_project("project cost codes", "cost_codes", lambda p: "/rest/v1.0/cost_codes",
                     lambda p: {"project_id": p}, lambda c, p: c.project_cost_codes(p)),
        each_project("crews", "crews", lambda p: f"/rest/v1.0/projects/{p}/crews",
                     lambda p: {}, lambda c, p: c.crews(p)),
        one("work classifications", "work_classifications", f"{company}/work_classifications",
            lambda c: c.work_classifications()),
        one("time types", "timecard_time_types", f"{company}/timecard_time_types",
            lambda c: c.timecard_time_types()),
        one("fieldsets", "configurable_field_sets", f"{company}/configurable_field_sets",
            lambda c: c.fieldsets(None)),
        one("custom field definitions", "custom_field_definitions",
            f"/rest/v1.1/companies/{CID}/custom_field_definitions",
            lambda c: c.custom_field_definitions(), {"tool_name": "timesheets"}),
    ]  # fmt: skip


def raw_fetch(session: requests.Session, url: str, fetch: Fetch) -> tuple[int, int, int]:
    """Follow one list's pages with bare requests: (records, requests, pages that exist)."""
    answer = session.get(url + fetch.path, params=fetch.params, timeout=60)
    total, per_page = int(answer.headers["Total"]), int(answer.headers["Per-Page"])
    records, made = 0, 0
    while True:
        answer.raise_for_status()
        records += len(answer.json())
        made += 1
        following = answer.links.get("next")
        if not following:
            return records, made, max(1, math.ceil(total / per_page))
        answer = session.get(following["url"], timeout=60)


def ids(session: requests.Session, url: str, fetch: Fetch) -> list[int]:
    """The ids of a list (for the per-project and per-cost-code-list rows)."""
    found, answer = [], session.get(url + fetch.path, params=fetch.params, timeout=60)
    while True:
        answer.raise_for_status()
        found += [item["id"] for item in answer.json()]
        if "next" not in answer.links:
            return found
        answer = session.get(answer.links["next"]["url"], timeout=60)


class Counter:
    """A response hook counting the client's HTTP requests (retries included)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, response: requests.Response, *args, **kwargs) -> None:
        self.count += 1


def run(url: str, rounds: int) -> list[Row]:
    counter = Counter()
    session = requests.Session()
    session.hooks["response"].append(counter)
    store = MemoryTokenStore()
    client = ProcoreClient(url, url, data.CLIENT_ID, data.CLIENT_SECRET, CID, store,
                           session=session)  # fmt: skip
    token = client.auth.valid_token(store, datetime.now(UTC))  # outside the timings
    raw = requests.Session()
    raw.headers.update({
        "Authorization": f"Bearer {token.access_token}", "Procore-Company-Id": str(CID),
        "Accept": "application/json", "User-Agent": USER_AGENT,
    })  # fmt: skip

    rows = company_rows(ids(raw, url, PROJECTS), ids(raw, url, COST_CODE_LISTS))

    def client_side(row: Row) -> None:
        counter.count, records = 0, 0
        started = time.perf_counter()
        for fetch in row.fetches:
            records += sum(1 for _ in fetch.client(client))
        row.client_seconds.append(time.perf_counter() - started)
        row.client_requests.append(counter.count)
        if records != row.records:
            raise SystemExit(f"{row.label}: the client read {records} records, not {row.records}")

    def raw_side(row: Row) -> None:
        started, made = time.perf_counter(), 0
        for fetch in row.fetches:
            made += raw_fetch(raw, url, fetch)[1]
        row.raw_seconds.append(time.perf_counter() - started)
        row.raw_requests.append(made)

    for row in rows:  # warm-up: every page once; what exists
        for fetch in row.fetches:
            records, _, pages = raw_fetch(raw, url, fetch)
            row.records += records
            row.pages += pages

    for round_number in range(rounds):
        for row in rows:
            # Alternate who goes first, so neither side always meets the warmer cache.
            sides = [client_side, raw_side] if round_number % 2 == 0 else [raw_side, client_side]
            for side in sides:
                side(row)
    client.close()
    raw.close()
    return rows


def report(rows: list[Row], rounds: int) -> str:
    median = statistics.median
    header = (
        f"{'list':<34} {'records':>8} {'pages':>6} {'requests':>8} "
        f"{'client s':>9} {'raw s':>8} {'client/raw':>10}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        client_s, raw_s = median(row.client_seconds), median(row.raw_seconds)
        lines.append(
            f"{row.label:<34} {row.records:>8} {row.pages:>6} {max(row.client_requests):>8} "
            f"{client_s:>9.3f} {raw_s:>8.3f} {client_s / raw_s:>10.2f}"
        )
    client_total = sum(median(row.client_seconds) for row in rows)
    raw_total = sum(median(row.raw_seconds) for row in rows)
    made = sum(max(row.client_requests) for row in rows)
    pages = sum(row.pages for row in rows)
    records = sum(row.records for row in rows)
    lines += [
        "-" * len(header),
        f"{'total':<34} {records:>8} {pages:>6} {made:>8} {client_total:>9.3f} {raw_total:>8.3f}"
        f" {client_total / raw_total:>10.2f}",
        "",
        f"client_time / raw_time      = {client_total / raw_total:.2f}"
        f"   ({client_total:.2f} s against {raw_total:.2f} s"
        f"{f', median of {rounds} rounds' if rounds > 1 else ''})",
        f"requests_made / pages_exist = {made / pages:.2f}   ({made} requests, {pages} pages)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(data.SCALES), default="large")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians shown")
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="hold each sandbox answer back this long"
    )
    options = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    with tempfile.TemporaryDirectory(prefix="linx-bench-") as state:
        started = time.perf_counter()
        server = context.Process(
            target=serve,
            args=(
                str(Path(state) / "procore.sqlite3"),
                options.scale,
                options.latency_ms,
                ready,
                stop,
            ),
            daemon=True,
        )
        server.start()
        try:
            url = ready.get(timeout=120)
            print(f"Procore sandbox ({options.scale}) at {url}, ready in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
            rows = run(url, options.rounds)
        finally:
            stop.set()
            server.join(timeout=10)
            if server.is_alive():
                server.terminate()
    print(report(rows, options.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
