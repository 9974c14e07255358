"""Subscribing to Procore's change notices: `linx_connection webhooks NAME --install|--remove|--check`.

Against the Procore sandbox, which keeps hooks and triggers and really delivers.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import CommandError

from linx.models import Connection, WebhookEvent
from linx.sync import webhook_hooks
from tests.test_cli import run_command

NAMESPACE = webhook_hooks.NAMESPACE


def hooks_in(procore_sandbox) -> list[dict]:
    return list(procore_sandbox.store.kv_get("webhook_hooks", {}).values())


def webhooks(capsys, *flags) -> tuple[int, dict]:
    """Exit code and the one JSON object (a refusal is exit 2, as `manage.py` exits)."""
    try:
        code, out, _ = run_command(
            capsys, "linx_connection", "webhooks", "sandbox", *flags, "--json"
        )
    except CommandError as refused:
        code, out = refused.returncode, capsys.readouterr().out
    return code, json.loads(out)


@pytest.fixture
def public(settings):
    settings.LINX_PUBLIC_URL = "http://127.0.0.1:9"
    return settings.LINX_PUBLIC_URL


def test_install_creates_one_hook_with_its_triggers_and_turns_it_on(
    sandbox_connection, procore_sandbox, capsys, public
):
    code, result = webhooks(capsys, "--install")
    assert code == 0, result
    (hook,) = hooks_in(procore_sandbox)
    connection = Connection.objects.get(pk=sandbox_connection.pk)
    assert connection.webhooks_enabled and connection.webhook_hook_id == hook["id"]
    assert hook["destination_url"] == f"{public}/hooks/procore/{connection.webhook_path_id}/"
    assert sandbox_connection.name not in hook["destination_url"]
    assert hook["destination_headers"] == {"Authorization": f"Bearer {connection.webhook_secret}"}
    triggers = {(t["resource_name"], t["event_type"]) for t in hook["triggers"].values()}
    for resource in ("Company Users", "Projects", "Sub Jobs", "Crews"):
        assert {(resource, e) for e in ("create", "update", "delete")} <= triggers
    assert connection.webhook_secret not in json.dumps(result)
    _, shown, _ = run_command(capsys, "linx_connection", "show", "sandbox", "--json")
    assert json.loads(shown)["webhooks_enabled"] is True
    assert connection.webhook_secret not in shown


def test_install_again_repairs_in_place_and_rotates_the_secret(
    sandbox_connection, procore_sandbox, capsys, public
):
    webhooks(capsys, "--install")
    first = Connection.objects.get(pk=sandbox_connection.pk)
    (hook,) = hooks_in(procore_sandbox)
    procore_sandbox.store.kv_set(
        "webhook_hooks", {str(hook["id"]): {**hook, "triggers": {}}}
    )  # someone removed every trigger

    code, _ = webhooks(capsys, "--install")

    second = Connection.objects.get(pk=sandbox_connection.pk)
    (repaired,) = hooks_in(procore_sandbox)
    assert code == 0 and repaired["id"] == hook["id"]
    assert second.webhook_secret != first.webhook_secret
    assert repaired["destination_headers"]["Authorization"] == f"Bearer {second.webhook_secret}"
    assert len(repaired["triggers"]) == len(webhook_hooks.wanted_triggers(second))


def test_check_reports_drift_and_exits_1(sandbox_connection, procore_sandbox, capsys, public):
    webhooks(capsys, "--install")
    code, result = webhooks(capsys, "--check")
    assert (code, result["in_step"], result["drift"]) == (0, True, [])

    (hook,) = hooks_in(procore_sandbox)
    trigger_id, trigger = next(iter(hook["triggers"].items()))
    del hook["triggers"][trigger_id]
    hook["destination_headers"] = {"Authorization": "Bearer someone-elses"}
    procore_sandbox.store.kv_set("webhook_hooks", {str(hook["id"]): hook})

    code, result = webhooks(capsys, "--check")
    assert code == 1 and result["in_step"] is False
    assert f"missing trigger {trigger['resource_name']} {trigger['event_type']}" in result["drift"]
    assert "the hook's Authorization header is not this connection's secret" in result["drift"]
    problem = Connection.objects.get(pk=sandbox_connection.pk).webhook_problem
    assert "missing trigger" in problem  # the dashboard and linx_status show it


def test_check_notices_a_hook_gone_from_procore(
    sandbox_connection, procore_sandbox, capsys, public
):
    webhooks(capsys, "--install")
    procore_sandbox.store.kv_set("webhook_hooks", {})
    code, result = webhooks(capsys, "--check")
    assert code == 1
    assert result["drift"] == ["the hook is gone from Procore: install again"]


def test_remove_deletes_the_hook_and_turns_it_off(
    sandbox_connection, procore_sandbox, capsys, public
):
    webhooks(capsys, "--install")
    code, _ = webhooks(capsys, "--remove")
    connection = Connection.objects.get(pk=sandbox_connection.pk)
    assert code == 0 and hooks_in(procore_sandbox) == []
    assert not connection.webhooks_enabled and connection.webhook_secret == ""


def test_install_without_a_public_url_exits_2_and_says_so(
    sandbox_connection, procore_sandbox, capsys, settings
):
    settings.LINX_PUBLIC_URL = None
    code, result = webhooks(capsys, "--install")
    assert code == 2 and "LINX_PUBLIC_URL is not set" in result["error"]
    assert hooks_in(procore_sandbox) == []


def test_install_refuses_plain_http_off_loopback(
    sandbox_connection, procore_sandbox, capsys, settings
):
    settings.LINX_PUBLIC_URL = "http://linx.example.com"
    code, result = webhooks(capsys, "--install")
    assert code == 2 and "must be https" in result["error"]


def test_a_gap_is_noticed_when_deliveries_fail_and_no_notice_arrives(
    sandbox_connection, procore_sandbox, capsys, public
):
    procore_sandbox.delivery_retry_base, procore_sandbox.delivery_retries = 0.01, 1
    webhooks(capsys, "--install")  # public points at a port nobody listens on
    procore_sandbox.update("user", procore_sandbox.records("user")[0]["id"], last_name="X")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        deliveries = procore_sandbox.store.kv_get("webhook_deliveries", {})
        if sum(len(d) for d in deliveries.values()) >= 2:
            break
        time.sleep(0.05)

    code, result = webhooks(capsys, "--check")

    assert code == 1
    assert any("failed deliveries" in line for line in result["drift"])


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_delivers_to_linx_and_the_change_is_stored_once(
    sandbox_connection, procore_sandbox, capsys, live_server, settings, monkeypatch
):
    queued: list[int] = []  # the apply is not run here (tests/test_webhook_import.py does)
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda name, connection_id, **kw: queued.append(connection_id)
    )
    settings.LINX_PUBLIC_URL = live_server.url
    settings.LINX_WEBHOOK_COALESCE_SECONDS = 0
    webhooks(capsys, "--install")
    procore_sandbox.delivery_faults["duplicate"] = 1.0  # every notice twice
    worker = procore_sandbox.records("user")[0]["id"]

    procore_sandbox.update("user", worker, last_name="Delivered")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not WebhookEvent.objects.exists():
        time.sleep(0.05)
    time.sleep(0.3)  # the duplicate arrives too
    event = WebhookEvent.objects.get()
    assert (event.resource_name, event.resource_id) == ("Company Users", worker)
    deliveries = procore_sandbox.store.kv_get("webhook_deliveries", {})
    statuses = [d["response_status"] for ds in deliveries.values() for d in ds]
    assert statuses == [202, 202]
    assert queued == [sandbox_connection.pk]  # one apply for the two deliveries


def test_a_hook_gone_is_shown_by_linx_status_the_dashboard_and_one_email(
    sandbox_connection, procore_sandbox, capsys, public, staff_client, mailoutbox, monkeypatch
):
    Connection.objects.filter(pk=sandbox_connection.pk).update(alert_emails="ops@example.com")
    webhooks(capsys, "--install")
    procore_sandbox.store.kv_set("webhook_hooks", {})  # the hook is gone
    queued: list[int] = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda name, connection_id, **kw: queued.append(connection_id)
    )
    Connection.objects.filter(pk=sandbox_connection.pk).update(webhook_checked_at=None)

    assert webhook_hooks.queue_due_checks() == 1
    assert webhook_hooks.queue_due_checks() == 0  # claimed: checked once per period
    assert queued == [sandbox_connection.pk]
    webhook_hooks.check_and_alert(sandbox_connection.pk)
    webhook_hooks.check_and_alert(sandbox_connection.pk)  # still gone: no second e-mail

    assert len(mailoutbox) == 1
    assert "gone from Procore" in mailoutbox[0].body
    assert "--install" in mailoutbox[0].body
    code, out, _ = run_command(capsys, "linx_status", "sandbox")
    assert code == 1 and "near-real-time import (Procore webhooks): the hook is gone" in out
    dashboard = staff_client.get("/admin/").content.decode()
    assert "Near-real-time" in dashboard and "the hook is gone from Procore" in dashboard


def test_linx_sandbox_changes_a_worker_and_the_sandbox_delivers_it(
    sandbox_connection, procore_sandbox, capsys, public
):
    webhooks(capsys, "--install")
    worker = procore_sandbox.records("user", is_active=True)[0]["id"]
    url = ("--procore-url", procore_sandbox.url)

    code, out, _ = run_command(capsys, "linx_sandbox", *url, "--rename-worker", f"{worker}=Okafor")
    assert code == 0 and "Okafor" in out
    run_command(capsys, "linx_sandbox", *url, "--deactivate-worker", str(worker))
    code, out, _ = run_command(capsys, "linx_sandbox", *url, "--add-worker", "Ada Quinn")
    assert code == 0 and "Ada Quinn (active)" in out

    assert procore_sandbox.get("user", worker)["last_name"] == "Okafor"
    assert procore_sandbox.get("user", worker)["is_active"] is False
    deadline = time.monotonic() + 5
    seen: set = set()
    while time.monotonic() < deadline and len(seen) < 3:
        deliveries = procore_sandbox.store.kv_get("webhook_deliveries", {})
        seen = {d["event_id"] for ds in deliveries.values() for d in ds}
        time.sleep(0.05)
    assert len(seen) == 3  # one event per change (each delivery failed: nobody listens)


def test_linx_sandbox_says_what_to_fix(db, capsys):
    with pytest.raises(CommandError, match="ID=LAST_NAME"):
        run_command(capsys, "linx_sandbox", "--rename-worker", "Okafor")
