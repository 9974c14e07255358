"""`linx_preimport NAME`: bring Procore's reference data into Linx and custom fields into ExakTime."""

from linx.cli import RunCommand, connection_named
from linx.models import RunKind, RunTrigger
from linx.sync.runs import create_run


class Command(RunCommand):
    kind = RunKind.PREIMPORT
    help = (
        "Pull work classifications, time types, fieldsets and custom field definitions from "
        "Procore, and create or update the selected custom fields in ExakTime."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The connection's name.")
        parser.add_argument("--dry-run", action="store_true", help="Show what it would do.")
        self.add_run_arguments(parser)

    def handle(self, *args, name, dry_run, **options):
        connection = connection_named(name)
        run = create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND, dry_run=dry_run)
        self.report(run, options)
