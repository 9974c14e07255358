"""Benchmark: how throughput grows from one `qcluster` worker to two, on 20 connections.

Starts the Procore and ExakTime sandboxes, each in a process of its own (Procore at scale
`small`; ExakTime with an empty account per connection), creates a PostgreSQL database of
its own (`linx_bench` on 127.0.0.1:5432, user postgres; dropped at the end) and uses Redis
database 14 on 127.0.0.1:6379 as the broker. Then, for one and for two `manage.py qcluster`
processes (each with LINX_QUEUE_WORKERS=1 by default, so one worker runs one run at a
time and two run two), on freshly reset sandboxes and 20 fresh connections:

1. **imports**: an import for every connection, queued at once (each also does its
   automatic pre-import): the first import into an empty ExakTime account;
2. a generated week of punches in every account (untimed);
3. **exports**: an export of that week for every connection, queued at once.

Each phase's time runs from queueing to the last run's `finished_at`. It prints, per
configuration, runs per second and rows per second (every row a run recorded, automatic
pre-imports included) for each phase and both together, and the 2-worker / 1-worker ratio.
The configurations alternate 1, 2, 2, 1, ... so drift hits both alike; each is the median
of its rounds.

To read the ratio on a small machine it also samples /proc: how busy the cores were just
before the runs (other processes) and during them, and how much CPU Linx's stack (the
qcluster processes, the sandboxes, PostgreSQL and Redis) used per run, hence the most two
workers could gain on the cores there are.

    .venv/bin/python bench/scale_out.py [--rounds 3] [--queue-workers 1]

Needs PostgreSQL and Redis on 127.0.0.1 (as .ci/run's second pass does).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONNECTIONS = 20
POSTGRES = "postgres://postgres@127.0.0.1:5432"
DATABASE = "linx_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
WEEK = date(2026, 11, 16)
EXPORT_WEEK = {"from": WEEK.isoformat(), "to": (WEEK + timedelta(days=6)).isoformat()}
FIRST_ACCOUNT = 100  # ExakTime account of connection n: FIRST_ACCOUNT + n
DEADLINE = 600  # seconds a phase may take before the benchmark gives up


def api_key(n: int) -> str:
    return f"bench-key-{n:02d}"


# --- the sandboxes, each in its own process -------------------------------------------------


def serve(kind: str, state_path: str, ready, stop) -> None:
    """One sandbox's process: generate its data, serve until told to stop."""
    from integrations.exaktime.sandbox import ExakTimeSandbox
    from integrations.procore.sandbox import ProcoreSandbox
    from integrations.procore.sandbox import data as pc

    class Procore(ProcoreSandbox):
        def generate(self, scale: str = "small", seed: int = 1) -> None:
            super().generate(scale, seed)
            # The generated second company's workers carry the main company's work
            # classification ids, which Procore refuses on their timecard entries.
            own = [
                wc["id"] for wc in self.records("work_classification", scope=pc.SECOND_COMPANY_ID)
            ]
            for worker in self.records("user", scope=pc.SECOND_COMPANY_ID):
                if worker["work_classification_id"] not in own:
                    self.update("user", worker["id"], work_classification_id=own[0])

    class ExakTime(ExakTimeSandbox):
        def generate(self, seed: int = 1) -> None:
            super().generate(seed)
            keys = dict(self.store.kv_get("api_keys"))
            keys.update({api_key(n): (FIRST_ACCOUNT + n, False) for n in range(CONNECTIONS)})
            self.store.kv_set("api_keys", keys)

    if kind == "procore":
        sandbox = Procore(state_path, scale="small", reset=True)
    else:
        sandbox = ExakTime(state_path, reset=True)
    ready.put(sandbox.start())
    stop.wait()
    sandbox.stop()


def start_sandbox(kind: str, folder: str):
    ready, stop = multiprocessing.Queue(), multiprocessing.Event()
    process = multiprocessing.Process(
        target=serve, args=(kind, f"{folder}/{kind}.sqlite3", ready, stop), daemon=True
    )
    process.start()
    return ready.get(timeout=120), stop, process


# --- the database, the broker and the workers ----------------------------------------------


def recreate_database() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")


def drop_database() -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


class Cluster:
    """`manage.py qcluster` in its own process group, logging to a file."""

    def __init__(self, name: str, env: dict[str, str], folder: str) -> None:
        self.log_path = Path(folder) / f"qcluster-{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        give_up = time.monotonic() + timeout
        while b"running." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > give_up:
                sys.exit(f"qcluster did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        # SIGTERM to the main process only: it stops its workers itself. (Sent to the whole
        # group, as systemd's default KillMode=control-group does, qcluster never exits.)
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        self.process.wait()
        self._log.close()


# --- one measurement -----------------------------------------------------------------------


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def stack_cpu_seconds(groups: list[int], pids: list[int]) -> float:
    """CPU seconds used so far by Linx's stack: the qcluster process groups, the sandbox
    processes, PostgreSQL's and Redis's processes (not this script, not anyone else)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                text = stat.read()
        except OSError:
            continue  # gone meanwhile
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()  # from field 3, "state"
        pgid, utime, stime = int(fields[2]), int(fields[11]), int(fields[12])
        if pgid in groups or int(entry.name) in pids or comm in ("postgres", "redis-server"):
            ticks += utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def busy_share(since: tuple[int, int]) -> float:
    """How busy the machine's cores were (0..1) since ``since``: anyone's work, ours too."""
    busy, total = cpu_ticks()
    return (busy - since[0]) / max(total - since[1], 1)


def wait_finished(since, deadline: float = DEADLINE) -> None:
    """Until every run created since ``since`` is finished (automatic pre-imports too)."""
    from linx.models import FINISHED_STATUSES, SyncRun

    give_up = time.monotonic() + deadline
    while (
        SyncRun.objects.filter(created_at__gte=since)
        .exclude(status__in=list(FINISHED_STATUSES))
        .exists()
    ):
        if time.monotonic() > give_up:
            sys.exit(f"runs still unfinished after {deadline} s")
        time.sleep(0.05)


def phase(connections, kind, stack_cpu, parameters=None) -> dict:
    """Queue one run of ``kind`` per connection; wall time, runs and rows until all finish."""
    from collections import Counter

    from django.db.models import Max
    from django.utils import timezone

    from linx.models import RunTrigger, SyncRun
    from linx.sync.queueing import queue_runs

    ticks, cpu = cpu_ticks(), stack_cpu()
    began = timezone.now()
    requested = queue_runs(connections, kind, trigger=RunTrigger.COMMAND, parameters=parameters)
    wait_finished(began)
    runs = SyncRun.objects.filter(created_at__gte=began)
    ended = runs.aggregate(Max("finished_at"))["finished_at__max"]
    rows = sum(sum(run.counts.values()) for run in runs)
    return {
        "seconds": (ended - began).total_seconds(),
        "busy": busy_share(ticks),
        "cpu": stack_cpu() - cpu,
        "runs": len(requested),
        "rows": rows,
        "statuses": Counter(run.status for run in runs.filter(pk__in=[r.pk for r in requested])),
        "workers": Counter(run.worker for run in runs.exclude(worker="")),
    }


def measure(clusters: int, queue_workers: int, env, folder, urls, sandbox_pids) -> dict:
    """One configuration on fresh sandboxes and fresh connections."""
    from django_q.models import Task

    from integrations.procore.sandbox import data as pc
    from linx.models import Connection, RunKind

    procore_url, exaktime_url = urls
    for url in urls:
        requests.post(f"{url}/_sandbox/reset", json={}, timeout=120).raise_for_status()
    Connection.objects.all().delete()
    Task.objects.all().delete()
    connections = [
        Connection.objects.create(
            name=f"bench-{n:02d}",
            procore_login_url=procore_url,
            procore_api_url=procore_url,
            procore_client_id=pc.CLIENT_ID,
            procore_client_secret=pc.CLIENT_SECRET,
            procore_company_id=pc.COMPANY_ID if n % 2 == 0 else pc.SECOND_COMPANY_ID,
            exaktime_api_url=exaktime_url,
            exaktime_api_key=api_key(n),
            import_sub_jobs=True,
            crews_as_groups=True,
            projects_as_groups=True,
            projects_as_categories=True,
        )
        for n in range(CONNECTIONS)
    ]
    # INFO: the cluster says when it is ready ("... running."), and each run's start and end.
    env = {**env, "LINX_QUEUE_WORKERS": str(queue_workers), "LOG_LEVEL": "INFO"}
    tag = time.strftime("%H%M%S")
    running = [Cluster(f"{tag}-{clusters}-{n}", env, folder) for n in range(clusters)]
    try:
        for cluster in running:
            cluster.wait_ready()
        groups = [cluster.process.pid for cluster in running]

        def stack_cpu() -> float:
            return stack_cpu_seconds(groups, sandbox_pids)

        idle = cpu_ticks()
        time.sleep(2)  # the workers idle: what else keeps the machine busy
        background = busy_share(idle)
        imports = phase(connections, RunKind.IMPORT, stack_cpu)
        for n in range(CONNECTIONS):
            requests.post(
                f"{exaktime_url}/_sandbox/time_records",
                json={"week_start": WEEK.isoformat(), "account_id": FIRST_ACCOUNT + n},
                timeout=60,
            ).raise_for_status()
        exports = phase(connections, RunKind.EXPORT, stack_cpu, EXPORT_WEEK)
    finally:
        for cluster in running:
            cluster.stop()
    both = {
        "seconds": imports["seconds"] + exports["seconds"],
        "cpu": imports["cpu"] + exports["cpu"],
        "runs": imports["runs"] + exports["runs"],
        "rows": imports["rows"] + exports["rows"],
    }
    return {
        "background": background,
        "imports": imports,
        "exports": exports,
        "both": both,
        "workers": imports["workers"] + exports["workers"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measurements per configuration")
    parser.add_argument(
        "--queue-workers", type=int, default=1, help="LINX_QUEUE_WORKERS of each qcluster"
    )
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="linx-bench-")
    print("Starting the sandboxes and a database of its own ...", flush=True)
    procore_url, stop_procore, procore_process = start_sandbox("procore", folder)
    exaktime_url, stop_exaktime, exaktime_process = start_sandbox("exaktime", folder)
    sandbox_pids = [procore_process.pid, exaktime_process.pid]
    recreate_database()
    flush_redis()

    from cryptography.fernet import Fernet

    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LINX_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="linx.settings",
        DATABASE_URL=f"{POSTGRES}/{DATABASE}",
        REDIS_URL=REDIS_URL,
        SECRET_KEY="bench-only-" + "x" * 40,
        LINX_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        LINX_DATA_DIR=folder,
        DEBUG="false",
        LINX_HTTPS="false",
        LOG_LEVEL="WARNING",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections as databases
    from django_q.models import Schedule

    call_command("migrate", verbosity=0)
    Schedule.objects.all().delete()  # runs only: no periodic task competes for the workers

    order = [1, 2, 2, 1] * ((args.rounds + 1) // 2)
    order = order[: 2 * args.rounds]
    results: dict[int, list[dict]] = {1: [], 2: []}
    try:
        for number, clusters in enumerate(order, start=1):
            print(f"  measurement {number}/{len(order)}: {clusters} qcluster ...", flush=True)
            result = measure(
                clusters, args.queue_workers, env, folder, (procore_url, exaktime_url), sandbox_pids
            )
            results[clusters].append(result)
            for part in ("imports", "exports"):
                if failed := result[part]["statuses"].get("failed"):
                    print(f"    !! {failed} {part} failed: see {folder}/qcluster-*.log")
            print(
                f"    imports {result['imports']['seconds']:.1f} s, exports "
                f"{result['exports']['seconds']:.1f} s; cores busy: {result['background']:.0%} "
                f"before, {result['imports']['busy']:.0%} importing, "
                f"{result['exports']['busy']:.0%} exporting; Linx's stack used "
                f"{result['both']['cpu'] / result['both']['seconds']:.2f} cores; runs per worker process "
                f"{sorted(result['workers'].values(), reverse=True)}",
                flush=True,
            )
    finally:
        databases.close_all()
        drop_database()
        flush_redis()
        stop_procore.set()
        stop_exaktime.set()

    report(results, args.queue_workers)


def report(results: dict[int, list[dict]], queue_workers: int) -> None:
    def median(clusters: int, part: str, key: str) -> float:
        return statistics.median(r[part][key] for r in results[clusters])

    sample = results[1][0]
    print()
    print(
        f"20 connections: {sample['imports']['runs']} imports ({sample['imports']['rows']:,} rows "
        f"with their pre-imports), {sample['exports']['runs']} exports "
        f"({sample['exports']['rows']:,} rows); LINX_QUEUE_WORKERS={queue_workers} per qcluster; "
        f"median of {len(results[1])} rounds"
    )
    print(
        f"{'':10}{'':10}{'seconds':>9}{'runs/s':>9}{'rows/s':>9}"
        f"{'seconds':>10}{'runs/s':>9}{'rows/s':>9}{'ratio':>8}"
    )
    print(f"{'':20}{'--- 1 qcluster ---':>27}{'--- 2 qclusters ---':>28}")
    for part in ("imports", "exports", "both"):
        one = {k: median(1, part, k) for k in ("seconds", "runs", "rows")}
        two = {k: median(2, part, k) for k in ("seconds", "runs", "rows")}
        ratio = one["seconds"] / two["seconds"]
        print(
            f"{part:20}{one['seconds']:>9.1f}{one['runs'] / one['seconds']:>9.2f}"
            f"{one['rows'] / one['seconds']:>9.0f}{two['seconds']:>10.1f}"
            f"{two['runs'] / two['seconds']:>9.2f}{two['rows'] / two['seconds']:>9.0f}{ratio:>8.2f}"
        )
    both_one, both_two = median(1, "both", "seconds"), median(2, "both", "seconds")
    print()
    print(
        f"throughput(2 qclusters) / throughput(1 qcluster) = {both_one / both_two:.2f}"
        f"   ({both_one:.1f} s against {both_two:.1f} s for the same {CONNECTIONS * 2} runs)"
    )
    for clusters in (1, 2):
        shares = [r["background"] for r in results[clusters]]
        cores = statistics.median(
            r["both"]["cpu"] / r["both"]["seconds"] for r in results[clusters]
        )
        print(
            f"{clusters} qcluster: Linx's stack (workers, sandboxes, PostgreSQL, Redis) kept "
            f"{cores:.2f} cores busy; other processes {statistics.median(shares):.0%} of the "
            "machine before the runs"
        )
    cpu_per_run = statistics.median(r["both"]["cpu"] / r["both"]["runs"] for r in results[1])
    one_cores = statistics.median(r["both"]["cpu"] / r["both"]["seconds"] for r in results[1])
    cores = os.cpu_count() or 1
    others = statistics.median(r["background"] for r in results[1] + results[2]) * cores
    print(
        f"CPU per run at one worker = {cpu_per_run:.2f} s, {one_cores:.2f} cores busy: two "
        f"workers can reach at most {min(2, cores / one_cores):.2f}x on {cores} idle cores, "
        f"about {min(2, max(cores - others, one_cores) / one_cores):.2f}x beside the "
        f"{others:.2f} cores other processes used"
    )
    print(
        f"this machine has {os.cpu_count()} cores, shared by both sandboxes, PostgreSQL, Redis "
        "and the workers"
    )


if __name__ == "__main__":
    main()
