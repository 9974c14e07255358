"""Benchmark: a full and a no-change import of the large sandbox company.

Starts the Procore sandbox (scale `large`: 5,000 workers, 500 projects with 1,000
sub-jobs, 1,000 cost codes, crews) and the ExakTime sandbox, each in a process of its
own, points a Linx connection at them (every import setting on: sub-jobs, crews as
groups, projects as groups and categories) on a temporary SQLite database, runs the
pre-import (untimed), then in one run:

1. **full import**: the first import, creating everything in ExakTime;
2. **no-change import**: `--full` again with nothing changed in Procore (every record
   read, none written), and after it a **plain import** (only what Procore says changed)
   whose Procore requests are counted;
3. **raw fetch**: the exact Procore pages the no-change import read, fetched again with a
   bare `requests.Session` (same URLs, token and headers, JSON decoded): the least time
   reading them can take.

It prints rows per second, Procore requests made against the pages that exist, ExakTime
requests and writes against the records written, the growth of the process's peak
memory, and the import time against the raw fetch time.

    .venv/bin/python bench/import_large.py [--scale large|small] [--latency-ms 80]
        [--writes-at-once 4] [--reads-at-once 4]

`--latency-ms` holds every sandbox answer back that long (a service on the internet);
the floor printed is then every request the run made, one after another, at that
latency. `--writes-at-once` is LINX_EXAKTIME_WRITES_AT_ONCE for the runs,
`--reads-at-once` LINX_PROCORE_READS_AT_ONCE (per-project lists; by default as many as
`--writes-at-once`, so `--writes-at-once 1` is an import that does everything one by one).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import multiprocessing
import os
import pstats
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(kind: str, state_path: str, scale: str, latency_ms: float, ready, stop) -> None:
    """One sandbox's process: generate its data, serve until told to stop."""
    from integrations.exaktime.sandbox import ExakTimeSandbox
    from integrations.procore.sandbox import ProcoreSandbox

    if kind == "procore":

        class Sandbox(ProcoreSandbox):
            log_size = 500_000

        sandbox = Sandbox(state_path, scale=scale, reset=True, latency_ms=latency_ms)
    else:

        class Sandbox(ExakTimeSandbox):
            log_size = 500_000

        sandbox = Sandbox(state_path, reset=True, latency_ms=latency_ms)
    ready.put(sandbox.start())
    stop.wait()
    sandbox.stop()


def start_sandbox(kind: str, folder: str, scale: str, latency_ms: float):
    ready, stop = multiprocessing.Queue(), multiprocessing.Event()
    process = multiprocessing.Process(
        target=serve,
        args=(kind, f"{folder}/{kind}.sqlite3", scale, latency_ms, ready, stop),
        daemon=True,
    )
    process.start()
    return ready.get(timeout=120), stop, process


def log(url: str) -> list[dict]:
    return requests.get(f"{url}/_sandbox/requests", params={"limit": 500_000}, timeout=60).json()[
        "requests"
    ]


def clear_log(url: str) -> None:
    requests.delete(f"{url}/_sandbox/requests", timeout=30)


def cpu_seconds(process) -> float:
    """CPU seconds a sandbox's process has used so far (0 where /proc is not there)."""
    try:
        with open(f"/proc/{process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_import(connection, procore_url: str, execute, create_run) -> Counter:
    """A plain import (only what Procore says changed) of the unchanged company: the
    Procore requests it makes."""
    from linx.models import RunKind, RunTrigger

    clear_log(procore_url)
    execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND, parameters={}))
    return Counter(
        f"{e['method']} {re.sub(r'/[0-9]+', '/{id}', e['path'])}" for e in log(procore_url)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", choices=["small", "large"], default="large")
    parser.add_argument("--latency-ms", type=float, default=0, help="each sandbox answer's delay")
    parser.add_argument("--writes-at-once", type=int, default=4, help="ExakTime writes at once")
    parser.add_argument(
        "--reads-at-once", type=int, help="per-project Procore lists at once (default: as writes)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="print where the no-change import's time goes"
    )
    args = parser.parse_args()
    if args.reads_at_once is None:
        args.reads_at_once = args.writes_at_once

    folder = tempfile.mkdtemp(prefix="linx-bench-")
    print(f"Generating the {args.scale} sandbox company ...", flush=True)
    procore_url, stop_procore, procore_process = start_sandbox(
        "procore", folder, args.scale, args.latency_ms
    )
    exaktime_url, stop_exaktime, _ = start_sandbox("exaktime", folder, args.scale, args.latency_ms)

    from cryptography.fernet import Fernet

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "linx.settings",
            "SECRET_KEY": "bench-only-" + "x" * 40,
            "LINX_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "LINX_DATA_DIR": folder,
            "LINX_RUN_HEARTBEAT_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            "LINX_EXAKTIME_WRITES_AT_ONCE": str(args.writes_at_once),
            "LINX_PROCORE_READS_AT_ONCE": str(args.reads_at_once),
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
        name="bench",
        procore_login_url=procore_url,
        procore_api_url=procore_url,
        procore_client_id=pc.CLIENT_ID,
        procore_client_secret=pc.CLIENT_SECRET,
        procore_company_id=pc.COMPANY_ID,
        exaktime_api_url=exaktime_url,
        exaktime_api_key=et.API_KEY,
        import_sub_jobs=True,
        crews_as_groups=True,
        projects_as_groups=True,
        projects_as_categories=True,
    )
    execute(create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))

    results = {}
    for label in ("full import", "no-change import"):
        clear_log(procore_url)
        clear_log(exaktime_url)
        rss_before = peak_rss_mb()
        profiler = cProfile.Profile() if args.profile and label == "no-change import" else None
        began, cpu = time.perf_counter(), time.process_time()
        served = cpu_seconds(procore_process)
        with profiler or contextlib.nullcontext():
            run = execute(
                create_run(
                    connection,
                    RunKind.IMPORT,
                    trigger=RunTrigger.COMMAND,
                    parameters={"full": True},
                )
            )
        seconds = time.perf_counter() - began
        cpu = time.process_time() - cpu
        served = cpu_seconds(procore_process) - served
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        procore_log, exaktime_log = log(procore_url), log(exaktime_url)
        results[label] = {
            "run": run,
            "seconds": seconds,
            "cpu": cpu,
            "served": served,
            "rows": sum(run.counts.values()),
            "procore": procore_log,
            "exaktime": Counter(entry["method"] for entry in exaktime_log),
            "requests": len(procore_log) + len(exaktime_log),
            "rss_growth": peak_rss_mb() - rss_before,
        }

    # The raw limit: the same Procore pages the no-change import read, with bare requests.
    token = connection.__class__.objects.get(pk=connection.pk).procore_access_token
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {token}", "Procore-Company-Id": str(pc.COMPANY_ID)}
    )
    pages = [e for e in results["no-change import"]["procore"] if e["method"] == "GET"]
    began, raw_cpu, raw_served = (
        time.perf_counter(),
        time.process_time(),
        cpu_seconds(procore_process),
    )
    for entry in pages:
        response = session.get(f"{procore_url}{entry['path']}", params=entry["query"], timeout=60)
        response.raise_for_status()
        response.json()
    raw_seconds = time.perf_counter() - began
    raw_cpu = time.process_time() - raw_cpu
    raw_served = cpu_seconds(procore_process) - raw_served
    pages_exist = len(pages)  # each page the import read once (checked below)
    distinct = len({(e["path"], repr(sorted(e["query"].items()))) for e in pages})

    print()
    print(f"{'':28}{'full import':>16}{'no-change import':>20}")
    full, same = results["full import"], results["no-change import"]

    def line(name, value):
        print(f"{name:28}{value(full):>16}{value(same):>20}")

    line("status", lambda r: r["run"].status)
    line("rows", lambda r: f"{r['rows']:,}")
    line("seconds", lambda r: f"{r['seconds']:.1f}")
    # The import's own CPU (the sandboxes run in processes of their own): steadier
    # than its wall time on a shared machine.
    line("Linx CPU seconds", lambda r: f"{r['cpu']:.2f}")
    line("rows per second", lambda r: f"{r['rows'] / r['seconds']:,.0f}")
    line("Procore requests", lambda r: f"{len(r['procore']):,}")
    line("ExakTime reads (GET)", lambda r: f"{r['exaktime']['GET']:,}")
    line(
        "ExakTime writes (POST/PUT)", lambda r: f"{r['exaktime']['POST'] + r['exaktime']['PUT']:,}"
    )
    line(
        "records written",
        lambda r: (
            f"{sum(r['run'].counts.get(k, 0) for k in ('created', 'updated', 'linked', 'deactivated')):,}"
        ),
    )
    line("peak memory growth MB", lambda r: f"{r['rss_growth']:.1f}")
    print()
    print(
        f"Procore requests / distinct pages read    = {len(same['procore']) / distinct:.2f}"
        f"   ({len(same['procore'])} requests, {distinct} pages)"
    )
    print(
        f"no-change ExakTime writes                  = {same['exaktime']['POST'] + same['exaktime']['PUT']}"
    )
    print(
        f"no-change import time / raw fetch time     = {same['seconds'] / raw_seconds:.2f}"
        f"   ({same['seconds']:.1f} s against {raw_seconds:.1f} s for {pages_exist} pages)"
    )
    # The same in CPU seconds, Procore sandbox's included: what the ratio is on a machine
    # with no core to spare, where the two take turns (steadier than wall time when shared).
    same_cpu, raw_cpu_all = same["cpu"] + same["served"], raw_cpu + raw_served
    if raw_served:
        print(
            f"no-change import CPU / raw fetch CPU       = {same_cpu / raw_cpu_all:.2f}"
            f"   (Linx {same['cpu']:.2f} s + sandbox {same['served']:.2f} s against "
            f"client {raw_cpu:.2f} s + sandbox {raw_served:.2f} s)"
        )
    print(f"full import time / raw fetch time          = {full['seconds'] / raw_seconds:.2f}")
    print(f"process peak memory                        = {peak_rss_mb():.0f} MB")
    plain_requests = plain_import(connection, procore_url, execute, create_run)
    print(
        "plain (changed-since) import, nothing changed: Procore requests = "
        f"{sum(plain_requests.values())} ("
        + ", ".join(f"{n} {call}" for call, n in sorted(plain_requests.items()))
        + ")"
    )
    if args.latency_ms:
        floor = full["requests"] * args.latency_ms / 1000
        print(
            f"full import at {args.latency_ms:g} ms, {args.writes_at_once} writes and "
            f"{args.reads_at_once} reads at once = "
            f"{full['seconds']:.1f} s; its floor (its {full['requests']:,} requests one after "
            f"another x {args.latency_ms:g} ms) = {floor:.1f} s; time / floor = "
            f"{full['seconds'] / floor:.2f}"
        )

    stop_procore.set()
    stop_exaktime.set()


if __name__ == "__main__":
    main()
