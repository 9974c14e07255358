"""`make demo`: run Linx on this machine with nothing configured.

Creates demo secrets on first use (kept in var/demo.env, readable only by you),
migrates the database, makes a staff login and a demo connection, then starts the web
server and a queue worker and prints where to log in. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var"
SECRETS_FILE = STATE / "demo.env"
WEB_PORT = int(os.environ.get("LINX_DEMO_PORT", "8000"))
DEMO_EMAIL = "demo@example.com"


def demo_environment() -> dict[str, str]:
    """The environment the demo's processes run with; secrets are made once and kept."""
    STATE.mkdir(exist_ok=True)
    if not SECRETS_FILE.exists():
        SECRETS_FILE.touch(mode=0o600)
        SECRETS_FILE.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"LINX_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
            f"LINX_STAFF_PASSWORD={secrets.token_urlsafe(12)}\n"
        )
    values = dict(
        line.split("=", 1) for line in SECRETS_FILE.read_text().splitlines() if "=" in line
    )
    env = {**os.environ, **values}
    # The demo is served over plain http on localhost: no HTTPS redirects, no secure-only
    # cookies, and no second factor so a first look takes one password.
    env.setdefault("DEBUG", "true")
    env.setdefault("LINX_HTTPS", "false")
    env.setdefault("LINX_REQUIRE_MFA", "false")
    env["DJANGO_SETTINGS_MODULE"] = "linx.settings"
    return env


def manage(env: dict[str, str], *args: str, quiet: bool = False) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def main() -> int:
    env = demo_environment()
    print("Linx demo: preparing the database in var/ ...", flush=True)
    manage(env, "migrate", "--no-input", quiet=True)
    manage(env, "linx_demo_setup", "--email", DEMO_EMAIL)

    children = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{WEB_PORT}", "--noreload"],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env),
    ]
    print(
        "\n"
        f"  Linx is running: http://127.0.0.1:{WEB_PORT}/admin/\n"
        f"  Log in as {DEMO_EMAIL} with password {env['LINX_STAFF_PASSWORD']}\n"
        "  (kept in var/demo.env). Press Ctrl-C to stop.\n",
        flush=True,
    )

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    print("Linx demo stopped.")
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
