"""`make demo`: run Linx on this machine against the bundled Procore and ExakTime sandboxes.

Creates demo secrets on first use (kept in <data dir>/demo.env, readable only by you),
migrates the database, makes a staff login and a demo connection to the sandboxes, then
starts the sandboxes, the web server and a queue worker, waits until they answer, has the
first import done and last week punched in ExakTime (see linx.demo_week) and prints where
to log in. Ctrl-C (or SIGTERM) stops everything it started.

Ports and the data directory come from the environment (see `PORTS` and LINX_DATA_DIR),
so a second demo, or a test, can run beside the first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import data as procore_data

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEMO_EMAIL = "demo@example.com"
#: How long the sandboxes and the web server get to answer before the demo gives up.
START_TIMEOUT = 60.0
#: How long a child gets to stop after SIGINT before it is killed.
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Port:
    """A port the demo listens on, and the variable that moves it."""

    what: str
    variable: str
    default: int

    def value(self) -> int:
        raw = os.environ.get(self.variable, "").strip() or str(self.default)
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise DemoError(f"{self.variable} must be a port number (1-65535), not {raw!r}.")
        return int(raw)


WEB = Port("the web server", "LINX_DEMO_PORT", 8000)
PROCORE = Port("the Procore sandbox", "LINX_DEMO_PROCORE_PORT", 8001)
EXAKTIME = Port("the ExakTime sandbox", "LINX_DEMO_EXAKTIME_PORT", 8002)
PORTS = (WEB, PROCORE, EXAKTIME)


class DemoError(Exception):
    """Something the person running the demo must fix; the message says what."""


def data_dir() -> Path:
    """Where the database, the sandboxes' state and the demo's secrets live."""
    return Path(os.environ.get("LINX_DATA_DIR", "").strip() or ROOT / "var")


def demo_environment(state: Path) -> dict[str, str]:
    """The environment the demo's processes run with; secrets are made once and kept."""
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets_file = state / "demo.env"
    if not secrets_file.exists():
        secrets_file.touch(mode=0o600)
        secrets_file.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"LINX_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
            f"LINX_STAFF_PASSWORD={secrets.token_urlsafe(12)}\n"
        )
    values = dict(
        line.split("=", 1) for line in secrets_file.read_text().splitlines() if "=" in line
    )
    env = {**os.environ, **values, "LINX_DATA_DIR": str(state)}
    # The demo is runserver over plain http on localhost: DEBUG (so it serves the admin's
    # static files), no HTTPS redirects or secure-only cookies whatever the shell says;
    # and, unless asked, no second factor so a first look takes one password.
    env.update({"DEBUG": "true", "LINX_HTTPS": "false"})
    env.setdefault("LINX_REQUIRE_MFA", "false")
    env["DJANGO_SETTINGS_MODULE"] = "linx.settings"
    env["PYTHONUNBUFFERED"] = "1"  # children's output shows as it happens
    return env


def check_free(port: Port, number: int) -> None:
    """Fail, naming the port and its variable, when something already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves bind: a port left in TIME_WAIT by a previous run is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, number))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise DemoError(
                f"Port {number} on {HOST}, for {port.what}, is taken by another program. "
                f"Stop that program, or choose another port: {port.variable}=<port> make demo"
            ) from None


def manage(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,)) -> None:
    """A management command, run to completion; its output only shows when it fails
    (exits with a status not in ``ok``)."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in ok:
        sys.stderr.write(done.stdout + done.stderr)
        raise DemoError(f"`manage.py {' '.join(args)}` failed (exit status {done.returncode}).")


def answer(url: str) -> int | None:
    """The HTTP status `url` answers with, or None while nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own http URL)
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


class Children:
    """The processes the demo started, each in a process group of its own.

    A terminal's Ctrl-C reaches only the demo, which then stops each child's whole group
    (qcluster's workers too) once, in order, and kills what outlives STOP_TIMEOUT.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *args: str, quiet: bool = False) -> None:
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL if quiet else None,
            process_group=0,
        )
        self.running.append((name, process))

    def exited(self) -> str | None:
        """The name and status of a child that stopped on its own, if any."""
        for name, process in self.running:
            if process.poll() is not None:
                return f"{name} stopped (exit status {process.returncode})"
        return None

    def stop(self) -> None:
        for _, process in reversed(self.running):
            self._signal(process, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT
        for _, process in reversed(self.running):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait()
            # Whatever the child left in its group (a worker it did not wait for) goes too.
            self._signal(process, signal.SIGKILL)

    @staticmethod
    def _signal(process: subprocess.Popen, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


def wait_until_answering(children: Children, urls: dict[str, str], stopping) -> None:
    pending = dict(urls)
    deadline = time.monotonic() + START_TIMEOUT
    while pending:
        if stopping():
            return
        if problem := children.exited():
            raise DemoError(f"The demo could not start: {problem}. See its messages above.")
        if time.monotonic() > deadline:
            raise DemoError(f"No answer within {START_TIMEOUT:.0f} s from {', '.join(pending)}.")
        for name, url in list(pending.items()):
            status = answer(url)
            if status == 200:
                del pending[name]
            elif status is not None and status >= 500:
                raise DemoError(f"{url} answers {status}: see the messages above.")
        time.sleep(0.2)


#: The worker the banner's command renames (an active employee of the generated company).
DEMO_WORKER = procore_data.WORKER_NO_CLASSIFICATION + 1


def switch_on_webhooks(env: dict[str, str]) -> None:
    """Import once (so workers have their ExakTime twins), then switch near-real-time
    import on: from now on a change in the Procore sandbox reaches ExakTime in seconds."""
    print("Linx demo: importing once and switching on near-real-time import ...", flush=True)
    manage(env, "linx_import", "demo", ok=(0, 1))  # the generated company has bad rows
    manage(env, "linx_connection", "webhooks", "demo", "--install")


def banner(web: str, procore: str, exaktime: str, state: Path, password: str) -> str:
    return f"""
  Linx is running: {web}/admin/
  Log in as {DEMO_EMAIL} with password {password}
  (kept in {state / "demo.env"}).

  The connection "demo" links the two sandboxes, which hold a generated company:
    Procore sandbox   {procore}   client id {procore_data.CLIENT_ID}, secret {procore_data.CLIENT_SECRET}, company {procore_data.COMPANY_ID}
    ExakTime sandbox  {exaktime}   API key {exaktime_data.API_KEY}
  What each holds and what it was asked: {procore}/_sandbox/state, {exaktime}/_sandbox/requests
  Their state is kept in {state / "sandbox"}.

  Near-real-time import is on: rename a worker in the Procore sandbox,
    .venv/bin/python manage.py linx_sandbox --procore-url {procore} --rename-worker {DEMO_WORKER}=Renamed
  and within seconds ExakTime's employee shows it ({exaktime}/_sandbox/records/employee).

  Press Ctrl-C to stop.
"""


def free_ports() -> dict[Port, int]:
    """Each demo port's number, refused when two are the same or one is taken."""
    ports = {port: port.value() for port in PORTS}
    if len(set(ports.values())) < len(ports):
        raise DemoError(
            "Two of the demo's ports are the same: "
            + ", ".join(f"{port.variable}={number}" for port, number in ports.items())
        )
    for port, number in ports.items():
        check_free(port, number)
    return ports


def show_what_linx_does(env: dict[str, str]) -> None:
    """Near-real-time import switched on; the week before last exported with one entry
    edited and one typed by hand in Procore and one failed record (what the first
    reconciliation of that week finds and explains); last week punched, for the first
    export to create entries."""
    switch_on_webhooks(env)
    manage(env, "linx_demo_week", "demo")
    print("Linx demo: punching last week in ExakTime, for the first export ...", flush=True)
    manage(env, "linx_demo_setup", "--punch-week")


def main() -> int:
    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    state = data_dir()
    children: Children | None = None
    try:
        ports = free_ports()
        web, procore, exaktime = (f"http://{HOST}:{ports[port]}" for port in PORTS)
        env = demo_environment(state)
        env["LINX_PUBLIC_URL"] = web  # where the Procore sandbox delivers its notices

        print(f"Linx demo: preparing the database in {state} ...", flush=True)
        manage(env, "migrate", "--no-input")
        manage(env, "linx_demo_setup", "--email", DEMO_EMAIL,
               "--procore-url", procore, "--exaktime-url", exaktime)  # fmt: skip
        if stopping:
            return 0

        children = Children(env)
        children.start("the sandboxes", "linx_sandbox", "--host", HOST,
                       "--procore-port", str(ports[PROCORE]),
                       "--exaktime-port", str(ports[EXAKTIME]),
                       "--state-dir", str(state / "sandbox"), quiet=True)  # fmt: skip
        children.start("the web server", "runserver", f"{HOST}:{ports[WEB]}", "--noreload")
        children.start("the queue worker", "qcluster")
        print("Linx demo: starting the sandboxes, the web server and a queue worker ...")
        wait_until_answering(
            children,
            {
                procore: f"{procore}/_sandbox/state",
                exaktime: f"{exaktime}/_sandbox/state",
                web: f"{web}/accounts/login/",
            },
            lambda: stopping,
        )
        if not stopping:
            show_what_linx_does(env)
        if not stopping:
            print(banner(web, procore, exaktime, state, env["LINX_STAFF_PASSWORD"]), flush=True)
        while not stopping and not (problem := children.exited()):
            time.sleep(0.5)
        if not stopping:
            raise DemoError(f"{problem}; stopping the rest.")
    except DemoError as error:
        print(f"Linx demo: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        if children is not None:
            children.stop()
    print("Linx demo stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
