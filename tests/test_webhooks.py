"""Receiving Procore's change notices: authenticated, checked, stored once, answered fast.

The view is driven through Django's test client; nothing here reaches Procore or
ExakTime (the connection points at hosts that do not exist in tests).
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from linx.models import Connection, WebhookEvent

SECRET = "hook-secret-value-0123456789abcdef"


@pytest.fixture
def hooked(connection) -> Connection:
    connection.webhooks_enabled = True
    connection.webhook_path_id = "r4nd0m-path-id"
    connection.webhook_secret = SECRET
    connection.save()
    return connection


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The applies handed to the queue (the queue itself is not run here)."""
    calls: list[int] = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda name, connection_id, **kw: calls.append(connection_id)
    )
    return calls


def notice(connection, **fields) -> dict:
    return {
        "id": 81_000_001,
        "timestamp": "2026-12-06T07:00:00Z",
        "company_id": connection.procore_company_id,
        "project_id": None,
        "user_id": 5,
        "resource_name": "Company Users",
        "resource_id": 6_000_000_010,
        "event_type": "update",
        "api_version": "v2",
        "metadata": {"source_application_id": None},
        **fields,
    }


def deliver(client, connection, body, *, auth=f"Bearer {SECRET}", content_type=None):
    url = reverse("procore_webhook", args=[connection.webhook_path_id])
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    return client.post(url, data, content_type=content_type or "application/json", **headers)


def test_a_notice_is_stored_once_and_one_apply_is_queued(client, hooked, queued):
    response = deliver(client, hooked, notice(hooked))
    assert response.status_code == 202
    event = WebhookEvent.objects.get()
    assert (event.resource_name, event.resource_id, event.event_type) == (
        "Company Users",
        6_000_000_010,
        "update",
    )
    assert queued == [hooked.pk]
    hooked.refresh_from_db()
    assert hooked.webhook_last_event_at is not None


def test_a_replayed_event_id_is_acknowledged_and_stored_once(client, hooked, queued):
    first = deliver(client, hooked, notice(hooked))
    again = deliver(client, hooked, notice(hooked))
    assert (first.status_code, again.status_code) == (202, 202)
    assert "duplicate" in again.json()["status"]
    assert WebhookEvent.objects.count() == 1


def test_a_burst_queues_one_apply(client, hooked, queued):
    for n in range(20):
        deliver(client, hooked, notice(hooked, id=n, resource_id=6_000_000_000 + n))
    assert WebhookEvent.objects.count() == 20
    assert queued == [hooked.pk]  # the rest wait for that one apply


@pytest.mark.parametrize(
    "auth",
    [None, "", "Bearer wrong-secret", f"Bearer {SECRET}x", SECRET, f"bearer {SECRET}"],
)
def test_a_forged_or_missing_authorization_is_401_and_nothing_is_stored(
    client, hooked, queued, auth
):
    response = deliver(client, hooked, notice(hooked), auth=auth)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()
    assert queued == []


def test_the_right_secret_on_another_path_is_401(client, hooked, queued):
    url = reverse("procore_webhook", args=["not-the-path"])
    response = client.post(
        url, json.dumps(notice(hooked)), "application/json", HTTP_AUTHORIZATION=f"Bearer {SECRET}"
    )
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_connection_with_webhooks_off_accepts_nothing(client, hooked, queued):
    Connection.objects.filter(pk=hooked.pk).update(webhooks_enabled=False)
    assert deliver(client, hooked, notice(hooked)).status_code == 401
    assert not WebhookEvent.objects.exists()


def test_an_oversized_body_is_413_and_nothing_is_stored(client, hooked, queued, settings):
    settings.LINX_WEBHOOK_MAX_BYTES = 2048
    body = notice(hooked, metadata={"padding": "x" * 4000})
    response = deliver(client, hooked, body)
    assert response.status_code == 413
    assert "2048 bytes" in response.json()["status"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        ({"resource_name": "Projects", "resource_id": 1, "event_type": "update"}, "no id"),
        ("resource_id", "resource_id must be a whole number"),
        ("event_type", "event_type must be one of"),
        ("company_id", "company_id must be a whole number"),
    ],
)
def test_a_malformed_body_is_400_naming_what_is_wrong(client, hooked, queued, body, says):
    if isinstance(body, str):  # a notice with that field missing
        body = {k: v for k, v in notice(hooked).items() if k != body}
    response = deliver(client, hooked, body)
    assert response.status_code == 400
    assert says in response.json()["status"]
    assert not WebhookEvent.objects.exists()


def test_a_body_that_is_not_json_typed_is_415(client, hooked, queued):
    response = deliver(client, hooked, json.dumps(notice(hooked)), content_type="text/plain")
    assert response.status_code == 415
    assert not WebhookEvent.objects.exists()


def test_another_companys_event_is_acknowledged_and_ignored(client, hooked, queued):
    response = deliver(client, hooked, notice(hooked, company_id=hooked.procore_company_id + 1))
    assert response.status_code == 202
    assert "another company" in response.json()["status"]
    assert not WebhookEvent.objects.exists()
    assert queued == []


def test_only_post_is_answered(client, hooked):
    url = reverse("procore_webhook", args=[hooked.webhook_path_id])
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {SECRET}").status_code == 405


def test_receiving_needs_no_csrf_token(hooked, queued):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert deliver(strict, hooked, notice(hooked)).status_code == 202


def test_receiving_makes_no_network_call(client, hooked, queued):
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        assert deliver(client, hooked, notice(hooked)).status_code == 202
        assert len(mocked.calls) == 0  # any call would have been refused by the mock


def test_events_wait_in_the_database_while_the_queue_is_down(client, hooked, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr("django_q.tasks.async_task", down)
    response = deliver(client, hooked, notice(hooked))
    assert response.status_code == 202
    assert WebhookEvent.objects.filter(run__isnull=True).count() == 1


def test_the_notice_never_reveals_the_secret(client, hooked, queued):
    response = deliver(client, hooked, notice(hooked), auth="Bearer wrong")
    assert SECRET not in response.content.decode()


# --- queueing applies: only for connections with webhooks on and notices waiting --------


def waiting_notice(connection) -> WebhookEvent:
    return WebhookEvent.objects.create(
        connection=connection,
        event_id="81000002",
        resource_name="Company Users",
        resource_id=6_000_000_010,
        event_type="update",
        happened_at="2026-12-06T07:00:00Z",
    )


def test_the_tick_queues_no_apply_for_a_connection_without_waiting_notices(connection, queued):
    from linx.sync import webhooks

    assert webhooks.apply_waiting() == 0  # webhooks off, no notice
    Connection.objects.filter(pk=connection.pk).update(webhooks_enabled=True)
    assert webhooks.apply_waiting() == 0  # webhooks on, no notice
    assert queued == []


def test_nothing_is_queued_for_notices_of_a_connection_with_webhooks_switched_off(hooked, queued):
    from linx.models import RunKind, SyncRun
    from linx.sync import webhooks

    waiting_notice(hooked)
    Connection.objects.filter(pk=hooked.pk).update(webhooks_enabled=False)

    assert webhooks.apply_waiting() == 0
    webhooks.after_run(SyncRun(connection=hooked, kind=RunKind.IMPORT))
    assert queued == []

    Connection.objects.filter(pk=hooked.pk).update(webhooks_enabled=True)
    assert webhooks.apply_waiting() == 1  # switched on again: they are applied
    assert queued == [hooked.pk]
