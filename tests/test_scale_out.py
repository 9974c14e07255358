"""Scale-out: two `qcluster` processes on PostgreSQL and Redis share 20 connections' runs.

The proof issue 7 asks for, end to end: real `manage.py qcluster` processes (each a
process group of its own), the real Redis broker, the test PostgreSQL database, and the
two sandboxes on loopback. Each connection has an ExakTime account of its own (extra API
keys registered in the sandbox), so what ExakTime and Procore hold can be checked per
connection; half the connections share Procore's realistic company, half the tiny second
one, so their exports meet in the same Procore company.

1. **Shared work** (85 requested runs): each connection's import and export queued side
   by side, then, after punching a week into every account, its export and import again,
   with a second import right behind the first for a quarter of the connections. Every
   run finishes, through exactly one django-q task; no two runs of one (connection, kind)
   overlap in time (automatic pre-imports included); every run wrote each row once; both
   clusters ran runs; Procore holds exactly one timecard entry per (time record, hour
   kind), and exactly the ones the exports say they created.
2. **Kill**: new Procore workers, ExakTime's writes slowed, an import for every
   connection; as soon as cluster A has run one for a second, A's whole process group
   gets SIGKILL. B carries on and finishes everything else; A's runs, silent since the
   kill, are marked failed ("stopped without finishing") by B's first task after
   LINX_RUN_DEAD_AFTER; a re-run of each links or creates every new worker exactly once.
   The tasks A's pusher had taken from Redis but not started die with it and leave their
   runs queued: the test queues them again (nothing in Linx does yet).

Only runs on PostgreSQL with REDIS_URL set (CI's second pass); skipped otherwise. The
last test, which needs neither, pins a race between two workers that is not fixed yet.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from integrations.procore.sandbox import data as pc
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    Outcome,
    RowResult,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
)

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 20
WORKERS_PER_CLUSTER = 2
HEARTBEAT_SECONDS = 1
# The kill test waits this long after the kill before B's next task can reap A's run;
# five heartbeats, so a live run on a busy machine is not taken for dead.
DEAD_AFTER_SECONDS = 5
WEEK = date(2026, 11, 16)
EXPORT_WEEK = {"from": WEEK.isoformat(), "to": (WEEK + timedelta(days=6)).isoformat()}
DEADLINE = 120  # seconds any one wait may take
# What an export says when it went on before the pre-import another worker was running had
# stored the time types ("known: none: run the pre-import", or only some: "known: REG").
PREIMPORT_RACE = "Procore has no timecard time type"
# started_at is the worker's clock just before its claim, which may wait a moment for the
# run before it to commit its finish; so the stamps may cross by that much (see the report).
CLAIM_SLACK = timedelta(milliseconds=250)
NEW_WORKERS = {pc.COMPANY_ID: 24, pc.SECOND_COMPANY_ID: 8}  # added before the kill


def _on_postgres_and_redis() -> bool:
    engine = settings.DATABASES["default"]["ENGINE"]
    return engine == "django.db.backends.postgresql" and bool(settings.REDIS_URL)


needs_postgres_and_redis = pytest.mark.skipif(
    not _on_postgres_and_redis(),
    reason="needs DATABASE_URL=postgres://... and REDIS_URL: two qcluster processes "
    "share work only through PostgreSQL and Redis (run by .ci/run's second pass)",
)


# --- the clusters ------------------------------------------------------------------------


class Cluster:
    """`manage.py qcluster` in a process group of its own, logging to a file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: pgid == pid
        )
        self.killed = False

    @property
    def pgid(self) -> int:
        return self.process.pid

    def owns(self, pid: int) -> bool:
        try:
            return os.getpgid(pid) == self.pgid
        except ProcessLookupError:
            return False

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the main process, sentinel, pusher, monitor, workers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.killed = True

    def stop(self) -> None:
        if not self.killed:
            self.kill()
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def cluster_env() -> dict[str, str]:
    """What a worker host would be given: the test database, the test Redis, test secrets."""
    database = db.settings_dict
    credentials = quote(database["USER"] or "postgres", safe="")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LINX_", "PYTEST", "DJANGO_"))
    }
    env.update(
        DATABASE_URL=f"postgres://{credentials}@{host}:{port}/{quote(database['NAME'])}",
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        LINX_ENCRYPTION_KEYS=",".join(settings.LINX_ENCRYPTION_KEYS),
        LINX_QUEUE_WORKERS=str(WORKERS_PER_CLUSTER),
        LINX_RUN_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        LINX_RUN_DEAD_AFTER=str(DEAD_AFTER_SECONDS),
        # One ExakTime write at a time: the kill below must find an import still running
        # (slowed ExakTime writes); four at once finish them before it can look.
        LINX_EXAKTIME_WRITES_AT_ONCE="1",
        DJANGO_SETTINGS_MODULE="linx.settings",
        DEBUG="false",
        LINX_HTTPS="false",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


# --- watching the runs -------------------------------------------------------------------


class Watch:
    """Which cluster each worker pid belongs to (learned while the processes live)."""

    def __init__(self, clusters: list[Cluster]) -> None:
        self.clusters = clusters
        self.owner: dict[str, str] = {}  # "host:pid" -> cluster name

    def learn(self) -> None:
        workers = set(
            SyncRun.objects.exclude(worker="").values_list("worker", flat=True).distinct()
        )
        for worker in workers - set(self.owner):
            pid = int(worker.rsplit(":", 1)[1])
            for cluster in self.clusters:
                if cluster.owns(pid):
                    self.owner[worker] = cluster.name

    def cluster_of(self, run: SyncRun) -> str:
        return self.owner.get(run.worker, "?")

    def check_alive(self) -> None:
        for cluster in self.clusters:
            if not cluster.killed and not cluster.alive():
                pytest.fail(f"qcluster {cluster.name} exited:\n{cluster.tail()}")

    def until(self, done, what: str, timeout: float = DEADLINE, every: float = 0.2):
        """Poll ``done()`` (learning worker owners meanwhile) until it is truthy."""
        give_up = time.monotonic() + timeout
        while True:
            self.learn()
            result = done()
            if result:
                return result
            self.check_alive()
            if time.monotonic() > give_up:
                states = Counter(SyncRun.objects.values_list("status", flat=True))
                logs = "\n".join(f"--- {c.name}\n{c.tail(15)}" for c in self.clusters)
                pytest.fail(f"gave up after {timeout:.0f} s waiting for {what}: {states}\n{logs}")
            time.sleep(every)


def all_finished(ids: list[int]):
    def done() -> bool:
        return (
            not SyncRun.objects.filter(pk__in=ids)
            .exclude(status__in=[s.value for s in FINISHED])
            .exists()
        )

    return done


FINISHED = (
    RunStatus.SUCCEEDED,
    RunStatus.PARTIAL,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.SKIPPED,
)


def queue_tasks(ids: list[int]) -> Counter:
    """How many django-q results (success or failure) each run's task left."""
    from django_q.models import Task

    found = Counter()
    for args in Task.objects.filter(func="linx.tasks.execute_run").values_list("args", flat=True):
        if args and args[0] in ids:
            found[args[0]] += 1
    return found


# --- the sandboxes -----------------------------------------------------------------------


def give_each_connection_an_account(exaktime_sandbox) -> list[str]:
    """An ExakTime API key (and empty account) per connection, so none shares records."""
    keys = dict(exaktime_sandbox.store.kv_get("api_keys"))
    mine = [f"scale-out-key-{n:02d}" for n in range(CONNECTIONS)]
    keys.update({key: (100 + n, False) for n, key in enumerate(mine)})
    exaktime_sandbox.store.kv_set("api_keys", keys)
    return mine


def account_of(connection: Connection) -> int:
    return 100 + int(connection.name.rsplit("-", 1)[1])


def live_entries(procore_sandbox) -> list[dict]:
    return [e for e in procore_sandbox.records("timecard_entry") if not e.get("deleted_at")]


def make_connections(procore_sandbox, exaktime_sandbox) -> list[Connection]:
    from integrations.procore.sandbox import data as procore_data

    keys = give_each_connection_an_account(exaktime_sandbox)
    classify_second_company_workers(procore_sandbox)
    return [
        Connection.objects.create(
            name=f"scale-{n:02d}",
            procore_login_url=procore_sandbox.url,
            procore_api_url=procore_sandbox.url,
            procore_client_id=procore_data.CLIENT_ID,
            procore_client_secret=procore_data.CLIENT_SECRET,
            procore_company_id=pc.COMPANY_ID if n % 2 == 0 else pc.SECOND_COMPANY_ID,
            exaktime_api_url=exaktime_sandbox.url,
            exaktime_api_key=key,
            import_sub_jobs=True,
            crews_as_groups=True,
            projects_as_groups=True,
            projects_as_categories=True,
        )
        for n, key in enumerate(keys)
    ]


def classify_second_company_workers(procore_sandbox) -> None:
    """Give the second company's workers one of its own work classifications.

    The sandbox generates them with the main company's classification ids, which the
    second company does not have, so Procore refuses every entry an export sends for them.
    """
    own = [
        wc["id"]
        for wc in procore_sandbox.records("work_classification", scope=pc.SECOND_COMPANY_ID)
    ]
    for worker in procore_sandbox.records("user", scope=pc.SECOND_COMPANY_ID):
        if worker["work_classification_id"] not in own:
            procore_sandbox.update("user", worker["id"], work_classification_id=own[0])


def add_procore_workers(procore_sandbox) -> dict[int, dict[int, str]]:
    """New active employees in both companies: work for the imports the kill interrupts.

    Returns {company: {Procore worker id: employee ID}}."""
    added: dict[int, dict[int, str]] = {}
    for company, count in NEW_WORKERS.items():
        for n in range(count):
            employee_id = f"77{n:02d}" if company == pc.COMPANY_ID else f"S-7{n:02d}"
            worker = procore_sandbox.add(
                "user",
                {"employee_id": employee_id, "first_name": "Kill", "last_name": f"Test {n}"},
                scope=company,
            )
            added.setdefault(company, {})[worker["id"]] = employee_id
    return added


# --- the test ------------------------------------------------------------------------------


@pytest.mark.postgres
@needs_postgres_and_redis
def test_two_qcluster_processes_share_the_runs_and_survive_a_killed_one(
    transactional_db, procore_sandbox, exaktime_sandbox, tmp_path
):
    from django_q.brokers import get_broker

    from linx.sync.execute import execute, rerun_failed
    from linx.sync.queueing import queue_runs

    began = time.monotonic()
    broker = get_broker()
    broker.delete_queue()  # nothing left behind by an earlier test may reach these workers
    connections = make_connections(procore_sandbox, exaktime_sandbox)
    env = cluster_env()
    clusters = [Cluster(name, env, tmp_path / f"qcluster-{name}.log") for name in ("A", "B")]
    watch = Watch(clusters)
    a, _b = clusters
    timings: dict[str, float] = {}
    try:
        # --- 1. shared work ------------------------------------------------------------
        t0 = time.monotonic()
        # Side by side in the queue: a connection's import and export start together.
        first = ask([(c, kind) for c in connections for kind in (RunKind.IMPORT, RunKind.EXPORT)])
        watch.until(all_finished([r.pk for r in first]), "the first imports and exports")
        timings["imports + empty exports (40 runs)"] = time.monotonic() - t0

        punched = {
            c.pk: exaktime_sandbox.generate_time_records(WEEK, 1, account_of(c))
            for c in connections
        }
        assert all(punched.values()), punched

        t0 = time.monotonic()
        # A quarter of the connections ask for their import twice, back to back: two
        # workers take them at once, and the claim lets one run (the other is skipped, or
        # runs after it).
        second = ask(
            [
                (c, kind)
                for n, c in enumerate(connections)
                for kind in [RunKind.EXPORT, RunKind.IMPORT] + [RunKind.IMPORT] * (n % 4 == 0)
            ]
        )
        requested = first + second
        ids = [r.pk for r in requested]
        watch.until(all_finished(ids), "the exports and second imports")
        timings["exports + imports + duplicates (45 runs)"] = time.monotonic() - t0

        # Every requested run finished, through exactly one task of the queue.
        runs = {r.pk: r for r in SyncRun.objects.filter(pk__in=ids)}
        assert all(run.status in FINISHED for run in runs.values())
        # None failed: a run that needs the first pre-import another worker is running
        # waits for it (see the last test).
        failed = [
            (run.pk, run.kind, run.message)
            for run in runs.values()
            if run.status == RunStatus.FAILED
        ]
        assert not failed, failed
        tasks = watch.until(
            lambda: (found := queue_tasks(ids)) and sum(found.values()) >= len(ids) and found,
            "django-q to record a result for every task",
            timeout=30,
        )
        assert set(tasks) == set(ids) and set(tasks.values()) == {1}, tasks
        # The exports of the punched week did real work.
        exports = [runs[r.pk] for r in second if r.kind == RunKind.EXPORT]
        assert all(run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) for run in exports), [
            (run.pk, run.status, run.message) for run in exports
        ]
        assert all(run.counts.get(Outcome.CREATED) for run in exports), [
            (run.pk, run.counts) for run in exports
        ]
        # Every run's rows written once: as many rows as it counted, none twice.
        for run in runs.values():
            rows = list(run.rows.values_list("entity_type", "procore_id", "exaktime_id"))
            assert len(rows) == sum(run.counts.values()), (run.pk, run.counts, len(rows))
            keys = [(kind, pid if run.kind != RunKind.EXPORT else xid) for kind, pid, xid in rows]
            keyed = [key for key in keys if key[1] not in (None, "")]
            assert len(keyed) == len(set(keyed)), (run.pk, Counter(keyed).most_common(3))
        assert_no_overlap()
        done_by = Counter(watch.cluster_of(run) for run in runs.values() if run.started_at)
        assert done_by["A"] and done_by["B"], done_by
        assert_exactly_one_entry_per_record_and_hour_kind(procore_sandbox, exaktime_sandbox)

        # --- 2. kill -------------------------------------------------------------------
        added = add_procore_workers(procore_sandbox)
        exaktime_sandbox.faults.set("slow", seconds=0.1, method="POST", count=None)
        t0 = time.monotonic()
        third = queue_runs(connections, RunKind.IMPORT, trigger=RunTrigger.ADMIN)
        third_ids = [r.pk for r in third]

        def running_on_a():
            return [
                run
                for run in SyncRun.objects.filter(pk__in=third_ids, status=RunStatus.RUNNING)
                if watch.cluster_of(run) == "A"
                and timezone.now() - run.started_at > timedelta(seconds=1)
            ]

        watch.until(running_on_a, "an import running on cluster A", every=0.05)
        a.kill()
        killed_at = timezone.now()
        timings["kill: until A ran an import"] = time.monotonic() - t0
        victims = [
            run
            for run in SyncRun.objects.filter(pk__in=third_ids, status=RunStatus.RUNNING)
            if watch.cluster_of(run) == "A"
        ]
        assert victims
        finished_before = set(
            SyncRun.objects.filter(pk__in=third_ids, status__in=FINISHED).values_list(
                "pk", flat=True
            )
        )
        exaktime_sandbox.faults.clear()

        # B carries on: everything it takes finishes; nothing is left running but A's.
        victim_ids = {run.pk for run in victims}
        others = [pk for pk in third_ids if pk not in victim_ids]

        def b_drained():
            left = SyncRun.objects.filter(pk__in=third_ids).exclude(pk__in=victim_ids)
            if left.filter(status=RunStatus.RUNNING).exists() or broker.queue_size():
                return False
            return list(left.filter(status=RunStatus.QUEUED))

        lost = drain(watch, b_drained)
        # A took tasks out of Redis it never started (its pusher prefetches into a local
        # queue): they died with it and their runs stay queued. Queue them again, as an
        # operator (or a sweep the engine lacks, see the issue) would; B does them.
        for run in lost:
            assert run.started_at is None and run.worker == ""
        from linx.sync.queueing import enqueue

        for run in lost:
            enqueue(run)
        watch.until(all_finished(others), "cluster B to finish every other import")
        for run in SyncRun.objects.filter(pk__in=others):
            assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), (run.pk, run.message)
            if run.pk not in finished_before:
                assert watch.cluster_of(run) == "B", (run.pk, run.worker)
        timings["kill: B finished the rest"] = time.monotonic() - t0

        # A's runs are dead: silent since the kill and, once silent for LINX_RUN_DEAD_AFTER,
        # marked failed by B's next task (execute_run reaps dead runs first).
        for run in victims:
            run.refresh_from_db()
            assert run.heartbeat_at <= killed_at, (run.pk, run.heartbeat_at, killed_at)
        silent_until = max(run.heartbeat_at for run in victims) + timedelta(
            seconds=DEAD_AFTER_SECONDS + 1
        )
        while timezone.now() < silent_until:
            watch.check_alive()
            time.sleep(0.5)
        (probe,) = queue_runs([connections[0]], RunKind.PREIMPORT, trigger=RunTrigger.ADMIN)
        watch.until(all_finished([probe.pk]), "B's next task")
        for run in victims:
            run.refresh_from_db()
            assert run.status == RunStatus.FAILED, (run.pk, run.status)
            assert "stopped without finishing" in run.message
            assert run.finished_at >= killed_at
        timings["kill: until A's run was reaped"] = time.monotonic() - t0
        # One django-q result per task B ran; none for A's killed runs; never two for a run.
        # (A run A finished just before the kill may have none: A's monitor saves results a
        # moment after the run ends, and died with it.)
        by_b = [pk for pk in others if pk not in finished_before]
        tasks = watch.until(
            lambda: (found := queue_tasks(third_ids)) and all(found[pk] for pk in by_b) and found,
            "django-q to record B's results",
            timeout=30,
        )
        assert all(tasks[pk] == 1 for pk in by_b), tasks
        assert not any(tasks[pk] for pk in victim_ids), tasks
        assert max(tasks.values()) == 1, tasks

        # ... and resumable: a re-run finishes the job, nothing created twice.
        resumed = []
        for run in victims:
            before = new_workers_in_exaktime(run.connection, added, exaktime_sandbox)
            rerun = execute(rerun_failed(run, trigger=RunTrigger.RERUN))
            assert rerun.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), rerun.message
            assert_every_new_worker_once(run.connection, added, exaktime_sandbox)
            resumed.append((run, before, rerun))
        for connection in connections:
            assert_every_new_worker_once(connection, added, exaktime_sandbox)
        assert_no_overlap()
        assert_exactly_one_entry_per_record_and_hour_kind(procore_sandbox, exaktime_sandbox)
        timings["whole test"] = time.monotonic() - began
        report(watch, requested + third, resumed, lost, added, timings)
    finally:
        for cluster in clusters:
            cluster.stop()
        broker.delete_queue()
        wait_for_their_sessions_to_end()


def wait_for_their_sessions_to_end(timeout: float = 10) -> None:
    """Until PostgreSQL has let go of the killed workers' sessions (or ``timeout``), so the
    test database can be dropped at the end of the run."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if not cursor.fetchone()[0]:
                return
        time.sleep(0.1)


@transaction.atomic
def ask(requests: list[tuple[Connection, RunKind]]) -> list[SyncRun]:
    """Request these runs, queued in this order (one transaction: queued as it commits)."""
    from linx.sync.queueing import queue_runs

    return [
        run
        for connection, kind in requests
        for run in queue_runs(
            [connection],
            kind,
            trigger=RunTrigger.ADMIN,
            parameters=EXPORT_WEEK if kind == RunKind.EXPORT else None,
        )
    ]


def drain(watch: Watch, b_drained) -> list[SyncRun]:
    """What ``b_drained()`` returns once it has held for two seconds (B may be between tasks)."""
    give_up, stable_since = time.monotonic() + DEADLINE, None
    while True:
        watch.learn()
        watch.check_alive()
        result = b_drained()
        if result is False:
            stable_since = None
        else:
            stable_since = stable_since or time.monotonic()
            if time.monotonic() - stable_since >= 2:
                return result
        if time.monotonic() > give_up:
            pytest.fail(f"cluster B did not go idle within {DEADLINE} s")
        time.sleep(0.2)


# --- assertions --------------------------------------------------------------------------


def assert_no_overlap() -> None:
    """No two runs of one (connection, kind) ran at the same time (automatic ones included).

    Each run's interval is [started_at, finished_at]; the next one may start no earlier
    than CLAIM_SLACK before the previous one's end (a real overlap lasts as long as a run)."""
    spans = defaultdict(list)
    for run in SyncRun.objects.exclude(started_at=None):
        end = run.finished_at or timezone.now()
        spans[run.connection_id, run.kind].append((run.started_at, end, run.pk))
    for key, runs in spans.items():
        runs.sort()
        for (_, end, pk), (start, _, next_pk) in itertools.pairwise(runs):
            assert end - CLAIM_SLACK <= start, f"runs {pk} and {next_pk} of {key} overlap"


def assert_exactly_one_entry_per_record_and_hour_kind(procore_sandbox, exaktime_sandbox) -> None:
    entries = live_entries(procore_sandbox)
    origins = Counter(e["origin_id"] for e in entries)
    doubled = [origin for origin, count in origins.items() if count > 1]
    assert not doubled, f"{len(doubled)} origin ids have more than one entry: {doubled[:5]}"
    expected = set()
    for record_id in set(
        RowResult.objects.filter(
            run__kind=RunKind.EXPORT, outcome=Outcome.CREATED, entity_type=EntityType.TIME_RECORD
        ).values_list("exaktime_id", flat=True)
    ):
        record = exaktime_sandbox.get("time_record", int(record_id))
        for kind, hours in (
            ("regular", record["regular_hours"]),
            ("ot1", record["ot1_hours"]),
            ("ot2", record["ot2_hours"]),
        ):
            if hours:
                expected.add(f"{record_id}-{kind}")
    assert expected and set(origins) == expected


def new_workers_in_exaktime(connection: Connection, added, exaktime_sandbox) -> tuple[int, int]:
    """How many of the added workers ExakTime holds for ``connection``, and Linx links."""
    wanted = added[connection.procore_company_id]
    held = sum(
        1
        for e in exaktime_sandbox.records("employee", scope=account_of(connection))
        if e["identifier"] in wanted.values()
    )
    linked = EntityMapping.objects.filter(
        connection=connection, entity_type=EntityType.EMPLOYEE, procore_id__in=list(wanted)
    ).count()
    return held, linked


def assert_every_new_worker_once(connection: Connection, added, exaktime_sandbox) -> None:
    """The workers added before the kill: each one ExakTime employee, linked to it."""
    employees = exaktime_sandbox.records("employee", scope=account_of(connection))
    identifiers = Counter(e["identifier"] for e in employees)
    by_identifier = {e["identifier"]: str(e["id"]) for e in employees}
    wanted = added[connection.procore_company_id]
    for employee_id in wanted.values():
        assert identifiers[employee_id] == 1, (connection.name, employee_id)
    links = dict(
        EntityMapping.objects.filter(
            connection=connection, entity_type=EntityType.EMPLOYEE, procore_id__in=list(wanted)
        ).values_list("procore_id", "exaktime_id")
    )
    assert links == {pid: by_identifier[eid] for pid, eid in wanted.items()}, connection.name


def report(watch, runs, resumed, lost, added, timings) -> None:
    """What happened, per queue worker process: runs, kinds, statuses, durations."""
    by_worker = defaultdict(list)
    for run in SyncRun.objects.filter(pk__in=[r.pk for r in runs]).exclude(started_at=None):
        by_worker[watch.cluster_of(run), run.worker].append(run)
    print("\n\nscale-out: requested runs per queue worker process")
    print(
        f"{'cluster':8}{'worker':14}{'runs':>5}{'imp':>5}{'exp':>5}{'mean s':>8}{'max s':>7}  statuses"
    )
    for (cluster, worker), done in sorted(by_worker.items()):
        seconds = [(r.finished_at - r.started_at).total_seconds() for r in done if r.finished_at]
        kinds = Counter(r.kind for r in done)
        print(
            f"{cluster:8}{worker[-14:]:14}{len(done):>5}{kinds[RunKind.IMPORT]:>5}"
            f"{kinds[RunKind.EXPORT]:>5}{sum(seconds) / max(len(seconds), 1):>8.2f}"
            f"{max(seconds or [0]):>7.2f}  {dict(Counter(r.status for r in done))}"
        )
    never = SyncRun.objects.filter(pk__in=[r.pk for r in runs], started_at=None)
    print(f"never started (skipped: another run held the connection): {never.count()}")
    raced = SyncRun.objects.filter(
        pk__in=[r.pk for r in runs], status=RunStatus.FAILED, message__contains=PREIMPORT_RACE
    )
    print(f"exports failed for want of the pre-import another worker ran: {raced.count()}")
    automatic = SyncRun.objects.filter(trigger=RunTrigger.AUTOMATIC)
    print(f"automatic pre-imports: {dict(Counter(automatic.values_list('status', flat=True)))}")
    print(f"tasks A took from Redis and lost unstarted (queued again by the test): {len(lost)}")
    for run, before, rerun in resumed:
        wanted = len(added[run.connection.procore_company_id])
        print(
            f"killed run #{run.pk} ({run.connection.name}): of {wanted} new workers, "
            f"{before[0]} in ExakTime and {before[1]} linked by Linx at the kill; "
            f"re-run #{rerun.pk} {rerun.status} {dict(rerun.counts)}"
        )
    for what, seconds in timings.items():
        print(f"{what:45}{seconds:7.1f} s")


# --- a race two workers meet -------------------------------------------------------------


def test_an_import_beside_another_workers_first_preimport_waits_for_its_data(
    transactional_db, sandbox_connection, procore_sandbox, exaktime_sandbox
):
    """Queued side by side, a new connection's import and export start on two workers;
    each wants the first pre-import, one runs it. The other must not go on without its
    work classifications (employees written without one) or time types (an export that
    fails with "known: none: run the pre-import")."""
    import threading

    from linx.clients import exaktime_client, procore_client
    from linx.sync.execute import execute
    from linx.sync.preimport import PreImporter
    from linx.sync.runs import RunRecorder, claim, create_run

    connection = sandbox_connection
    # The other worker has just claimed the connection's first pre-import ...
    theirs = claim(create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.AUTOMATIC))

    def other_worker() -> None:  # ... and finishes it a moment later.
        try:
            time.sleep(1)
            with RunRecorder(theirs) as recorder:
                with procore_client(connection) as procore, exaktime_client(connection) as et:
                    PreImporter(connection, recorder, procore, et).run()
                recorder.finish()
        finally:
            db.close()  # this thread's own connection, so the test database can be dropped

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        run = execute(
            create_run(
                connection,
                RunKind.IMPORT,
                trigger=RunTrigger.ADMIN,
                parameters={"entities": ["employees"]},
            )
        )
    finally:
        thread.join()

    classification = {
        w["id"]: w["work_classification_id"]
        for w in procore_sandbox.records("user", scope=pc.COMPANY_ID)
    }
    created = run.rows.filter(entity_type=EntityType.EMPLOYEE, outcome=Outcome.CREATED)
    assert created.exists() or run.status != RunStatus.SUCCEEDED
    unclassified = [
        row.procore_id
        for row in created
        if classification[row.procore_id]
        and not exaktime_sandbox.get("employee", int(row.exaktime_id))["work_classification"]
    ]
    assert unclassified == [], (
        f"{len(unclassified)} of {created.count()} employees written without the work "
        f"classification their Procore worker has (the pre-import had not stored them yet)"
    )
