"""SIGTERM to a running command: the run stops cleanly, keeps its rows, and can be resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection as db

from linx.models import EntityMapping, RunStatus, RunTrigger, SyncRun
from linx.sync.execute import execute, rerun_failed

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database, as a URL a child process can open."""
    config = db.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(config['NAME']).resolve()}"
    user = config["USER"] or "postgres"
    return f"postgres://{user}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


def test_sigterm_stops_the_import_cleanly_and_it_resumes(
    transactional_db, sandbox_connection, exaktime_sandbox
):
    # Slow ExakTime writes, so the import is still going when the signal comes.
    exaktime_sandbox.faults.set("slow", seconds=0.2, count=None, method="POST")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "LINX_ENCRYPTION_KEYS": ",".join(settings.LINX_ENCRYPTION_KEYS),
    }
    child = subprocess.Popen(
        [sys.executable, "manage.py", "linx_import", "sandbox", "--entities", "employees", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        # A linked employee: a failed one is listed in Mappings too, linked to nothing.
        while not EntityMapping.objects.filter(
            entity_type="employee", exaktime_id__isnull=False
        ).exists():
            assert time.monotonic() < deadline, (
                child.stderr.read() if child.poll() else "no progress"
            )
            time.sleep(0.1)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    exaktime_sandbox.faults.clear()

    assert child.returncode == 2, err
    result = json.loads(out)
    run = SyncRun.objects.get(pk=result["run"])
    assert run.status == RunStatus.CANCELLED
    assert "SIGTERM" in run.message
    done = run.rows.count()
    assert done >= 1  # what it did is kept
    created_before = EntityMapping.objects.filter(
        entity_type="employee", exaktime_id__isnull=False
    ).count()

    resumed = execute(rerun_failed(run, trigger=RunTrigger.RERUN))

    assert resumed.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)
    assert resumed.counts.get("unchanged", 0) >= created_before - 1  # the done part costs nothing
    employees = exaktime_sandbox.records("employee", scope=1)
    identifiers = [e["identifier"] for e in employees]
    assert len(identifiers) == len(set(identifiers))  # nothing created twice
