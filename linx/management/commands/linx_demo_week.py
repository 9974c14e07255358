"""Seed the demo's week before last (`make demo`): imported, punched, exported, then
touched by hand (last week is punched but left for the demo's first export).

The first reconciliation of the demo then shows a matched week with one entry typed by
hand in Procore (extra), one entry edited in Procore after export (different) and one
time record whose export row failed (missing), each explained. Only for the bundled
sandboxes: it drives their /_sandbox/ endpoints.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import requests
from django.core.management.base import BaseCommand, CommandError

from integrations.exaktime.sandbox import data as exaktime_data
from linx.cli import connection_named
from linx.models import ExportLedgerLine, Outcome, RunKind, RunTrigger, SyncRun
from linx.sync.execute import execute
from linx.sync.runs import create_run

TIMEOUT = 30


class Command(BaseCommand):
    help = (
        "Seed the demo connection's week before last, with one of each thing a "
        "reconciliation finds."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", default="demo", help="The connection's name.")

    def handle(self, *args, name, **options):
        connection = connection_named(name)
        if SyncRun.objects.filter(connection=connection, kind=RunKind.EXPORT).exists():
            self.stdout.write(f"{name} has exported before: its demo week is already there.")
            return
        execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                           parameters={"entities": ["employees", "locations", "cost_codes"]}))  # fmt: skip
        exaktime = connection.exaktime_api_url.rstrip("/")
        # The week before last: last week is left unexported for the demo's first export.
        first = exaktime_data.last_week() - timedelta(days=7)
        week = self.post(f"{exaktime}/_sandbox/time_records", {"week_start": first.isoformat()})
        last = first + timedelta(days=6)
        parameters = {"from": first.isoformat(), "to": last.isoformat()}
        run = execute(create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND,
                                 parameters=parameters))  # fmt: skip
        self.keep_one_failure(run, exaktime)
        self.touch_by_hand(connection, first, last)
        self.stdout.write(
            f"Seeded {week.get('created', 0)} time records of {first}..{last}; export #{run.pk} "
            f"{run.status}; one entry edited and one typed by hand in Procore."
        )

    def keep_one_failure(self, run, exaktime: str) -> None:
        """The sandbox company's week fails on purpose in many ways; a supervisor deletes
        all but one of those punches, so the week reads as one failure among matches."""
        failed = run.rows.filter(outcome=Outcome.FAILED).order_by("id")
        for row in failed[1:]:
            self.patch(f"{exaktime}/_sandbox/records/time_record/{row.exaktime_id}",
                       {"is_deleted": True})  # fmt: skip

    def touch_by_hand(self, connection, first, last) -> None:
        """Edit one exported entry and type one more beside another, as people do."""
        lines = list(
            ExportLedgerLine.objects.filter(
                connection=connection, work_date__range=(first, last), procore_id__isnull=False
            ).order_by("work_date", "origin_id")[:2]
        )
        if len(lines) < 2:
            raise CommandError("The demo week exported fewer than two entries: nothing to edit.")
        procore = f"{connection.procore_api_url.rstrip('/')}/_sandbox/companies/{connection.procore_company_id}"
        edited, beside = lines
        hours = Decimal(str(edited.fields.get("hours") or 8)) - 1
        self.patch(f"{procore}/timecard_entries/{edited.procore_id}", {"hours": str(hours)})
        by_hand = {k: beside.fields[k] for k in ("project_id", "party_id", "date")}
        self.post(f"{procore}/hand_made_entries", {**by_hand, "hours": "2"})

    def post(self, url: str, body: dict) -> dict:
        return self._call("POST", url, body)

    def patch(self, url: str, body: dict) -> dict:
        return self._call("PATCH", url, body)

    def _call(self, method: str, url: str, body: dict) -> dict:
        response = requests.request(method, url, json=body, timeout=TIMEOUT)
        if response.status_code >= 400:
            raise CommandError(f"The sandbox refused {method} {url}: {response.text[:300]}")
        return response.json()
