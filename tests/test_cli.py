"""The management commands as cron and scripts see them (docs/cli.md)."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from integrations.procore.sandbox import data as pc
from linx.models import Connection, RunKind, RunStatus, RunTrigger, SyncRun
from linx.sync.runs import claim, create_run


def run_command(capsys, *args) -> tuple[int, str, str]:
    """Run a command as cron would; return (exit code, stdout, stderr)."""
    code = 0
    try:
        call_command(*args)
    except SystemExit as leave:
        code = leave.code
    out, err = capsys.readouterr()
    return code, out, err


def test_import_json_prints_one_object_with_counts_and_failures(sandbox_connection, capsys):
    code, out, _ = run_command(capsys, "linx_import", "sandbox", "--json")
    result = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert code == 1  # the sandbox company has rows that must fail
    assert result["kind"] == "import" and result["status"] == "partial"
    assert set(result["counts"]) >= {
        "created",
        "updated",
        "unchanged",
        "deactivated",
        "deleted",
        "skipped",
        "failed",
    }
    assert result["counts"]["failed"] == len(result["failures"])
    no_id = next(f for f in result["failures"] if f["source_id"] == str(pc.WORKER_NO_EMPLOYEE_ID))
    assert no_id["entity"] == "employee"
    assert "has no Employee ID in Procore's Directory" in no_id["message"]
    sub_job_entities = {f["entity"] for f in result["failures"]}
    assert sub_job_entities <= {"employee", "location", "cost_code", "crew", "custom_field"}
    assert SyncRun.objects.get(pk=result["run"]).status == RunStatus.PARTIAL


def test_a_clean_run_exits_0_with_a_human_summary(sandbox_connection, capsys):
    code, out, _ = run_command(capsys, "linx_preimport", "sandbox")
    assert code == 0
    assert "Pre-import #" in out and "succeeded" in out


def test_overlap_exits_3_and_does_nothing(sandbox_connection, capsys, exaktime_sandbox):
    claim(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.SCHEDULE))
    code, out, _ = run_command(capsys, "linx_import", "sandbox", "--json")
    assert code == 3
    result = json.loads(out)
    assert result["status"] == "skipped"
    assert "already running" in result["message"]
    assert [r for r in exaktime_sandbox.requests() if r["method"] != "GET"] == []


def test_a_run_that_cannot_start_exits_2_naming_the_cause(sandbox_connection, capsys):
    sandbox_connection.procore_client_secret = "wrong"
    sandbox_connection.save()
    code, out, _ = run_command(capsys, "linx_import", "sandbox", "--json")
    assert code == 2
    result = json.loads(out)
    assert result["status"] == "failed"
    assert "Procore" in result["message"]


def test_unknown_entities_and_connections_are_named(sandbox_connection):
    with pytest.raises(CommandError, match="unknown projects; choose from"):
        call_command("linx_import", "sandbox", "--entities", "employees,projects")
    with pytest.raises(CommandError, match="No connection named 'nope'"):
        call_command("linx_import", "nope")


def test_dry_run_from_the_command_line_writes_nothing(sandbox_connection, capsys, exaktime_sandbox):
    code, out, _ = run_command(capsys, "linx_import", "sandbox", "--dry-run", "--json")
    assert code == 1  # the preview shows the rows that would fail
    assert json.loads(out)["counts"]["created"] > 0
    assert [r for r in exaktime_sandbox.requests() if r["method"] != "GET"] == []


def test_enqueue_prints_the_run_id_and_leaves_it_queued(
    sandbox_connection, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        code, out, _ = run_command(capsys, "linx_import", "sandbox", "--enqueue", "--json")
    result = json.loads(out)
    assert code == 0
    assert SyncRun.objects.get(pk=result["run"]).status == RunStatus.QUEUED


def test_rerun_runs_only_the_failed_rows(sandbox_connection, capsys, procore_sandbox):
    _, out, _ = run_command(capsys, "linx_import", "sandbox", "--entities", "employees", "--json")
    first = json.loads(out)
    procore_sandbox.update("user", pc.WORKER_NO_EMPLOYEE_ID, employee_id="4242")
    code, out, _ = run_command(capsys, "linx_rerun", str(first["run"]), "--json")
    assert code == 1  # the other failed rows still fail
    again = json.loads(out)
    assert again["counts"]["created"] == 1
    assert again["counts"]["unchanged"] == 0  # the rows that went through are not redone
    assert again["counts"]["failed"] == first["counts"]["failed"] - 1
    assert SyncRun.objects.get(pk=again["run"]).rerun_of_id == first["run"]


def test_rerun_refuses_a_run_without_failures(sandbox_connection, capsys):
    _, out, _ = run_command(capsys, "linx_preimport", "sandbox", "--json")
    with pytest.raises(CommandError, match="has no failed rows"):
        call_command("linx_rerun", str(json.loads(out)["run"]))


# --- linx_connection ------------------------------------------------------------------


ADD = [
    "linx_connection", "add", "acme",
    "--procore-api-url", "https://sandbox.procore.com",
    "--procore-login-url", "https://login-sandbox.procore.com",
    "--procore-client-id", "cid",
    "--procore-company-id", "5000000001",
    "--exaktime-api-url", "https://api.arcoro.com",
]  # fmt: skip


def test_add_reads_secrets_from_the_environment_and_never_prints_them(db, capsys, monkeypatch):
    monkeypatch.setenv("PROCORE_CLIENT_SECRET", "env-secret-value")
    monkeypatch.setenv("EXAKTIME_API_KEY", "env-key-value")
    run_command(capsys, *ADD, "--import-sub-jobs")
    connection = Connection.objects.get(name="acme")
    assert connection.procore_client_secret == "env-secret-value"
    assert connection.exaktime_api_key == "env-key-value"
    assert connection.import_sub_jobs and not connection.crews_as_groups  # off unless given

    _, out, _ = run_command(capsys, "linx_connection", "show", "acme", "--json")
    shown = json.loads(out)
    assert shown["procore_client_secret"] == "set" and shown["exaktime_api_key"] == "set"
    assert "env-secret-value" not in out and "env-key-value" not in out


@pytest.fixture
def secrets_in_environment(monkeypatch):
    """`add` refuses a connection without its secrets; read them as cron would."""
    monkeypatch.setenv("PROCORE_CLIENT_SECRET", "env-secret-value")
    monkeypatch.setenv("EXAKTIME_API_KEY", "env-key-value")


def test_set_leaves_flags_it_is_not_given_unchanged(db, capsys, secrets_in_environment):
    run_command(capsys, *ADD, "--import-sub-jobs", "--crews-as-groups")
    run_command(capsys, "linx_connection", "set", "acme", "--no-import-sub-jobs")
    connection = Connection.objects.get(name="acme")
    assert not connection.import_sub_jobs and connection.crews_as_groups


def test_list_json_lists_connections(db, capsys, secrets_in_environment):
    run_command(capsys, *ADD)
    _, out, _ = run_command(capsys, "linx_connection", "list", "--json")
    assert [c["name"] for c in json.loads(out)] == ["acme"]


def test_custom_fields_before_preimport_say_to_run_it(db, capsys, secrets_in_environment):
    run_command(capsys, *ADD)
    with pytest.raises(CommandError, match="run linx_preimport first"):
        call_command("linx_connection", "set", "acme", "--fieldset", "Daily Timesheet Fields")


@pytest.fixture
def preimported(sandbox_connection, capsys):
    run_command(capsys, "linx_preimport", "sandbox")
    return sandbox_connection


def test_choosing_a_fieldset_and_supported_fields(preimported, capsys):
    run_command(
        capsys, "linx_connection", "set", "sandbox",
        "--fieldset", "Daily Timesheet Fields",
        "--custom-fields", "Equipment Used,Inspection Date,Per Diem,Weather",
    )  # fmt: skip
    labels = [f.label for f in preimported.selected_custom_fields()]
    assert labels == ["Equipment Used", "Inspection Date", "Per Diem", "Weather"]


def test_an_unsupported_field_type_is_refused(preimported):
    with pytest.raises(
        CommandError, match="'Mileage' is of type 'number', which Linx cannot carry"
    ):
        call_command(
            "linx_connection", "set", "sandbox",
            "--fieldset", "Daily Timesheet Fields", "--custom-fields", "Mileage",
        )  # fmt: skip


def test_a_sixth_custom_field_is_refused(preimported):
    six = "Equipment Used,Inspection Date,Per Diem,Weather,Foreman Notes,Old Job Phase"
    with pytest.raises(CommandError, match="6 custom fields chosen, but at most 5"):
        call_command(
            "linx_connection", "set", "sandbox",
            "--fieldset", "Daily Timesheet Fields", "--custom-fields", six,
        )  # fmt: skip
    assert not preimported.selected_custom_fields().exists()


def test_unknown_labels_and_time_types_are_named(preimported):
    with pytest.raises(CommandError, match="unknown 'Colour'"):
        call_command("linx_connection", "set", "sandbox", "--custom-fields", "Colour")
    with pytest.raises(CommandError, match="no timecard time type 'XX'"):
        call_command("linx_connection", "set", "sandbox", "--time-type", "ot1=XX")
    call_command("linx_connection", "set", "sandbox", "--time-type", "ot1=DT")
    assert Connection.objects.get(name="sandbox").time_type_ot1 == "DT"


# --- linx_export --------------------------------------------------------------------------


def test_export_json_and_exit_code(sandbox_connection, capsys, exaktime_sandbox):
    from datetime import date

    run_command(capsys, "linx_import", "sandbox")
    exaktime_sandbox.generate_time_records(date(2026, 11, 16))
    code, out, _ = run_command(
        capsys, "linx_export", "sandbox", "--from", "2026-11-16", "--to", "2026-11-22", "--json"
    )
    result = json.loads(out)
    assert result["kind"] == "export"
    assert code == 1 and result["status"] == "partial"  # the sandbox punches at unlinked SHOP
    failure = result["failures"][0]
    assert failure["entity"] == "time_record"
    assert int(failure["source_id"]) >= 1_000_001  # the ExakTime time record id
    again_code, again_out, _ = run_command(
        capsys, "linx_export", "sandbox", "--from", "2026-11-16", "--to", "2026-11-22", "--json"
    )
    again = json.loads(again_out)
    assert again_code == 1
    assert (
        again["counts"]["created"] == 0
        and again["counts"]["unchanged"] == result["counts"]["created"]
    )


def test_export_dates_are_checked(sandbox_connection):
    with pytest.raises(CommandError, match="'2026-13-01' is not a date"):
        call_command("linx_export", "sandbox", "--from", "2026-13-01", "--to", "2026-12-01")
    with pytest.raises(CommandError, match="is before --from"):
        call_command("linx_export", "sandbox", "--from", "2026-12-02", "--to", "2026-12-01")
