"""`linx_reconcile NAME --from --to`: does Procore hold exactly ExakTime's hours?"""

import json

from django.core.management.base import CommandError

from linx.cli import EXIT_COULD_NOT_RUN, EXIT_ROWS_FAILED, CommandExit, RunCommand, connection_named
from linx.management.commands.linx_export import day
from linx.models import Reconciliation, ReconciliationStatus, RunTrigger
from linx.sync.reconcile import reconcile
from linx.sync.reconcile_compare import CLASS_NAMES, CLASSES

#: The totals the contract names, in its order.
TOTAL_KEYS = ("exaktime_hours", "procore_hours", *CLASSES)
#: The keys of a line the contract names, in its order.
LINE_KEYS = (
    "class", "date", "kind", "procore_worker_id", "exaktime_employee_id", "time_record_id",
    "timecard_entry_id", "exaktime_hours", "procore_hours", "message",
)  # fmt: skip
LINES_LISTED = 100


def as_json(done: Reconciliation) -> dict:
    totals = {key: done.totals.get(key, 0) for key in TOTAL_KEYS}
    result = {
        "reconciliation": done.pk,
        "connection": done.connection.name,
        "from": done.first_day.isoformat(),
        "to": done.last_day.isoformat(),
        "status": done.status,
        "totals": totals,
        "lines": [{key: line.get(key) for key in LINE_KEYS} for line in done.lines[:LINES_LISTED]],
    }
    if done.status == ReconciliationStatus.FAILED:
        result["error"] = done.message
    return result


def summary(done: Reconciliation) -> str:
    t = done.totals
    lines = [
        f"Reconciliation #{done.pk} of {done.connection.name}, {done.first_day} to "
        f"{done.last_day}: {done.get_status_display().lower()}."
    ]
    if done.status == ReconciliationStatus.FAILED:
        return "\n".join([*lines, done.message])
    lines.append(
        f"ExakTime {t['exaktime_hours']:g} h, Procore {t['procore_hours']:g} h; "
        + ", ".join(f"{t[c]} {CLASS_NAMES[c].lower()}" for c in CLASSES)
        + "."
    )
    for line in done.lines[:10]:
        lines.append(
            f"  {CLASS_NAMES[line['class']].lower()}: {line['date']} {line['kind']} time record "
            f"{line['time_record_id']} entry {line['timecard_entry_id']}: {line['message']}"
        )
    if len(done.lines) > 10:
        lines.append(
            f"  ... and {len(done.lines) - 10} more (see the reconciliation in the admin)."
        )
    return "\n".join(lines)


class Command(RunCommand):
    help = (
        "Compare ExakTime's hours with every Procore timecard entry dated within a range. "
        "Changes nothing in either system."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The connection's name.")
        parser.add_argument(
            "--from", dest="first_day", required=True, help="First work date, YYYY-MM-DD."
        )
        parser.add_argument(
            "--to", dest="last_day", required=True, help="Last work date, YYYY-MM-DD."
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def refusal_json(self, message: str, *, run=None) -> dict:
        return {
            "reconciliation": None,
            "status": "failed",
            "totals": dict.fromkeys(TOTAL_KEYS, 0),
            "lines": [],
            "error": message,
        }

    def handle(self, *args, name, first_day, last_day, **options):
        first, last = day(first_day), day(last_day)
        if last < first:
            raise CommandError(f"--to {last} is before --from {first}.")
        connection = connection_named(name)
        done = reconcile(connection, first, last, trigger=RunTrigger.COMMAND)
        failed = done.status == ReconciliationStatus.FAILED
        if options["json"]:
            self.stdout.write(json.dumps(as_json(done)))
            if failed:
                self.stderr.write(done.message)
        else:
            target = self.stderr if failed else self.stdout
            target.write(summary(done))
        if failed:
            raise CommandExit(EXIT_COULD_NOT_RUN)
        if done.status == ReconciliationStatus.DIFFERENCES:
            raise CommandExit(EXIT_ROWS_FAILED)
