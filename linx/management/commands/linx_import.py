"""`linx_import NAME`: Procore workers, projects, cost codes and crews into ExakTime."""

from django.core.management.base import CommandError

from linx.cli import RunCommand, connection_named
from linx.models import RunKind, RunTrigger
from linx.sync.imports import ENTITIES
from linx.sync.parameters import RunParameters
from linx.sync.runs import create_run


class Command(RunCommand):
    kind = RunKind.IMPORT
    help = (
        "Import employees, locations (projects and sub-jobs), cost codes and crews from "
        "Procore into ExakTime, as the connection's settings say."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="The connection's name.")
        parser.add_argument(
            "--entities",
            default=",".join(ENTITIES),
            help=f"Comma-separated, from {','.join(ENTITIES)} (default: all).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what it would do; write nothing."
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Read every record, not only what changed since the last import.",
        )
        self.add_run_arguments(parser)

    def handle(self, *args, name, entities, dry_run, full, **options):
        connection = connection_named(name)
        chosen = [e.strip() for e in entities.split(",") if e.strip()]
        unknown = sorted(set(chosen) - set(ENTITIES))
        if unknown or not chosen:
            raise CommandError(
                f"--entities: unknown {', '.join(unknown) or '(none given)'}; choose from "
                f"{','.join(ENTITIES)}."
            )
        run = create_run(
            connection,
            RunKind.IMPORT,
            trigger=RunTrigger.COMMAND,
            dry_run=dry_run,
            parameters=RunParameters(
                entities=[e for e in ENTITIES if e in chosen], full=full
            ).to_json(),
        )
        self.report(run, options)
