"""`manage.py linx_sandbox` serves both sandboxes until SIGTERM, then stops cleanly."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import requests

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import data as procore_data

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_prints_urls_and_credentials_and_stops_on_sigterm(tmp_path):
    command = [sys.executable, "manage.py", "linx_sandbox", "--procore-port", "0",
               "--exaktime-port", "0", "--state-dir", str(tmp_path)]  # fmt: skip
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout])
    reader.start()
    try:
        printed = ""
        while "Ctrl-C" not in printed:
            printed += lines.get(timeout=20)
        procore_url = re.search(r"Procore sandbox:\s+(\S+)", printed).group(1)
        exaktime_url = re.search(r"ExakTime sandbox:\s+(\S+)", printed).group(1)
        for value in (procore_data.CLIENT_ID, procore_data.CLIENT_SECRET,
                      str(procore_data.COMPANY_ID), exaktime_data.API_KEY):  # fmt: skip
            assert value in printed

        form = {"grant_type": "client_credentials", "client_id": procore_data.CLIENT_ID,
                "client_secret": procore_data.CLIENT_SECRET}  # fmt: skip
        assert requests.post(f"{procore_url}/oauth/token", data=form, timeout=5).ok
        headers = {"Ocp-Apim-Subscription-Key": exaktime_data.API_KEY}
        employees = requests.get(f"{exaktime_url}/v1/Common/Persons/Employees", headers=headers,
                                 timeout=5)  # fmt: skip
        assert employees.json()["total_count"] == 2
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
        reader.join(timeout=5)
    rest = "".join(lines.queue)
    assert process.returncode == 0 and "Sandboxes stopped." in rest, rest
    assert (tmp_path / "procore.sqlite3").exists() and (tmp_path / "exaktime.sqlite3").exists()
