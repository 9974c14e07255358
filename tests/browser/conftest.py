"""Browser tests: the admin driven in headless Chromium against a live server.

The browser is Debian's `chromium` (`.ci/run` installs it; `make test` does too when it
runs as root with apt-get), driven by Playwright's sync API with the driver its wheel
ships: nothing is downloaded at run time. Without Chromium these tests skip, naming how
to install it; on CI (``CI`` set) a missing browser is a failure instead, so CI can never
pass them by skipping.

Runs are queued by the admin for the task queue; here no queue worker runs. The
``queue`` fixture records what the admin hands to the queue and runs it in this process
when a test says so. Each journey saves a screenshot to ``var/screenshots/<name>.png``
(ignored by git) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linx.models import SyncRun, User

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI and developers' machines run as root
    "--disable-gpu",
    # Chromium's own calls home would go to a closed network and slow every page.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = (
    "install Debian's chromium (`apt-get install chromium`, or run `make test` as root) "
    "or point LINX_CHROMIUM at a Chromium binary"
)
#: How long a page may take to show what a test waits for.
TIMEOUT_MS = 10_000


def chromium_path() -> str | None:
    return os.environ.get("LINX_CHROMIUM") or shutil.which("chromium")


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests ({INSTALL_HINT})")
    pytest.skip(f"{reason}: {INSTALL_HINT}")


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One headless Chromium for all the browser tests, closed after the last of them."""
    executable = chromium_path()
    if not executable:
        _missing("Chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - it is in the test extra
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    # Playwright's sync API keeps an event loop in this thread; Django would take every
    # ORM call the test makes beside it for an async one. They are not: say so while the
    # browser is open, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server) -> Iterator:
    """A fresh browser tab (own cookies) on the live server."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def staff_groups(transactional_db) -> None:
    """The staff groups as migrations 0006, 0009, 0010 and 0016 define them.

    The live server needs a transactional database, emptied after each test, groups and
    all; Django's serialized rollback cannot put them back here, because with
    Playwright's event loop in this thread the ORM works on a connection other than the
    one the test database's copy was kept on. So they are made again from the
    migration's own table.
    """
    ensure_staff_groups()


def ensure_staff_groups() -> None:
    import importlib

    from django.contrib.auth.models import Group, Permission

    groups = importlib.import_module("linx.migrations.0006_staff_groups").GROUPS
    schedules = importlib.import_module(
        "linx.migrations.0009_schedule_permissions_for_staff_groups"
    ).GRANTS
    # Later migrations grant one more list each to the groups they name.
    views = {"0010_open_failures": "view_openfailure", "0016_audit_log": "view_auditevent"}
    for name, codenames in groups.items():
        granted = [
            codename
            for migration, codename in views.items()
            if name in importlib.import_module(f"linx.migrations.{migration}").GROUPS
        ]
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            Permission.objects.filter(
                content_type__app_label="linx",
                codename__in=[*codenames, *schedules.get(name, []), *granted],
            )
        )


def screenshot(page, name: str) -> Path:
    """Save the whole page as ``var/screenshots/<name>.png`` for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # A long page (a run's hundred rows) takes a while to paint on a busy machine.
    page.screenshot(path=str(path), full_page=True, timeout=60_000)
    return path


# --- people ---------------------------------------------------------------------------

PASSWORD = "correct horse battery staple"


def make_staff(email: str, group: str | None = "Administrators", **extra) -> tuple[User, str]:
    """A staff member with a verified email and an authenticator app; returns its secret."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth.models import Group

    user = User.objects.create_user(email, PASSWORD, is_staff=True, **extra)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return user, secret


def totp_code(secret: str) -> str:
    """What the staff member's authenticator app shows right now."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int(time.time()) // app_settings.TOTP_PERIOD))


def log_in(page, email: str, secret: str, *, next_path: str = "/admin/") -> None:
    """Sign in as a person does: email and password, then the authenticator's code."""
    page.goto(next_path)
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url("**/2fa/authenticate/**")
    page.fill("input[name=code]", totp_code(secret))
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url(f"**{next_path}")


@pytest.fixture
def administrator(staff_groups) -> tuple[User, str]:
    """An Administrators member (not a superuser): the groups alone must be enough."""
    return make_staff("admin@example.com", "Administrators", first_name="Ada")


@pytest.fixture
def admin_page(page, administrator):
    """A tab already signed in as the administrator (through both factors)."""
    user, secret = administrator
    log_in(page, user.email, secret)
    return page


# --- the task queue, in this process ----------------------------------------------------


class Queue:
    """Stands in for django-q: keeps the runs the admin queues, runs them on demand."""

    def __init__(self) -> None:
        self.run_ids: list[int] = []
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def async_task(self, func, *args, **kwargs):
        assert func == "linx.tasks.execute_run", func
        with self.lock:
            self.run_ids.append(int(args[0]))
        return f"task-{args[0]}"

    def take(self) -> list[int]:
        with self.lock:
            taken, self.run_ids = self.run_ids, []
        return taken

    def run_all(self) -> list[SyncRun]:
        """Do every queued run here and now (and whatever they queue), in order."""
        from linx.tasks import execute_run

        done = []
        while ids := self.take():
            for run_id in ids:
                execute_run(run_id)
                done.append(SyncRun.objects.get(pk=run_id))
        return done

    def run_in_background(self, run_id: int) -> threading.Thread:
        """Do one run in a thread of its own, as a queue worker would beside the page."""
        thread = threading.Thread(target=self._run, args=(run_id,), daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    @staticmethod
    def _run(run_id: int) -> None:
        from django.db import connection

        from linx.tasks import execute_run

        try:
            execute_run(run_id)
        finally:
            connection.close()


@pytest.fixture
def queue(monkeypatch) -> Iterator[Queue]:
    """Runs queued by the admin land here instead of the task queue (and its workers)."""
    import django_q.tasks

    fake = Queue()
    monkeypatch.setattr(django_q.tasks, "async_task", fake.async_task)
    yield fake
    for thread in fake.threads:  # finished before the database is emptied
        thread.join(30)


@pytest.fixture
def slow_rows(monkeypatch) -> Iterator[tuple[threading.Event, threading.Event, dict]]:
    """Make every run write its progress after each row and wait at a gate midway.

    Returns ``(halfway, go_on)``: ``halfway`` is set once the run has recorded ``after``
    rows and is holding; setting ``go_on`` lets it finish (pausing ``pause`` s per row).
    """
    from linx.sync import runs

    halfway, go_on = threading.Event(), threading.Event()
    original = runs.RunRecorder.record
    settings = {"after": 20, "pause": 0.02}

    def record(self, row):
        original(self, row)
        if self.run.kind != "import":
            return
        self.flush()  # progress written now, not with the next batch of 500
        done = sum(entry["done"] for entry in self.progress.values())
        if done == settings["after"]:
            halfway.set()
            go_on.wait(30)
        time.sleep(settings["pause"])

    monkeypatch.setattr(runs.RunRecorder, "record", record)
    yield halfway, go_on, settings
    go_on.set()  # never leave a run waiting at the gate


# --- doing things in the admin ----------------------------------------------------------


def run_action(page, changelist: str, action: str, pks) -> None:
    """On a list, tick the given objects, choose ``action`` and press Go."""
    page.goto(changelist)
    for pk in pks:
        page.check(f'input.action-select[value="{pk}"]')
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")
