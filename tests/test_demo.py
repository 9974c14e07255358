"""`make demo` end to end: `python -m linx.demo` on free ports and a data directory of its own.

It must start the sandboxes, the web server and a queue worker, point a demo connection at
the sandboxes, print where to log in only once everything answers, and leave nothing
running or listening after Ctrl-C (SIGINT).
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.auth import MemoryTokenStore
from integrations.procore.client import ProcoreClient
from integrations.procore.sandbox import data as procore_data

ROOT = Path(__file__).resolve().parent.parent


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def descendants(root: int) -> set[int]:
    """Every process below `root` (Linux: read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, that is: neither gone nor a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def demo_env(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {**os.environ, "LINX_DATA_DIR": str(tmp_path)}
    env.update({name: str(port) for name, port in ports.items()})
    # SQLite and its own queue in the temporary directory, whatever this run uses.
    env.update({"DATABASE_URL": "", "REDIS_URL": ""})
    return env


class Output:
    """The demo's output, read by a thread as it comes."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.text = ""
        self._reader = threading.Thread(
            target=lambda: [self.lines.put(line) for line in process.stdout], daemon=True
        )
        self._reader.start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.text)):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout} s in:\n{self.text}")
            with contextlib.suppress(queue.Empty):
                self.text += self.lines.get(timeout=min(left, 0.5))
        return found

    def rest(self, timeout: float = 5) -> str:
        self._reader.join(timeout)
        while not self.lines.empty():
            self.text += self.lines.get()
        return self.text


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_the_demo_runs_everything_against_the_sandboxes_and_ctrl_c_stops_it(tmp_path):
    web_port, procore_port, exaktime_port = ports = free_ports(3)
    env = demo_env(
        tmp_path,
        {"LINX_DEMO_PORT": web_port, "LINX_DEMO_PROCORE_PORT": procore_port,
         "LINX_DEMO_EXAKTIME_PORT": exaktime_port},
    )  # fmt: skip
    demo = subprocess.Popen(
        [sys.executable, "-m", "linx.demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = Output(demo)
    started: set[int] = set()
    try:
        output.wait_for(r"Press Ctrl-C to stop", timeout=60)  # an import runs first
        admin = output.wait_for(r"Linx is running: (\S+)", timeout=0).group(1)
        password = output.wait_for(r"with password (\S+)", timeout=0).group(1)
        started = descendants(demo.pid)
        web, procore, exaktime = (f"http://127.0.0.1:{port}" for port in ports)
        assert admin == f"{web}/admin/"
        for value in (procore, exaktime, procore_data.CLIENT_ID, exaktime_data.API_KEY):
            assert value in output.text

        # The staff login works over HTTP.
        browser = requests.Session()
        login = browser.get(f"{web}/accounts/login/", timeout=10)
        assert login.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
        signed_in = browser.post(
            f"{web}/accounts/login/",
            data={
                "login": "demo@example.com",
                "password": password,
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{web}/accounts/login/"},
            timeout=10,
        )
        assert signed_in.status_code == 200 and signed_in.url.rstrip("/").endswith("/admin")
        assert "Connections" in browser.get(f"{web}/admin/", timeout=10).text

        # The demo connection, read from the demo's own database file.
        with contextlib.closing(sqlite3.connect(tmp_path / "linx.sqlite3")) as db:
            rows = db.execute(
                "SELECT name, procore_login_url, procore_api_url, procore_client_id, "
                "procore_company_id, exaktime_api_url, import_sub_jobs, crews_as_groups, "
                "projects_as_categories FROM linx_connection"
            ).fetchall()
        assert rows == [
            ("demo", procore, procore, procore_data.CLIENT_ID, procore_data.COMPANY_ID,
             exaktime, 1, 1, 1),
        ]  # fmt: skip

        # Both sandboxes answer, with their state where the data directory says.
        state = requests.get(f"{procore}/_sandbox/state", timeout=10).json()
        assert state["state_file"] == str(tmp_path / "sandbox" / "procore.sqlite3")
        assert procore_data.COMPANY_ID in [c["id"] for c in state["companies"]]
        assert requests.get(f"{exaktime}/_sandbox/state", timeout=10).json()["records"]
        with ProcoreClient(procore, procore, procore_data.CLIENT_ID, procore_data.CLIENT_SECRET,
                           procore_data.COMPANY_ID, MemoryTokenStore()) as client:  # fmt: skip
            assert len(list(client.workers())) > 10

        # Near-real-time import is on: the banner's command renames a worker in the Procore
        # sandbox, which delivers the change; the queue worker writes it to ExakTime.
        command = output.wait_for(r"manage\.py (linx_sandbox .*)", timeout=0).group(1).split()
        subprocess.run([sys.executable, "manage.py", *command], env=env, check=True,
                       cwd=ROOT, capture_output=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            employees = requests.get(f"{exaktime}/_sandbox/records/employee",
                                     params={"per_page": 1000}, timeout=10).json()["records"]  # fmt: skip
            if any(e.get("last_name") == "Renamed" for e in employees):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the rename did not reach ExakTime within 30 s")

        assert len(started) >= 3, "the sandboxes, the web server and the queue worker"
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=25) == 0
    finally:
        if demo.poll() is None:
            for pid in started | descendants(demo.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    assert "Linx demo stopped." in output.rest()
    assert [pid for pid in started if alive(pid)] == []
    assert [port for port in ports if listening(port)] == []


def test_a_taken_port_stops_the_demo_with_the_port_and_its_variable(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        web, exaktime = free_ports(2)
        env = demo_env(
            tmp_path,
            {"LINX_DEMO_PORT": web, "LINX_DEMO_PROCORE_PORT": port,
             "LINX_DEMO_EXAKTIME_PORT": exaktime},
        )  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "linx.demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    assert done.returncode == 1
    assert f"Port {port} on 127.0.0.1, for the Procore sandbox, is taken" in done.stderr
    assert "LINX_DEMO_PROCORE_PORT=<port> make demo" in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was prepared"


def test_demo_setup_repoints_the_demo_connection_and_keeps_what_a_person_changed(db, monkeypatch):
    from django.core.management import call_command

    from linx.models import Connection

    monkeypatch.setenv("LINX_STAFF_PASSWORD", "demo password long enough 42")
    call_command("linx_demo_setup", procore_url="http://127.0.0.1:8001", stdout=io.StringIO())
    Connection.objects.filter(name="demo").update(
        crews_as_groups=False, procore_access_token="from the old sandbox"
    )

    call_command(
        "linx_demo_setup",
        procore_url="http://127.0.0.1:9001",
        exaktime_url="http://127.0.0.1:9002",
        stdout=io.StringIO(),
    )

    demo = Connection.objects.get(name="demo")
    assert (demo.procore_login_url, demo.procore_api_url, demo.exaktime_api_url) == (
        "http://127.0.0.1:9001",
        "http://127.0.0.1:9001",
        "http://127.0.0.1:9002",
    )
    assert demo.procore_client_secret == procore_data.CLIENT_SECRET
    assert demo.exaktime_api_key == exaktime_data.API_KEY
    assert demo.procore_access_token == "", "a token of another sandbox opens nothing"
    assert demo.crews_as_groups is False and demo.import_sub_jobs and demo.projects_as_categories
    assert Connection.objects.count() == 1


def test_the_demo_punches_last_week_so_the_first_export_creates_entries(
    sandbox_connection, procore_sandbox
):
    from django.core.management import call_command

    from linx.models import Outcome, RunKind, RunStatus, RunTrigger
    from linx.sync.execute import execute
    from linx.sync.runs import create_run

    connection = sandbox_connection
    connection.time_zone = exaktime_data.TIME_ZONE.key  # as linx_demo_setup makes it
    connection.save()
    said = io.StringIO()
    call_command("linx_demo_setup", "--punch-week", connection=connection.name, stdout=said)
    monday, sunday = connection.last_complete_week()
    assert f"for the week of {monday}" in said.getvalue()

    export = execute(
        create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
                   parameters={"from": monday.isoformat(), "to": sunday.isoformat()})
    )  # fmt: skip
    assert export.status == RunStatus.PARTIAL and export.counts["created"] >= 25
    (failed,) = export.rows.filter(outcome=Outcome.FAILED)
    assert "Taylor Brooks" in failed.message and "Mappings" in failed.message
    entries = procore_sandbox.records("timecard_entry")
    hours = {e["timecard_time_type"]["abbreviated_time_type"] for e in entries}
    assert {"REG", "OT", "DT"} <= hours, "regular days, some overtime, a long pour"
    assert {e["date"] for e in entries} <= {
        (monday + timedelta(days=d)).isoformat() for d in range(5)
    }

    # Starting the demo again punches nothing twice.
    again = io.StringIO()
    call_command("linx_demo_setup", "--punch-week", connection=connection.name, stdout=again)
    assert "holds punches already" in again.getvalue()
