"""Benchmark: exporting a large week of time records to Procore, against bare bulk POSTs.

Starts the Procore sandbox (scale `large`: 5,000 workers, 500 projects with sub-jobs and
about 40 cost codes each) and the ExakTime sandbox, each in a process of its own, points
a Linx connection at them on a temporary SQLite database, runs the pre-import and a full
import of employees, locations (with sub-jobs) and cost codes (untimed) so that the
mappings exist, then puts a week of time records (20,000 by default) into ExakTime, in
the sandbox's own process: mapped employees, at mapped projects and sub-jobs, with cost
codes set up on those projects, hours mixing regular, OT1 and OT2. Then, in one run:

1. **export**: the week exported (timed), its Procore requests counted from the
   sandbox's request log;
2. **no-change export**: the same week again (timed): it must make no write;
3. **raw bulk POSTs**: the entries the export created are removed from the Procore
   sandbox, and the same bodies (as the export's ledger recorded them) are sent again
   with a bare `requests.Session`: the same batches of the same size to the same bulk
   endpoint, same token and company header, each answer decoded. Nothing can create
   those entries with fewer or cheaper requests.

It prints entries per second, Procore requests per entry (and writes per entry), and the
export's time against the raw time. Both exports read the week's time records from the
ExakTime sandbox; those pages are fetched again raw afterwards, so that their share of
the export's time can be told apart.

    .venv/bin/python bench/export_week.py [--records 20000] [--scale large|small] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import multiprocessing
import os
import pstats
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WEEK_START = date(2026, 11, 16)  # a Monday
WORKED = ["8", "8", "8", "8", "8.5", "9", "9.5", "10", "10.5", "11", "12.5", "13"]
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


def serve(kind: str, state_path: str, scale: str, answers, commands) -> None:
    """One sandbox's process: generate its data, serve, obey commands until "stop"."""
    from integrations.exaktime.sandbox import ExakTimeSandbox
    from integrations.exaktime.sandbox import data as et
    from integrations.procore.sandbox import ProcoreSandbox

    if kind == "procore":

        class Sandbox(ProcoreSandbox):
            log_size = 500_000

        sandbox = Sandbox(state_path, scale=scale, reset=True)
    else:

        class Sandbox(ExakTimeSandbox):
            log_size = 500_000

        sandbox = Sandbox(state_path, reset=True)
    answers.put(sandbox.start())
    while (command := commands.get())[0] != "stop":
        name, payload = command
        if name == "time_records":  # bulk insert, ids from the sandbox's own sequence
            first = sandbox.store.next_id("time_record")
            rows = [
                ("time_record", et.ACCOUNT_ID, {**body, "id": first + number})
                for number, body in enumerate(payload)
            ]
            answers.put(sandbox.store.insert_many(rows))
        elif name == "forget_entries":  # the timecard entries, gone as if never created
            with sandbox.store.transaction():
                (count,) = sandbox.store.execute(
                    "SELECT count(*) FROM records WHERE kind = 'timecard_entry'"
                )[0]
                sandbox.store.execute("DELETE FROM records WHERE kind = 'timecard_entry'")
            answers.put(count)
    sandbox.stop()


class Sandbox:
    """A sandbox running in a process of its own."""

    def __init__(self, kind: str, folder: str, scale: str):
        self.answers, self.commands = multiprocessing.Queue(), multiprocessing.Queue()
        self.process = multiprocessing.Process(
            target=serve,
            args=(kind, f"{folder}/{kind}.sqlite3", scale, self.answers, self.commands),
            daemon=True,
        )
        self.process.start()
        self.url = self.answers.get(timeout=300)

    def command(self, name: str, payload=None):
        self.commands.put((name, payload))
        return self.answers.get(timeout=300)

    def stop(self) -> None:
        self.commands.put(("stop", None))
        self.process.join(timeout=30)

    def log(self) -> list[dict]:
        return requests.get(
            f"{self.url}/_sandbox/requests", params={"limit": 500_000}, timeout=60
        ).json()["requests"]

    def clear_log(self) -> None:
        requests.delete(f"{self.url}/_sandbox/requests", timeout=30)

    def records(self, kind: str, **params) -> list[dict]:
        """Every record of a kind, through the inspection endpoint."""
        found, page = [], 1
        while True:
            body = requests.get(
                f"{self.url}/_sandbox/records/{kind}",
                params={"per_page": 1000, "page": page, **params},
                timeout=60,
            ).json()
            found += body["records"]
            if not body["records"] or len(found) >= body["total"]:
                return found
            page += 1


def endpoint(path: str) -> str:
    """`/rest/v1.0/cost_codes`, `/rest/v1.0/companies/{id}/timesheets`, ..."""
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


def week_of_records(procore: Sandbox, count: int, seed: int = 1) -> list[dict]:
    """`count` time records for the bench week: mapped employees, at mapped projects and
    sub-jobs, each with a cost code set up on the location's Procore project."""
    from integrations.exaktime.sandbox import data as et
    from linx.models import EntityMapping, EntityType

    def mapped(kind):
        return EntityMapping.objects.filter(
            entity_type=kind, exaktime_id__isnull=False, procore_id__isnull=False, ignored=False
        ).order_by("procore_id")

    employees = [int(m.exaktime_id) for m in mapped(EntityType.EMPLOYEE)]
    projects = {m.procore_id: int(m.exaktime_id) for m in mapped(EntityType.LOCATION)}
    locations = [(job, project) for project, job in projects.items()]
    locations += [
        (int(m.exaktime_id), m.data["project"])
        for m in mapped(EntityType.SUB_JOB)
        if m.data.get("project") in projects
    ]
    # The cost codes each project has set up (not deleted), as the exporter finds them:
    # by standard cost code id, or by full code for a code added by hand.
    standard, full = {}, {}
    for code in procore.records("cost_code"):
        if code["deleted_at"] is None and code.get("parent"):
            project = code["biller_id"]
            standard.setdefault(project, set()).add(code["standard_cost_code_id"])
            full.setdefault(project, set()).add(code["full_code"])
    codes = list(mapped(EntityType.COST_CODE))
    valid = {
        project: [
            int(m.exaktime_id)
            for m in codes
            if m.procore_id in standard.get(project, ())
            or m.data.get("full_code") in full.get(project, ())
        ]
        for project in projects
    }
    locations = [(job, project) for job, project in locations if valid[project]]
    if not employees or not locations:
        raise SystemExit("The import linked no employees or no locations with cost codes.")

    rng = random.Random(seed)
    home = {employee: rng.choice(locations) for employee in employees}
    records = []
    for number in range(count):
        employee = employees[number % len(employees)]
        work_date = WEEK_START + timedelta(days=(number // len(employees)) % 7)
        if rng.random() < 0.2:  # moved to another job that day
            home[employee] = rng.choice(locations)
        job, project = home[employee]
        start = datetime.combine(work_date, datetime.min.time(), et.TIME_ZONE).replace(
            hour=6, minute=rng.choice([0, 15, 30])
        )
        worked = Decimal(rng.choice(WORKED))
        stop = start + timedelta(hours=float(worked), minutes=30)
        regular, ot1, ot2 = et.split_hours(worked)
        records.append(
            {
                "employee_id": employee,
                "job_id": job,
                "cost_code_id": rng.choice(valid[project]),
                "work_date": work_date.isoformat(),
                "time_in": start.isoformat(),
                "time_out": stop.isoformat(),
                "lunch_minutes": 30,
                "regular_hours": float(regular),
                "ot1_hours": float(ot1),
                "ot2_hours": float(ot2),
                "is_approved": True,
                "custom_fields": {},
                "modified_at": et.iso_utc(stop + timedelta(minutes=10)),
                "is_deleted": False,
                "revision": 1,
            }
        )
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="time records in the week")
    parser.add_argument("--scale", choices=["small", "large"], default="large")
    parser.add_argument(
        "--profile", action="store_true", help="print where each export's time goes"
    )
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="linx-bench-")
    print(f"Generating the {args.scale} sandbox company ...", flush=True)
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
    from linx.models import (
        Connection,
        ExportLedgerLine,
        RunKind,
        RunTrigger,
    )
    from linx.sync.execute import execute
    from linx.sync.export_send import BULK
    from linx.sync.runs import create_run

    call_command("migrate", verbosity=0)
    connection = Connection.objects.create(
        name="bench",
        procore_login_url=procore.url,
        procore_api_url=procore.url,
        procore_client_id=pc.CLIENT_ID,
        procore_client_secret=pc.CLIENT_SECRET,
        procore_company_id=pc.COMPANY_ID,
        exaktime_api_url=exaktime.url,
        exaktime_api_key=et.API_KEY,
        import_sub_jobs=True,
    )
    print("Pre-import and import of employees, locations and cost codes ...", flush=True)
    began = time.perf_counter()
    execute(create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
    execute(
        create_run(
            connection,
            RunKind.IMPORT,
            trigger=RunTrigger.COMMAND,
            parameters={"entities": ["employees", "locations", "cost_codes"], "full": True},
        )
    )
    print(f"  {time.perf_counter() - began:.1f} s", flush=True)

    # A plain (changed-since) import of the company just imported: nothing changed, so
    # its Procore requests are the fixed cost of looking (no per-project list).
    procore.clear_log()
    plain_run = execute(
        create_run(
            connection,
            RunKind.IMPORT,
            trigger=RunTrigger.COMMAND,
            parameters={"entities": ["employees", "locations", "cost_codes"]},
        )
    )
    plain = Counter(
        f"{e['method']} {endpoint(e['path'])}"
        for e in procore.log()
        if e["path"].startswith("/rest/")
    )
    print(f"Plain import of the unchanged company: {plain_run.status}", flush=True)

    records = week_of_records(procore, args.records)
    inserted = exaktime.command("time_records", records)
    kinds = Counter(k for r in records for k in ("regular", "ot1", "ot2") if r[f"{k}_hours"])
    print(
        f"Punched {inserted:,} time records for the week of {WEEK_START} "
        f"({kinds['regular']:,} with regular, {kinds['ot1']:,} OT1, {kinds['ot2']:,} OT2 hours)",
        flush=True,
    )

    def export() -> dict:
        procore.clear_log()
        exaktime.clear_log()
        profiler = cProfile.Profile() if args.profile else None
        began, cpu = time.perf_counter(), time.process_time()
        with profiler or contextlib.nullcontext():
            run = execute(
                create_run(
                    connection,
                    RunKind.EXPORT,
                    trigger=RunTrigger.COMMAND,
                    parameters={
                        "from": WEEK_START.isoformat(),
                        "to": (WEEK_START + timedelta(days=6)).isoformat(),
                    },
                )
            )
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu
        if profiler:
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(45)
            stats.sort_stats("tottime").print_stats(25)
        procore_log = [e for e in procore.log() if e["path"].startswith("/rest/")]
        return {
            "run": run,
            "seconds": seconds,
            "cpu": cpu,
            "procore": procore_log,
            "writes": [e for e in procore_log if e["method"] in WRITES],
            "exaktime": exaktime.log(),
        }

    def entries_held() -> int:
        return len(procore.records("timecard_entry", scope=pc.COMPANY_ID))

    print("Export ...", flush=True)
    first = export()
    first["created"] = entries_held()
    print(f"  {first['seconds']:.1f} s, {first['run'].status}", flush=True)
    print("No-change export ...", flush=True)
    again = export()
    again["created"] = entries_held() - first["created"]
    print(f"  {again['seconds']:.1f} s, {again['run'].status}", flush=True)
    entries = first["created"]

    # The raw limit: the same entry bodies (as the ledger recorded what was sent), in the
    # export's batches, with bare requests, to a Procore holding no entries again.
    bodies = [
        line.fields
        for line in ExportLedgerLine.objects.filter(
            connection=connection, procore_id__isnull=False
        ).order_by("pk")
    ]
    batches = [bodies[i : i + BULK] for i in range(0, len(bodies), BULK)]
    bulk = [
        e for e in first["writes"] if e["method"] == "POST" and e["path"].endswith("/timesheets")
    ]
    if len(bodies) != entries or len(batches) != len(bulk):
        raise SystemExit(
            f"{len(bodies)} ledger lines in {len(batches)} batches against "
            f"{entries} entries in {len(bulk)} bulk POSTs: not comparable"
        )
    if procore.command("forget_entries") != entries:
        raise SystemExit("the Procore sandbox did not hold exactly the exported entries")
    token = Connection.objects.get(pk=connection.pk).procore_access_token
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {token}", "Procore-Company-Id": str(pc.COMPANY_ID)}
    )
    url = f"{procore.url}/rest/v1.0/companies/{pc.COMPANY_ID}/timesheets"
    print(f"Raw bulk POSTs ({len(batches)} of up to {BULK} entries) ...", flush=True)
    began = time.perf_counter()
    raw_created = 0
    for batch in batches:
        response = session.post(url, json={"timecard_entries": batch}, timeout=120)
        response.raise_for_status()
        raw_created += len(response.json())
    raw_seconds = time.perf_counter() - began
    if raw_created != entries:
        raise SystemExit(f"the raw POSTs created {raw_created} entries, not {entries}")

    # For reading the export's time: the ExakTime pages it read, fetched again raw.
    exaktime_session = requests.Session()
    exaktime_session.headers["Ocp-Apim-Subscription-Key"] = et.API_KEY
    began = time.perf_counter()
    for entry in first["exaktime"]:
        response = exaktime_session.get(
            f"{exaktime.url}{entry['path']}", params=entry["query"], timeout=60
        )
        response.raise_for_status()
        response.json()
    read_seconds = time.perf_counter() - began

    print()
    print(f"{'':40}{'export':>12}{'no-change export':>20}")

    def line(name, value):
        print(f"{name:40}{value(first):>12}{value(again):>20}")

    def per_entry(count):
        return lambda r: f"{count(r) / r['created']:.3f}" if r["created"] else "-"

    line("status", lambda r: r["run"].status)
    line("time records", lambda r: f"{sum(r['run'].counts.values()):,}")
    line("rows created", lambda r: f"{r['run'].counts.get('created', 0):,}")
    line("rows unchanged", lambda r: f"{r['run'].counts.get('unchanged', 0):,}")
    line("timecard entries created", lambda r: f"{r['created']:,}")
    line("seconds", lambda r: f"{r['seconds']:.1f}")
    # Linx's own CPU (this process: the sandboxes run in theirs): what a busy machine
    # stretches least, so the figure to compare between runs on a shared machine.
    line("Linx CPU seconds", lambda r: f"{r['cpu']:.1f}")
    line(
        "entries per second",
        lambda r: f"{r['created'] / r['seconds']:,.0f}" if r["created"] else "-",
    )
    line(
        "time records per second", lambda r: f"{sum(r['run'].counts.values()) / r['seconds']:,.0f}"
    )
    line("Procore requests", lambda r: f"{len(r['procore']):,}")
    calls = sorted(
        {(e["method"], endpoint(e["path"])) for r in (first, again) for e in r["procore"]}
    )
    made = {
        id(r): Counter((e["method"], endpoint(e["path"])) for e in r["procore"])
        for r in (first, again)
    }
    for call in calls:
        line(
            f"  {call[0]} {call[1].removeprefix('/rest/v1.0')}",
            lambda r, c=call: f"{made[id(r)][c]:,}",
        )
    line("Procore writes", lambda r: f"{len(r['writes']):,}")
    line("Procore requests per entry", per_entry(lambda r: len(r["procore"])))
    line("Procore writes per entry", per_entry(lambda r: len(r["writes"])))
    line("ExakTime requests (pages read)", lambda r: f"{len(r['exaktime']):,}")
    print()
    seconds = first["seconds"]
    print(
        f"raw bulk POSTs                  = {raw_seconds:.1f} s for {len(batches)} POSTs of "
        f"{entries:,} entries ({entries / raw_seconds:,.0f} entries per second)"
    )
    print(f"export_time / raw_time          = {seconds / raw_seconds:.2f}")
    print(
        f"raw read of the ExakTime pages  = {read_seconds:.1f} s for {len(first['exaktime'])} "
        f"pages (in both exports' time)"
    )
    print(f"(export_time - raw read) / raw_time = {(seconds - read_seconds) / raw_seconds:.2f}")
    print(
        f"no-change export                = {again['seconds']:.1f} s, {len(again['writes'])} "
        f"writes, {len(again['procore']):,} Procore reads"
    )
    print(f"no-change export / raw read     = {again['seconds'] / read_seconds:.2f}")
    print(
        f"plain import, nothing changed   = {sum(plain.values())} Procore requests ("
        + ", ".join(f"{n} {call.replace('/rest/v1.0', '')}" for call, n in sorted(plain.items()))
        + ")"
    )

    procore.stop()
    exaktime.stop()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
