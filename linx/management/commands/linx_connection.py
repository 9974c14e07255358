"""`linx_connection add|set|list|show|webhooks`: manage connections from scripts (docs/cli.md)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from integrations.errors import IntegrationError
from linx.cli import EXIT_ROWS_FAILED, CommandExit, CouldNotRun, connection_named
from linx.models import (
    SECRET_NAMES,
    Connection,
    CustomField,
    EntityMapping,
    EntityType,
    TimeEntryMode,
)
from linx.sync import webhook_hooks
from linx.sync.rules import HOUR_KINDS
from linx.sync.webhook_hooks import WebhookSetupError

#: Command-line flag → Connection field, for the plain values.
VALUES = {
    "procore_api_url": "procore_api_url",
    "procore_login_url": "procore_login_url",
    "procore_client_id": "procore_client_id",
    "procore_company_id": "procore_company_id",
    "exaktime_api_url": "exaktime_api_url",
}
SETTINGS = ("import_sub_jobs", "crews_as_groups", "projects_as_groups", "projects_as_categories")
#: Secrets: flag → (field, environment variable read when the flag is left off).
SECRETS = {
    "procore_client_secret": ("procore_client_secret", "PROCORE_CLIENT_SECRET"),
    "exaktime_api_key": ("exaktime_api_key", "EXAKTIME_API_KEY"),
}


class Command(BaseCommand):
    help = "Add, change, list and show connections (one Procore company ↔ one ExakTime account)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="add|set|list|show|webhooks"
        )
        add = actions.add_parser("add", help="Add a connection (client-credentials sign-in).")
        change = actions.add_parser("set", help="Change a connection's settings.")
        for sub, required in ((add, True), (change, False)):
            sub.add_argument("name")
            sub.add_argument("--procore-api-url", required=required)
            sub.add_argument("--procore-login-url", required=required)
            sub.add_argument("--procore-client-id", required=required)
            sub.add_argument("--procore-client-secret", help="Default: $PROCORE_CLIENT_SECRET.")
            sub.add_argument("--procore-company-id", type=int, required=required)
            sub.add_argument("--exaktime-api-url", required=required)
            sub.add_argument("--exaktime-api-key", help="Default: $EXAKTIME_API_KEY.")
            for setting in SETTINGS:
                sub.add_argument(
                    f"--{setting.replace('_', '-')}", action=argparse.BooleanOptionalAction
                )
        change.add_argument("--fieldset", metavar="NAME_OR_ID")
        change.add_argument("--custom-fields", metavar="LABEL,LABEL,...")
        change.add_argument(
            "--time-type",
            action="append",
            default=[],
            metavar="KIND=ABBR",
            help="regular=REG, ot1=OT, ot2=DT (repeat for each kind).",
        )
        change.add_argument("--time-entry-mode", choices=TimeEntryMode.values)
        listing = actions.add_parser("list", help="List connections.")
        listing.add_argument("--json", action="store_true")
        show = actions.add_parser("show", help="Show one connection (never its secrets).")
        show.add_argument("name")
        show.add_argument("--json", action="store_true")
        hooks = actions.add_parser(
            "webhooks", help="Install, remove or check near-real-time import (Procore webhooks)."
        )
        hooks.add_argument("name")
        what = hooks.add_mutually_exclusive_group(required=True)
        for verb in ("install", "remove", "check"):
            what.add_argument(f"--{verb}", action="store_const", const=verb, dest="verb")
        hooks.add_argument("--json", action="store_true")

    def handle(self, *args, action: str, **options):
        getattr(self, f"do_{action}")(options)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except CommandExit as leave:  # `webhooks --check` found drift: exit 1
            sys.exit(leave.code)
        except CommandError as refused:
            if options.get("json"):  # a script asked for JSON: it still gets one object
                self.stdout.write(json.dumps({"error": str(refused)}))
            raise

    # --- add / set -----------------------------------------------------------------

    def do_add(self, options) -> None:
        if Connection.objects.filter(name=options["name"]).exists():
            raise CommandError(f"A connection named {options['name']!r} exists; use `set`.")
        connection = Connection(name=options["name"])
        for setting in SETTINGS:
            setattr(connection, setting, bool(options[setting]))
        self._apply(connection, options, adding=True)
        self.stdout.write(f"Added connection {connection.name!r}.")

    def do_set(self, options) -> None:
        connection = connection_named(options["name"])
        for setting in SETTINGS:
            if options[setting] is not None:
                setattr(connection, setting, options[setting])
        if options["time_entry_mode"]:
            connection.time_entry_mode = options["time_entry_mode"]
        for assignment in options["time_type"]:
            self._time_type(connection, assignment)
        with transaction.atomic():
            self._apply(connection, options, adding=False)
            if options["fieldset"] is not None:
                self._fieldset(connection, options["fieldset"])
            if options["custom_fields"] is not None:
                self._custom_fields(connection, options["custom_fields"])
        self.stdout.write(f"Updated connection {connection.name!r}.")

    def _apply(self, connection: Connection, options, *, adding: bool) -> None:
        for flag, field in VALUES.items():
            if options[flag] is not None:
                setattr(connection, field, options[flag])
        missing = []
        for flag, (field, variable) in SECRETS.items():
            value = options[flag] or (os.environ.get(variable) if adding else None)
            if value:
                connection.enter_secret(field, value)
            elif adding:
                missing.append(
                    f"no {SECRET_NAMES[field]} given: set {variable} in the environment "
                    f"(or pass --{flag.replace('_', '-')})"
                )
        if missing:  # a connection without one could only fail every run: refuse it now
            raise CommandError("; ".join(missing) + ".", returncode=2)
        connection.changed_by = f"linx_connection {'add' if adding else 'set'} ({_os_user()})"
        try:
            connection.full_clean()
        except ValidationError as error:
            raise CommandError(
                "; ".join(
                    f"{field}: {' '.join(messages)}"
                    for field, messages in error.message_dict.items()
                )
            ) from None
        connection.save()
        if message := connection.cleared_secrets_message():
            self.stderr.write(message)

    def _time_type(self, connection: Connection, assignment: str) -> None:
        kind, _, abbreviation = assignment.partition("=")
        if kind not in HOUR_KINDS or not abbreviation:
            raise CommandError(
                f"--time-type {assignment!r}: write KIND=ABBR with KIND one of "
                f"{', '.join(HOUR_KINDS)} (e.g. regular=REG)."
            )
        known = {
            mapping.abbreviation
            for mapping in EntityMapping.objects.filter(
                connection=connection, entity_type=EntityType.TIME_TYPE
            ).only("data")
        }
        if known and abbreviation not in known:
            raise CommandError(
                f"--time-type {assignment!r}: Procore has no timecard time type {abbreviation!r} "
                f"(known: {', '.join(sorted(k for k in known if k))})."
            )
        setattr(connection, HOUR_KINDS[kind], abbreviation)

    def _fieldset(self, connection: Connection, wanted: str) -> None:
        if wanted == "":
            connection.select_fieldset(None)
            return
        fieldsets = connection.fieldsets.all()
        match = [f for f in fieldsets if f.name == wanted or str(f.procore_id) == wanted]
        if not match:
            known = ", ".join(repr(f.name) for f in fieldsets) or "none: run linx_preimport first"
            raise CommandError(f"--fieldset: no timesheet fieldset {wanted!r} (known: {known}).")
        connection.select_fieldset(match[0])

    def _custom_fields(self, connection: Connection, labels: str) -> None:
        wanted = [label.strip() for label in labels.split(",") if label.strip()]
        by_label = {f.label: f for f in CustomField.objects.filter(connection=connection)}
        unknown = [label for label in wanted if label not in by_label]
        if unknown:
            known = ", ".join(repr(label) for label in sorted(by_label)) or (
                "none: run linx_preimport first"
            )
            raise CommandError(
                f"--custom-fields: unknown {', '.join(map(repr, unknown))} (known: {known})."
            )
        try:
            connection.select_custom_fields([by_label[label] for label in wanted])
        except ValidationError as error:
            raise CommandError(f"--custom-fields: {' '.join(error.messages)}") from None

    # --- list / show ---------------------------------------------------------------

    def do_list(self, options) -> None:
        connections = list(Connection.objects.all())
        if options["json"]:
            self.stdout.write(json.dumps([describe(c) for c in connections]))
            return
        if not connections:
            self.stdout.write("No connections yet. Add one with `linx_connection add`.")
        for c in connections:
            self.stdout.write(
                f"{c.name}\tProcore company {c.procore_company_id or '-'}\t"
                f"{'active' if c.is_active else 'inactive'}"
            )

    def do_webhooks(self, options) -> None:
        connection = connection_named(options["name"])
        verb = options["verb"]
        try:
            done = getattr(webhook_hooks, verb)(connection)
        except (WebhookSetupError, IntegrationError) as error:
            raise CouldNotRun(str(error)) from None
        result = {"connection": connection.name, "action": verb}
        if verb == "check":
            result |= {"in_step": not done, "drift": done}
        else:
            result["done"] = done
        if options["json"]:
            self.stdout.write(json.dumps(result))
        elif verb == "check" and not done:
            self.stdout.write(f"{connection.name}: the Procore hook is as it should be.")
        else:
            for line in done:
                self.stdout.write(f"{connection.name}: {line}")
        if verb == "check" and done:
            raise CommandExit(EXIT_ROWS_FAILED)

    def do_show(self, options) -> None:
        described = describe(connection_named(options["name"]))
        if options["json"]:
            self.stdout.write(json.dumps(described))
            return
        width = max(len(key) for key in described)
        for key, value in described.items():
            self.stdout.write(f"{key.ljust(width)}  {value}")


def _os_user() -> str:
    """Who ran the command, as far as the operating system can tell, for the audit trail."""
    try:
        return f"user {getpass.getuser()}"
    except (KeyError, OSError):
        return "an unnamed user"


def describe(connection: Connection) -> dict:
    """Everything about a connection an operator may see: secrets only as set / not set."""
    fieldset = connection.selected_fieldset()
    return {
        "name": connection.name,
        "is_active": connection.is_active,
        "procore_login_url": connection.procore_login_url,
        "procore_api_url": connection.procore_api_url,
        "procore_auth_mode": connection.procore_auth_mode,
        "procore_client_id": connection.procore_client_id,
        "procore_client_secret": "set" if connection.procore_client_secret else "not set",
        "procore_company_id": connection.procore_company_id,
        "procore_token": "set" if connection.procore_access_token else "not set",
        "procore_token_expires_at": (
            connection.procore_token_expires_at.isoformat()
            if connection.procore_token_expires_at
            else None
        ),
        "exaktime_api_url": connection.exaktime_api_url,
        "exaktime_api_key": "set" if connection.exaktime_api_key else "not set",
        **{setting: getattr(connection, setting) for setting in SETTINGS},
        "fieldset": fieldset.name if fieldset else None,
        "custom_fields": [f.label for f in connection.selected_custom_fields()],
        "time_types": {kind: getattr(connection, field) for kind, field in HOUR_KINDS.items()},
        "time_entry_mode": connection.time_entry_mode,
        "preimported_at": (
            connection.preimported_at.isoformat() if connection.preimported_at else None
        ),
        "webhooks_enabled": connection.webhooks_enabled,
        "webhook_problem": connection.webhook_problem or None,
    }
