"""Benchmark: near-real-time import, from a change in Procore to its write in ExakTime.

Runs what `make demo` runs (the two sandboxes, the web server, one `qcluster`) on free
ports and a temporary SQLite data directory, imports once, switches near-real-time import
on, then, twice:

1. **clean deliveries**: 100 changes in the Procore sandbox over 10 seconds (renames,
   deactivations, new workers and new sub-jobs, in turn), each timed from the change to
   the moment ExakTime holds it (polled every 0.2 s): median and p95 (goal: p95 < 30 s,
   with the coalescing delay printed), and Procore requests per change (goal <= 1.5);
2. **faulty deliveries**: the same with deliveries duplicated, reordered and 10 % dropped;
   changes whose notice was dropped are not expected to arrive.

After each, a full import (`linx_import --full --json`) must find nothing to change: the
end state equals what a full import produces (after phase 2 a plain scheduled-style
import runs first, as the next scheduled import would).

    .venv/bin/python bench/webhooks.py [--coalesce 2]
"""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from integrations.procore.sandbox import data as pc  # noqa: E402
from linx import demo  # noqa: E402

CHANGES = 100
SPREAD = 10.0  # seconds the changes are spread over
WAIT = 90.0  # seconds a change may take before it counts as not arrived
EXTRA_WORKERS = 110
FAULTS = {"duplicate": 0.3, "reorder": 3.0, "drop": 0.1}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((demo.HOST, 0))
        return probe.getsockname()[1]


def records(base: str, kind: str, **params) -> list[dict]:
    answer = requests.get(
        f"{base}/_sandbox/records/{kind}", params={"per_page": 1000, **params}, timeout=10
    )
    return answer.json()["records"]


def manage_json(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "manage.py", *args, "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return json.loads(done.stdout)


class Change:
    """One change made in the Procore sandbox, and how to see it in ExakTime."""

    def __init__(self, kind: str, label: str, made_at: float, seen) -> None:
        self.kind, self.label, self.made_at, self.seen = kind, label, made_at, seen
        self.arrived_at: float | None = None


def make_change(n: int, phase: int, procore: str, workers: list[int], projects: list[int]):
    """The n-th change: rename, deactivate, add a worker, add a sub-job, in turn."""
    base = f"{procore}/_sandbox/records"
    tag = f"P{phase}N{n}"
    kind = ("rename", "deactivate", "new worker", "sub-job")[n % 4]
    turn = (phase - 1) * CHANGES // 4 + n // 4  # each worker is changed once in all
    renamed, deactivated = workers[: len(workers) // 2], workers[len(workers) // 2 :]
    if kind == "rename":
        worker = renamed[turn]
        requests.patch(f"{base}/user/{worker}", json={"last_name": tag}, timeout=10)
        return Change(kind, tag, time.monotonic(), lambda e, j: tag in e["last"])
    if kind == "deactivate":
        worker = deactivated[turn]
        requests.patch(f"{base}/user/{worker}", json={"is_active": False}, timeout=10)
        return Change(kind, str(worker), time.monotonic(), lambda e, j: worker in e["inactive"])
    if kind == "new worker":
        identifier = f"9{phase}{n:03d}"
        body = {"first_name": "Bench", "last_name": tag, "employee_id": identifier,
                "is_employee": True, "is_active": True}  # fmt: skip
        requests.post(f"{base}/user?scope={pc.COMPANY_ID}", json=body, timeout=10)
        return Change(kind, tag, time.monotonic(), lambda e, j: tag in e["last"])
    project = projects[n % len(projects)]
    body = {"code": f"{phase}{n:03d}", "name": tag, "active": True}
    requests.post(f"{base}/sub_job?scope={project}", json=body, timeout=10)
    return Change(kind, tag, time.monotonic(), lambda e, j: any(name.endswith(tag) for name in j))


def exaktime_view(exaktime: str, workers_by_employee: dict) -> tuple[dict, list[str]]:
    employees = records(exaktime, "employee", scope=1)
    view = {
        "last": {e.get("last_name") or "" for e in employees},
        "inactive": {
            workers_by_employee.get(e["id"]) for e in employees if e.get("is_active") is False
        },
    }
    return view, [j.get("name") or "" for j in records(exaktime, "job", scope=1)]


def phase(n_phase: int, env, procore, exaktime, workers, projects, mappings) -> dict:
    requests.delete(f"{procore}/_sandbox/requests", timeout=10)
    changes = []
    started = time.monotonic()
    for n in range(CHANGES):
        time.sleep(max(0.0, started + n * SPREAD / CHANGES - time.monotonic()))
        changes.append(make_change(n, n_phase, procore, workers, projects))
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and any(c.arrived_at is None for c in changes):
        employees, jobs = exaktime_view(exaktime, mappings())
        now = time.monotonic()
        for change in changes:
            if change.arrived_at is None and change.seen(employees, jobs):
                change.arrived_at = now
        time.sleep(0.2)
    log = requests.get(f"{procore}/_sandbox/requests", params={"limit": 100000}, timeout=10)
    calls = [r for r in log.json()["requests"] if r["path"].startswith("/rest/")]
    times = sorted(c.arrived_at - c.made_at for c in changes if c.arrived_at)
    return {
        "arrived": len(times),
        "median": statistics.median(times) if times else None,
        "p95": times[max(0, int(len(times) * 0.95) - 1)] if times else None,
        "procore_requests_per_change": len(calls) / CHANGES,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coalesce", type=int, default=2, help="LINX_WEBHOOK_COALESCE_SECONDS")
    options = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="linx-bench-webhooks-"))
    web, procore, exaktime = (f"http://{demo.HOST}:{free_port()}" for _ in range(3))
    env = demo.demo_environment(state)
    env.update({"LINX_PUBLIC_URL": web, "DATABASE_URL": "", "REDIS_URL": "",
                "LINX_WEBHOOK_COALESCE_SECONDS": str(options.coalesce)})  # fmt: skip
    demo.manage(env, "migrate", "--no-input")
    demo.manage(env, "linx_demo_setup", "--email", demo.DEMO_EMAIL,
                "--procore-url", procore, "--exaktime-url", exaktime)  # fmt: skip
    children = demo.Children(env)
    try:
        children.start("the sandboxes", "linx_sandbox", "--host", demo.HOST,
                       "--procore-port", procore.rsplit(":", 1)[1],
                       "--exaktime-port", exaktime.rsplit(":", 1)[1],
                       "--state-dir", str(state / "sandbox"), "--reset", quiet=True)  # fmt: skip
        children.start("the web server", "runserver", web.removeprefix("http://"), "--noreload")
        children.start("the queue worker", "qcluster")
        demo.wait_until_answering(
            children,
            {"procore": f"{procore}/_sandbox/state", "exaktime": f"{exaktime}/_sandbox/state",
             "web": f"{web}/accounts/login/"},
            lambda: False,
        )  # fmt: skip
        for n in range(EXTRA_WORKERS):  # enough workers that each is changed once
            body = {"first_name": "Crew", "last_name": f"Member {n}", "employee_id": f"8{n:04d}",
                    "is_employee": True, "is_active": True}  # fmt: skip
            requests.post(f"{procore}/_sandbox/records/user?scope={pc.COMPANY_ID}", json=body,
                          timeout=10)  # fmt: skip
        demo.switch_on_webhooks(env)
        return run_phases(env, procore, exaktime)
    finally:
        children.stop()


def mapped(env, entity_type: str) -> dict[int, int]:
    """ExakTime id -> Procore id of the records Linx has written, from its database."""
    with sqlite3.connect(Path(env["LINX_DATA_DIR"]) / "linx.sqlite3") as db:
        rows = db.execute(
            "SELECT exaktime_id, procore_id FROM linx_entitymapping WHERE entity_type = ? "
            "AND exaktime_id IS NOT NULL",
            (entity_type,),
        ).fetchall()
    return {int(e): p for e, p in rows}


def linx_ids(env, entity_type: str) -> set[int]:
    return set(mapped(env, entity_type).values())


def run_phases(env, procore: str, exaktime: str) -> int:
    def mappings() -> dict:  # ExakTime employee id -> Procore worker id
        return mapped(env, "employee")

    # Only records the first import wrote (the generated company has records that fail on
    # purpose: a name too long, no employee id): a change to them cannot reach ExakTime.
    imported = linx_ids(env, "employee")
    workers = [u["id"] for u in records(procore, "user", scope=pc.COMPANY_ID)
               if u.get("is_active") and u["id"] in imported]  # fmt: skip
    locations = linx_ids(env, "location")
    projects = [p["id"] for p in records(procore, "project", scope=pc.COMPANY_ID)
                if p.get("active") and p["id"] in locations]  # fmt: skip
    print(f"Coalescing delay: {env['LINX_WEBHOOK_COALESCE_SECONDS']} s; "
          f"{CHANGES} changes over {SPREAD:.0f} s; one qcluster.")  # fmt: skip
    results = {"clean": phase(1, env, procore, exaktime, workers, projects, mappings)}
    full = manage_json(env, "linx_import", "demo", "--full")
    results["clean"]["full_import_changes"] = _changes(full)
    results["clean"]["left"] = _left(env, full)
    requests.post(f"{procore}/_sandbox/webhooks", json=FAULTS, timeout=10)
    results["faulty"] = phase(2, env, procore, exaktime, workers, projects, mappings)
    manage_json(env, "linx_import", "demo")  # the next scheduled plain import
    full = manage_json(env, "linx_import", "demo", "--full")
    results["faulty"]["full_import_changes"] = _changes(full)
    results["faulty"]["left"] = _left(env, full)
    print(f"{'deliveries':<10} {'arrived':>8} {'median s':>9} {'p95 s':>7} "
          f"{'req/change':>11} {'full import changes':>20}")  # fmt: skip
    for name, r in results.items():
        print(f"{name:<10} {r['arrived']:>8} {_s(r['median']):>9} {_s(r['p95']):>7} "
              f"{r['procore_requests_per_change']:>11.2f} {r['full_import_changes']:>20}")  # fmt: skip
        for entity_type, outcome, name in r["left"]:
            print(f"  left for the full import: {entity_type} {name!r} {outcome}")
    clean = results["clean"]
    ok = (
        clean["arrived"] == CHANGES
        and clean["p95"] is not None
        and clean["p95"] < 30
        and clean["procore_requests_per_change"] <= 1.5
        and clean["full_import_changes"] == 0
        and results["faulty"]["full_import_changes"] == 0
    )
    print("goals met" if ok else "GOALS NOT MET")
    return 0 if ok else 1


def _changes(result: dict) -> int:
    counts = result.get("counts", {})
    return sum(counts.get(k, 0) for k in ("created", "updated", "deactivated", "deleted"))


def _left(env, result: dict) -> list[tuple[str, str, str]]:
    """What a full import still changed: (entity type, outcome, name) of each row."""
    with sqlite3.connect(Path(env["LINX_DATA_DIR"]) / "linx.sqlite3") as db:
        return db.execute(
            "SELECT entity_type, outcome, name FROM linx_rowresult WHERE run_id = ? AND "
            "outcome IN ('created', 'updated', 'deactivated', 'deleted')",
            (result.get("run"),),
        ).fetchall()


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


if __name__ == "__main__":
    sys.exit(main())
