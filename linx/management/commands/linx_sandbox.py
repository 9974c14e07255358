"""Run the bundled Procore and ExakTime sandboxes until Ctrl-C or SIGTERM; or change a
worker in a running Procore sandbox (it then delivers the change to its webhooks)."""

from __future__ import annotations

import secrets
import signal
import threading
from pathlib import Path

import requests
from django.core.management.base import BaseCommand, CommandError

from integrations.exaktime.sandbox import ExakTimeSandbox
from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import ProcoreSandbox
from integrations.procore.sandbox import data as procore_data
from integrations.sandbox import STATE_DIR


class Command(BaseCommand):
    help = (
        "Start the Procore and ExakTime sandbox servers on loopback, print their URLs and "
        "demo credentials, and serve until Ctrl-C or SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--procore-port", type=int, default=8001, help="0: any free port")
        parser.add_argument("--exaktime-port", type=int, default=8002, help="0: any free port")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--scale",
            choices=sorted(procore_data.SCALES),
            help="size of the generated Procore company (default: what the state holds, else small)",
        )
        parser.add_argument("--seed", type=int, help="seed of the generated data")
        parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
        parser.add_argument("--reset", action="store_true", help="generate the data afresh")
        parser.add_argument(
            "--latency-ms",
            type=float,
            default=0,
            help="hold every API answer back this long, as a service on the internet is "
            "(e.g. 80); default 0",
        )
        change = parser.add_argument_group(
            "change a worker in a running Procore sandbox (instead of serving)"
        )
        change.add_argument("--rename-worker", metavar="ID=LAST_NAME")
        change.add_argument("--deactivate-worker", metavar="ID", type=int)
        change.add_argument("--add-worker", metavar='"FIRST LAST"')
        change.add_argument(
            "--procore-url", default="http://127.0.0.1:8001", help="the running Procore sandbox"
        )

    def handle(self, *args, **options):
        if any(options[k] for k in ("rename_worker", "deactivate_worker", "add_worker")):
            self.stdout.write(change_worker(options))
            return
        latency = options["latency_ms"]
        if latency < 0 or latency > 60_000:
            raise CommandError(f"--latency-ms must be between 0 and 60000, not {latency:g}")
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        state, host = options["state_dir"], options["host"]
        common = {
            "host": host,
            "seed": options["seed"],
            "reset": options["reset"],
            "latency_ms": latency,
        }
        procore = ProcoreSandbox(
            state / "procore.sqlite3",
            port=options["procore_port"],
            scale=options["scale"],
            **common,
        )
        exaktime = ExakTimeSandbox(
            state / "exaktime.sqlite3", port=options["exaktime_port"], **common
        )
        try:
            try:
                procore.start()
                exaktime.start()
            except OSError as exc:
                raise CommandError(f"Cannot listen on {host}: {exc}") from exc
            self.stdout.write(self.describe(procore, exaktime))
            self.stdout.flush()  # a parent process reading a pipe sees the URLs now
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            procore.stop()
            exaktime.stop()
        self.stdout.write("Sandboxes stopped.")

    @staticmethod
    def describe(procore: ProcoreSandbox, exaktime: ExakTimeSandbox) -> str:
        generated = procore.store.kv_get("generated")
        ms = procore.latency * 1000
        latency = f"\nLatency:          {ms:g} ms added to every API answer" if ms else ""
        return f"""\
Procore sandbox:  {procore.url}  (login and API host; {generated["scale"]} company, seed {generated["seed"]})
  client id       {procore_data.CLIENT_ID}
  client secret   {procore_data.CLIENT_SECRET}
  company id      {procore_data.COMPANY_ID}
ExakTime sandbox: {exaktime.url}
  API key         {exaktime_data.API_KEY}   (read-only: {exaktime_data.READ_ONLY_API_KEY})
State files:      {procore.state_path}, {exaktime.state_path}{latency}
Inspect:          {procore.url}/_sandbox/state   {exaktime.url}/_sandbox/requests
A week of punches after an import:  curl -X POST {exaktime.url}/_sandbox/time_records
Ctrl-C stops both.
"""


def change_worker(options) -> str:
    """Send one worker change to a running Procore sandbox; returns what it now holds."""
    base = options["procore_url"].rstrip("/") + "/_sandbox/records/user"
    if options["rename_worker"]:
        worker_id, _, last_name = options["rename_worker"].partition("=")
        if not worker_id.isdigit() or not last_name:
            raise CommandError("--rename-worker takes ID=LAST_NAME, e.g. 6000000011=Okafor")
        method, url, body = "PATCH", f"{base}/{worker_id}", {"last_name": last_name}
    elif options["deactivate_worker"]:
        method, url = "PATCH", f"{base}/{options['deactivate_worker']}"
        body = {"is_active": False}
    else:
        first, _, last = options["add_worker"].strip().partition(" ")
        employee_id = str(secrets.randbelow(900_000) + 100_000)
        method, url = "POST", f"{base}?scope={procore_data.COMPANY_ID}"
        body = {"first_name": first, "last_name": last or first, "employee_id": employee_id,
                "is_employee": True, "is_active": True}  # fmt: skip
    try:
        response = requests.request(method, url, json=body, timeout=10)
    except requests.RequestException as error:
        raise CommandError(f"The Procore sandbox at {options['procore_url']} did not answer: "
                           f"{error}. Start it with `linx_sandbox` (or `make demo`).") from None  # fmt: skip
    if response.status_code >= 300:
        raise CommandError(f"The Procore sandbox refused the change: {response.text[:200]}")
    worker = response.json()
    return (
        f"Procore worker {worker['id']} is now {worker.get('first_name')} "
        f"{worker.get('last_name')} ({'active' if worker.get('is_active') else 'inactive'})."
    )
