"""Benchmark: reconciling a large week (ExakTime's time records beside Procore's entries).

Sets up as `export_week.py` does (the Procore sandbox at scale `large` and the ExakTime
sandbox, each in a process of its own; a connection on a temporary SQLite database; the
pre-import and an import of employees, locations and cost codes, untimed). Then, for each
size asked (2,000 and 20,000 time records by default, each in a week of its own), it
punches the week, exports it (untimed), and reconciles it twice:

1. **timed**: wall time, and every request Linx made counted from both sandboxes'
   request logs, beside the pages that exist (for each run of days the reconciliation
   asked for, from the entries and time records of those days and the page size asked;
   and for the week read whole). The project lists the export kept are aged past
   `LINX_REFERENCE_MAX_AGE_MINUTES` first, as on the Monday after: none should be read;
2. **traced**: the same reconciliation under `tracemalloc`, for its peak of Python memory.

    .venv/bin/python bench/reconcile.py [--sizes 2000,20000] [--scale large|small]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from export_week import WEEK_START, Sandbox, endpoint, week_of_records  # noqa: E402


def shifted(records: list[dict], weeks: int) -> list[dict]:
    """The same punches ``weeks`` weeks later."""
    days = timedelta(days=7 * weeks)

    def later(text: str) -> str:
        return text.replace(text[:10], (date.fromisoformat(text[:10]) + days).isoformat(), 1)

    return [
        {**r, **{k: later(r[k]) for k in ("work_date", "time_in", "time_out", "modified_at")}}
        for r in records
    ]


def setup(args, folder: str):
    procore = Sandbox("procore", folder, args.scale)
    exaktime = Sandbox("exaktime", folder, args.scale)
    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "linx.settings",
            "SECRET_KEY": "bench-only-" + "x" * 40,
            "LINX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LINX_DATA_DIR": folder,
            "LINX_RUN_HEARTBEAT_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from integrations.exaktime.sandbox import data as et
    from integrations.procore.sandbox import data as pc
    from linx.models import Connection, RunKind, RunTrigger
    from linx.sync.execute import execute
    from linx.sync.runs import create_run

    call_command("migrate", verbosity=0)
    connection = Connection.objects.create(
        name="bench", procore_login_url=procore.url, procore_api_url=procore.url,
        procore_client_id=pc.CLIENT_ID, procore_client_secret=pc.CLIENT_SECRET,
        procore_company_id=pc.COMPANY_ID, exaktime_api_url=exaktime.url,
        exaktime_api_key=et.API_KEY, import_sub_jobs=True,
    )  # fmt: skip
    execute(create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
    execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                       parameters={"entities": ["employees", "locations", "cost_codes"],
                                   "full": True}))  # fmt: skip
    return procore, exaktime, connection


def query_number(logged: dict | None, name: str, default: int = 100) -> int:
    """A page size as the logged request asked for it (a value or a list of values)."""
    value = (logged or {}).get("query", {}).get(name, default)
    return int(value[0] if isinstance(value, list) else value)


def pages(requests: list[dict], counts: Counter, size_param: str) -> int:
    """The pages that exist for the date ranges these list requests asked for: one
    reading of each range, from its items per day and the page size asked."""
    ranges = {}
    for logged in requests:
        query = logged.get("query", {})
        first, last = (date.fromisoformat(query[k][0]) for k in ("start_date", "end_date"))
        ranges[(first, last)] = query_number(logged, size_param)
    return sum(
        max(1, math.ceil(sum(n for day, n in counts.items() if first <= day <= last) / per))
        for (first, last), per in ranges.items()
    )


def per_day(dates) -> Counter:
    return Counter(date.fromisoformat(str(d)[:10]) for d in dates)


def measure(procore, exaktime, connection, size: int, records: list[dict], weeks: int) -> dict:
    from django.utils import timezone

    from linx.models import ProjectReference, RunKind, RunTrigger
    from linx.sync.execute import execute
    from linx.sync.reconcile import reconcile
    from linx.sync.runs import create_run

    first = WEEK_START + timedelta(days=7 * weeks)
    last = first + timedelta(days=6)
    punched = shifted(records[:size], weeks)
    exaktime.command("time_records", punched)
    execute(create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
                       parameters={"from": first.isoformat(), "to": last.isoformat()}))  # fmt: skip
    # Reconciled days after the export, as on the Monday after: the project lists it kept
    # are past LINX_REFERENCE_MAX_AGE_MINUTES, yet none needs reading again.
    ProjectReference.objects.update(read_at=timezone.now() - timedelta(days=3))
    procore.clear_log()
    exaktime.clear_log()
    began = time.perf_counter()
    done = reconcile(connection, first, last)
    seconds = time.perf_counter() - began
    procore_log = [e for e in procore.log() if e["path"].startswith("/rest/")]
    exaktime_log = exaktime.log()
    tracemalloc.start()
    reconcile(connection, first, last)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    calls = Counter(endpoint(e["path"]) for e in procore_log)
    entry_pages = [e for e in procore_log if e["path"].endswith("/timecard_entries")]
    entries_per_day = per_day(
        e["date"]
        for e in procore.records("timecard_entry")
        if e.get("date") and not e.get("deleted_at")
    )
    records_per_day = per_day(r["work_date"] for r in punched)
    week_entries = sum(n for day, n in entries_per_day.items() if first <= day <= last)
    busiest = max(records_per_day, key=records_per_day.get)
    return {
        "size": size,
        "status": done.status,
        "seconds": seconds,
        "matched": done.totals.get("matched", 0),
        "differing": len(done.lines),
        "runs": len({(e["query"]["start_date"][0]) for e in entry_pages}),
        "entry requests": len(entry_pages),
        "entry pages": pages(entry_pages, entries_per_day, "per_page"),
        "entry pages whole": math.ceil(
            week_entries / query_number(entry_pages[0] if entry_pages else None, "per_page")
        ),
        "record requests": len(exaktime_log),
        "record pages": pages(exaktime_log, records_per_day, "page_size"),
        "record pages whole": math.ceil(
            size / query_number(exaktime_log[0] if exaktime_log else None, "page_size")
        ),
        "reference requests": len(procore_log) - len(entry_pages),
        "projects": calls.get("/rest/v1.0/cost_codes", 0),
        "peak MiB": peak / 2**20,
        "largest day": (records_per_day[busiest], entries_per_day[busiest]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,20000", help="time records per week")
    parser.add_argument("--scale", choices=["small", "large"], default="large")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    folder = tempfile.mkdtemp(prefix="linx-bench-")
    print(f"Generating the {args.scale} sandbox company, pre-import and import ...", flush=True)
    procore, exaktime, connection = setup(args, folder)
    records = week_of_records(procore, max(sizes))
    results = []
    for weeks, size in enumerate(sizes):
        print(f"Reconciling a week of {size:,} time records ...", flush=True)
        results.append(measure(procore, exaktime, connection, size, records, weeks))
    print()
    print(f"{'':44}" + "".join(f"{r['size']:>14,}" for r in results))
    for name, show in (
        ("status", lambda r: r["status"]),
        ("matched lines", lambda r: f"{r['matched']:,}"),
        ("differing lines", lambda r: f"{r['differing']:,}"),
        ("seconds", lambda r: f"{r['seconds']:.1f}"),
        ("time records per second", lambda r: f"{r['size'] / r['seconds']:,.0f}"),
        ("runs of days read", lambda r: f"{r['runs']}"),
        ("timecard entry requests / pages", lambda r: f"{r['entry requests']}/{r['entry pages']}"),
        ("  pages if the week were read whole", lambda r: f"{r['entry pages whole']}"),
        ("time record requests / pages", lambda r: f"{r['record requests']}/{r['record pages']}"),
        ("  pages if the week were read whole", lambda r: f"{r['record pages whole']}"),
        ("project list requests (cost code lists)",
         lambda r: f"{r['reference requests']} ({r['projects']})"),
        ("largest day: time records / entries",
         lambda r: "{:,}/{:,}".format(*r["largest day"])),
        ("peak Python memory, MiB", lambda r: f"{r['peak MiB']:.1f}"),
    ):  # fmt: skip
        print(f"{name:44}" + "".join(f"{show(r):>14}" for r in results))
    for r in results:
        listed = r["entry requests"] + r["record requests"]
        print(
            f"{r['size']:>6,} records: requests / pages that exist = "
            f"{listed / (r['entry pages'] + r['record pages']):.2f} (lists, per run of days), "
            f"project lists read again after the export: {r['reference requests']}"
        )
    procore.stop()
    exaktime.stop()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
