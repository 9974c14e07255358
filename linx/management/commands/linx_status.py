"""`linx_status`: for monitoring. Exits non-zero when something needs a person."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from linx.models import Connection, ProcoreAuthMode, RunKind, RunStatus, SyncRun
from linx.sync import failures
from linx.sync.runs import dead_after


def failure_problems(connection: Connection, failing: dict[str, int]) -> list[str]:
    """Runs a whole-run error stopped, and records still failing (not a run's rows: a
    record that failed and has not changed since is still broken)."""
    found = [
        f"last {run.get_kind_display().lower()} #{run.pk} failed: {run.message.splitlines()[0]}"
        for run in failures.stopped_runs(connection)
    ]
    if failing:
        per_kind = ", ".join(
            f"{n:,} in {RunKind(kind).label.lower()}" for kind, n in sorted(failing.items())
        )
        found.append(
            f"{sum(failing.values()):,} open failures (records still failing: {per_kind}); "
            "see Open failures in the admin"
        )
    return found


def problems_of(
    connection: Connection, *, token_warning: timedelta, failing: dict[str, int] | None = None
) -> list[str]:
    """What is wrong with ``connection`` right now, in the users' words (empty: all well)."""
    now = timezone.now()
    if failing is None:
        failing = failures.counts_by_kind(connection)
    found = failure_problems(connection, failing)
    for run in SyncRun.objects.filter(connection=connection, status=RunStatus.RUNNING):
        silent = now - (run.heartbeat_at or run.started_at or run.created_at)
        running = now - (run.started_at or run.created_at)
        if silent > dead_after():
            found.append(
                f"{run.get_kind_display().lower()} #{run.pk} is stuck: no sign of life for {silent}"
            )
        elif running > timedelta(seconds=settings.LINX_TASK_TIMEOUT):
            found.append(
                f"{run.get_kind_display().lower()} #{run.pk} has run for {running}, past the task timeout"
            )
    if connection.webhooks_enabled and connection.webhook_problem:
        found.append(f"near-real-time import (Procore webhooks): {connection.webhook_problem}")
    found += [
        f"no {label} is set: every run fails until it is entered on the connection's page"
        for label in connection.missing_secrets()
    ]
    if connection.procore_auth_mode == ProcoreAuthMode.AUTHORIZATION_CODE:
        expires = connection.procore_token_expires_at
        if not connection.procore_access_token:
            found.append("not connected to Procore: use Connect to Procore on its page")
        elif not connection.procore_refresh_token and expires and expires - now < token_warning:
            found.append(
                f"its Procore sign-in expires at {expires:%Y-%m-%d %H:%M %Z} and cannot be "
                "renewed: reconnect to Procore"
            )
    return found


class Command(BaseCommand):
    help = (
        "Check every active connection: last runs stopped by an error, records still "
        "failing (open failures), runs stuck, a secret not set, Procore sign-in about to "
        "expire. Exits 0 when all is well, 1 when something needs a person, 2 when a "
        "connection named does not exist."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "names", nargs="*", help="Only these connections (default: all active)."
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object."
        )
        parser.add_argument(
            "--token-warning-minutes", type=int, default=60,
            help="How soon an expiry that cannot be renewed counts as a problem (default 60).",
        )  # fmt: skip

    def handle(self, *args, names, as_json: bool, token_warning_minutes: int, **options):
        connections = Connection.objects.filter(is_active=True)
        if names:
            connections = Connection.objects.filter(name__in=names)
            if unknown := sorted(set(names) - {c.name for c in connections}):
                # A name that matches nothing must not read as "all well".
                message = f"No connection named {', '.join(map(repr, unknown))}."
                if as_json:
                    self.stdout.write(
                        json.dumps({"ok": False, "connections": {}, "error": message})
                    )
                raise CommandError(message, returncode=2)
        warning = timedelta(minutes=token_warning_minutes)
        failing = {c.name: failures.counts_by_kind(c) for c in connections}
        report = {
            c.name: problems_of(c, token_warning=warning, failing=failing[c.name])
            for c in connections
        }
        if as_json:
            summary = {
                "ok": not any(report.values()),
                "connections": report,
                "open_failures": {name: sum(n.values()) for name, n in failing.items()},
            }
            self.stdout.write(json.dumps(summary))
        else:
            for name, problems in report.items():
                if problems:
                    for problem in problems:
                        self.stdout.write(f"PROBLEM {name}: {problem}")
                elif options["verbosity"] > 0:
                    self.stdout.write(f"OK {name}")
        if any(report.values()):
            sys.exit(1)
