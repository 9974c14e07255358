"""Secrets never leave their encrypted columns: a scan of everything Linx shows or keeps.

One journey touches every surface (runs with token renewals and failures, the command
line with --json, the admin's pages, logs at DEBUG, exceptions), then searches all of it,
and every text column of every table, for the secrets in clear.
"""

from __future__ import annotations

import contextlib
import io
import logging
from datetime import date

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt as mfa_decrypt
from django.apps import apps
from django.core.management import call_command
from django.db import connection as db

from integrations.procore.sandbox import data as pc
from linx.models import Connection, RowResult, RunKind, RunTrigger, SyncRun
from linx.sync.execute import execute
from linx.sync.runs import create_run


def secrets_of(connection: Connection) -> dict[str, str]:
    fresh = Connection.objects.get(pk=connection.pk)
    found = {
        "client secret": fresh.procore_client_secret,
        "ExakTime API key": fresh.exaktime_api_key,
        "access token": fresh.procore_access_token,
        "refresh token": fresh.procore_refresh_token,
        "webhook secret": fresh.webhook_secret,
    }
    return {name: value for name, value in found.items() if value}


def every_text_column() -> str:
    """Every text-like value stored in every table, as the database holds it."""
    chunks = []
    with db.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            table = model._meta.db_table
            columns = [
                f.column
                for f in model._meta.concrete_fields
                if f.get_internal_type()
                in ("CharField", "TextField", "JSONField", "EmailField", "URLField", "SlugField")
            ]
            for column in columns:
                query = f"SELECT {db.ops.quote_name(column)} FROM {db.ops.quote_name(table)}"  # noqa: S608
                cursor.execute(query)
                chunks.extend(str(value) for (value,) in cursor.fetchall() if value)
    return "\n".join(chunks)


def run_command(*args) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.suppress(SystemExit):  # the exit code is not what this test checks
        call_command(*args, stdout=out, stderr=err)
    return out.getvalue() + err.getvalue()


def test_no_secret_appears_anywhere(
    sandbox_connection, staff_client, procore_sandbox, exaktime_sandbox, caplog, settings
):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    # Near-real-time import: the hook's secret is made, sent to Procore and checked.
    settings.LINX_PUBLIC_URL = "http://127.0.0.1:9"
    seen.append(run_command("linx_connection", "webhooks", "sandbox", "--install", "--json"))
    seen.append(run_command("linx_connection", "webhooks", "sandbox", "--check", "--json"))
    hook_path = Connection.objects.get(pk=sandbox_connection.pk).webhook_path_id
    refused = staff_client.post(
        f"/hooks/procore/{hook_path}/", "{}", "application/json", HTTP_AUTHORIZATION="Bearer x"
    )
    seen.append(refused.content.decode())

    # Runs, with a token that expires mid-run and writes that fail.
    execute(create_run(sandbox_connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))
    procore_sandbox.faults.set("expire_tokens")
    seen.append(run_command("linx_import", "sandbox", "--json"))
    exaktime_sandbox.generate_time_records(date(2026, 11, 16))
    procore_sandbox.faults.set("status", status=500, count=2, method="POST")
    seen.append(
        run_command(
            "linx_export", "sandbox", "--from", "2026-11-16", "--to", "2026-11-22", "--json"
        )
    )
    procore_sandbox.faults.clear()
    seen.append(run_command("linx_connection", "show", "sandbox", "--json"))
    seen.append(run_command("linx_connection", "list", "--json"))
    seen.append(run_command("linx_status", "--json"))
    secrets = {**secrets_of(sandbox_connection), "client secret": pc.CLIENT_SECRET}
    assert {"access token", "ExakTime API key", "webhook secret"} <= set(secrets)
    # The staff member's own second factor: the authenticator app's seed.
    totp = Authenticator.objects.get(type=Authenticator.Type.TOTP)
    secrets["TOTP seed"] = mfa_decrypt(totp.data["secret"])
    seen.append(run_command("dumpdata"))

    # A sign-in Procore refuses: its error and message.
    Connection.objects.filter(pk=sandbox_connection.pk).update(
        procore_client_secret="wrong-" + pc.CLIENT_SECRET, procore_access_token=""
    )
    failed = execute(create_run(Connection.objects.get(pk=sandbox_connection.pk), RunKind.IMPORT,
                           trigger=RunTrigger.COMMAND))  # fmt: skip
    seen.append(failed.message)

    # The admin's pages.
    for run in SyncRun.objects.all():
        seen.append(staff_client.get(f"/admin/linx/syncrun/{run.pk}/change/").content.decode())
    for path in (
        "/admin/",
        "/admin/linx/connection/",
        f"/admin/linx/connection/{sandbox_connection.pk}/change/",
        "/admin/linx/syncrun/",
        "/admin/linx/rowresult/",
        "/admin/linx/entitymapping/",
        "/admin/mfa/authenticator/",
        f"/admin/mfa/authenticator/{totp.pk}/change/",
    ):
        seen.append(staff_client.get(path).content.decode())

    # Rows, logs and the database.
    seen.extend(f"{r.message} {r.changes}" for r in RowResult.objects.all())
    seen.extend(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    everything = "\n".join(seen)
    stored = every_text_column()

    for name, value in secrets.items():
        assert value not in everything, f"the {name} appears in clear in what Linx shows"
        assert value not in stored, f"the {name} is stored in clear in the database"
    assert len(everything) > 10_000  # the scan looked at real pages, rows and logs
