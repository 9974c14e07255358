"""A run that could not run exits 2 and, with --json, still prints its one JSON object.

docs/cli.md: an unknown connection, a run id that does not exist, and every other
exit 2 print exactly one JSON object with "run" null (or the run recorded), "status"
"failed", every count 0, "failures" [] and an "error" naming the cause; stderr says so
in words. Run as cron runs them: a child process, so argparse's own refusals count too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import responses
from django.conf import settings
from django.core.management import CommandError, call_command

from linx.cli import COUNT_KEYS
from linx.models import Connection
from tests.test_sigterm import ROOT, database_url

CASES = {
    "unknown connection": (["linx_import", "nope"], "No connection named 'nope'"),
    "unknown connection, pre-import": (["linx_preimport", "nope"], "No connection named 'nope'"),
    "unknown connection, export": (
        ["linx_export", "nope", "--from", "2026-12-01", "--to", "2026-12-02"],
        "No connection named 'nope'",
    ),
    "--to before --from": (
        ["linx_export", "acme-builders", "--from", "2026-12-02", "--to", "2026-12-01"],
        "--to 2026-12-01 is before --from 2026-12-02",
    ),
    "a malformed date": (
        ["linx_export", "acme-builders", "--from", "2026-13-01", "--to", "2026-12-01"],
        "'2026-13-01' is not a date: write YYYY-MM-DD",
    ),
    "unknown --entities": (
        ["linx_import", "acme-builders", "--entities", "employees,projects"],
        "--entities: unknown projects",
    ),
    "a run id that does not exist": (["linx_rerun", "9999"], "There is no run #9999"),
    "a run id that is not a number (argparse)": (
        ["linx_rerun", "abc"],
        "argument run_id: invalid int value: 'abc'",
    ),
    "a missing --to (argparse)": (
        ["linx_export", "acme-builders", "--from", "2026-12-01"],
        "the following arguments are required: --to",
    ),
}


def manage(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "LINX_ENCRYPTION_KEYS": ",".join(settings.LINX_ENCRYPTION_KEYS),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_could_not_run_exits_2_with_one_json_object(transactional_db, connection, case):
    args, words = CASES[case]
    done = manage(*args, "--json")
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)  # exactly one JSON object, nothing else on stdout
    assert result["run"] is None
    assert result["status"] == "failed"
    assert result["counts"] == dict.fromkeys(COUNT_KEYS, 0)
    assert result["failures"] == []
    assert words in result["error"]
    assert words in done.stderr


def test_without_json_it_exits_2_and_says_why_on_stderr_only(transactional_db, connection):
    done = manage("linx_rerun", "9999")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "There is no run #9999" in done.stderr


def test_the_kind_is_named_when_the_command_fixes_it(connection, capsys):
    with pytest.raises(CommandError) as refused:
        call_command(
            "linx_export", "acme-builders", "--from", "2026-12-02", "--to", "2026-12-01", "--json"
        )
    assert refused.value.returncode == 2
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "export" and result["run"] is None


def test_a_run_that_stopped_early_names_its_error_too(connection, capsys):
    Connection.objects.filter(pk=connection.pk).update(procore_login_url="http://127.0.0.1:9")
    with pytest.raises(SystemExit) as leave:
        call_command("linx_preimport", "acme-builders", "--json")
    assert leave.value.code == 2
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "failed" and result["run"] is not None
    assert result["error"] and result["error"] in err


@pytest.mark.parametrize(
    ("secret", "words"),
    [
        ("procore_client_secret", "no Procore client secret is set for acme-builders"),
        ("exaktime_api_key", "no ExakTime API key is set for acme-builders"),
    ],
)
def test_a_run_without_a_secret_fails_at_once_naming_it(connection, capsys, secret, words):
    Connection.objects.filter(pk=connection.pk).update(**{secret: ""})
    with responses.RequestsMock() as network, pytest.raises(SystemExit) as leave:
        call_command("linx_import", "acme-builders", "--json")
    assert len(network.calls) == 0  # stopped before any request
    assert leave.value.code == 2
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "failed" and words in result["error"]
    assert words in err and "Traceback" not in err


def test_add_without_a_secret_exits_2_naming_it(transactional_db, monkeypatch):
    monkeypatch.delenv("PROCORE_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("EXAKTIME_API_KEY", raising=False)
    done = manage(
        "linx_connection", "add", "acme",
        "--procore-api-url", "https://api.procore.com",
        "--procore-login-url", "https://login.procore.com",
        "--procore-client-id", "cid", "--procore-company-id", "1",
        "--exaktime-api-url", "https://api.arcoro.com",
        "--exaktime-api-key", "given-key",
    )  # fmt: skip
    assert done.returncode == 2
    assert "no Procore client secret given: set PROCORE_CLIENT_SECRET" in done.stderr
    assert "ExakTime API key" not in done.stderr  # it was given
    assert not Connection.objects.filter(name="acme").exists()


def test_show_of_an_unknown_connection_exits_2_with_a_json_error(transactional_db, connection):
    done = manage("linx_connection", "show", "nope", "--json")
    assert done.returncode == 2
    assert "No connection named 'nope'" in json.loads(done.stdout)["error"]
    assert "No connection named 'nope'" in done.stderr
