"""Prepare the demo: a staff login and a connection to the bundled sandboxes (`make demo`)."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import data as procore_data
from linx.demo_week import punch_last_week
from linx.models import Connection, RunKind, RunStatus, RunTrigger, SyncRun, User
from linx.sync.execute import execute
from linx.sync.runs import create_run


class Command(BaseCommand):
    help = (
        "Create the demo staff login (password from LINX_STAFF_PASSWORD) and the demo "
        "connection to the bundled sandboxes, or bring them up to date."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--connection", default="demo", help="the connection's name")
        parser.add_argument(
            "--procore-url",
            default="http://127.0.0.1:8001",
            help="the Procore sandbox (its login and API host)",
        )
        parser.add_argument("--exaktime-url", default="http://127.0.0.1:8002")
        parser.add_argument(
            "--punch-week",
            action="store_true",
            help="once the sandboxes answer: import the connection if it never was, then "
            "punch the last complete week in ExakTime (unless it holds punches already)",
        )

    def handle(self, *args, **options):
        if options["punch_week"]:
            return self.punch_week(Connection.objects.get(name=options["connection"]))
        exists = User.objects.filter(email=options["email"]).exists()
        call_command(
            "linx_createstaff", options["email"], superuser=True, update=exists, stdout=self.stdout
        )
        procore_url, exaktime_url = options["procore_url"], options["exaktime_url"]
        where = {
            "procore_login_url": procore_url,
            "procore_api_url": procore_url,
            "procore_auth_mode": "client_credentials",
            "procore_client_id": procore_data.CLIENT_ID,
            "procore_client_secret": procore_data.CLIENT_SECRET,
            "procore_company_id": procore_data.COMPANY_ID,
            "procore_company_name": procore_data.COMPANY_NAMES[procore_data.COMPANY_ID],
            "exaktime_api_url": exaktime_url,
            "exaktime_api_key": exaktime_data.API_KEY,
        }
        connection = Connection.objects.filter(name=options["connection"]).first()
        if connection is None:
            # Import settings only on creation: what a person changed in the admin stays.
            Connection.objects.create(
                name=options["connection"],
                import_sub_jobs=True,
                crews_as_groups=True,
                projects_as_categories=True,
                time_zone=exaktime_data.TIME_ZONE.key,  # where the sandbox's crews work
                **where,
            )
            self.stdout.write(f"Created connection {options['connection']!r}.")
            return
        changed = [name for name, value in where.items() if getattr(connection, name) != value]
        if changed:
            for name in changed:
                setattr(connection, name, where[name])
            # The sandboxes' own secrets go with their (possibly new) addresses.
            for name in ("procore_client_secret", "exaktime_api_key"):
                connection.enter_secret(name, where[name])
            # A token from another sandbox (other port, other state) opens nothing here.
            connection.procore_access_token = connection.procore_refresh_token = ""
            connection.procore_token_expires_at = None
            connection.save()
        self.stdout.write(f"Connection {connection.name!r} points at the sandboxes.")

    def punch_week(self, connection: Connection) -> None:
        """Give the first export something to send: crews linked, then a week punched."""
        imported = SyncRun.objects.filter(
            connection=connection,
            kind=RunKind.IMPORT,
            dry_run=False,
            status__in=[RunStatus.SUCCEEDED, RunStatus.PARTIAL],
        )
        if not imported.exists():
            run = execute(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
            self.stdout.write(f"Imported the sandbox company into ExakTime (run #{run.pk}).")
        monday, added = punch_last_week(connection)
        if added:
            self.stdout.write(f"Punched {added} time records for the week of {monday}.")
        else:
            self.stdout.write(f"The week of {monday} holds punches already.")
