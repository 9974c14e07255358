"""`linx_export NAME --from --to`: ExakTime time records into Procore timecard entries."""

from datetime import date

from django.core.management.base import CommandError

from linx.cli import RunCommand, connection_named
from linx.models import RunKind, RunTrigger
from linx.sync.parameters import RunParameters
from linx.sync.runs import create_run


def day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date: write YYYY-MM-DD.") from None


class Command(RunCommand):
    kind = RunKind.EXPORT
    help = (
        "Export ExakTime time records dated within a range to Procore timecard entries, "
        "exactly once: re-running sends only what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The connection's name.")
        parser.add_argument(
            "--from", dest="first_day", required=True, help="First work date, YYYY-MM-DD."
        )
        parser.add_argument(
            "--to", dest="last_day", required=True, help="Last work date, YYYY-MM-DD."
        )
        parser.add_argument(
            "--approved-only", action="store_true", help="Only time records approved in ExakTime."
        )
        parser.add_argument(
            "--employees",
            help="Only these ExakTime employee ids (comma-separated).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what it would send.")
        self.add_run_arguments(parser)

    def handle(
        self, *args, name, first_day, last_day, approved_only, employees, dry_run, **options
    ):
        connection = connection_named(name)
        first, last = day(first_day), day(last_day)
        if last < first:
            raise CommandError(f"--to {last} is before --from {first}.")
        parameters = RunParameters(first_day=first.isoformat(), last_day=last.isoformat())
        if approved_only:
            parameters.approved_only = True
        if employees:
            try:
                parameters.employees = [int(e) for e in employees.split(",") if e.strip()]
            except ValueError:
                raise CommandError(
                    "--employees takes ExakTime employee ids, e.g. 100001,100002."
                ) from None
        run = create_run(
            connection,
            RunKind.EXPORT,
            trigger=RunTrigger.COMMAND,
            dry_run=dry_run,
            parameters=parameters.to_json(),
        )
        self.report(run, options)
