"""Prepare the demo: a staff login and a demo connection (used by `make demo`)."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from linx.models import Connection, User


class Command(BaseCommand):
    help = "Create the demo staff login and the demo connection, or bring them up to date."

    def add_arguments(self, parser):
        parser.add_argument("--email", default="demo@example.com")
        parser.add_argument("--connection", default="demo")
        parser.add_argument("--procore-login-url", default="https://login-sandbox.procore.com")
        parser.add_argument("--procore-api-url", default="https://sandbox.procore.com")
        parser.add_argument("--procore-client-id", default="")
        parser.add_argument("--procore-client-secret", default="")
        parser.add_argument("--procore-company-id", type=int, default=None)
        parser.add_argument("--exaktime-api-url", default="https://api.arcoro.com")
        parser.add_argument("--exaktime-api-key", default="")

    def handle(self, *args, **options):
        exists = User.objects.filter(email=options["email"]).exists()
        call_command(
            "linx_createstaff", options["email"], superuser=True, update=exists, stdout=self.stdout
        )
        connection, created = Connection.objects.update_or_create(
            name=options["connection"],
            defaults={
                "procore_login_url": options["procore_login_url"],
                "procore_api_url": options["procore_api_url"],
                "procore_client_id": options["procore_client_id"],
                "procore_client_secret": options["procore_client_secret"],
                "procore_company_id": options["procore_company_id"],
                "exaktime_api_url": options["exaktime_api_url"],
                "exaktime_api_key": options["exaktime_api_key"],
                "import_sub_jobs": True,
                "crews_as_groups": True,
            },
        )
        self.stdout.write(f"{'Created' if created else 'Updated'} connection {connection.name!r}.")
