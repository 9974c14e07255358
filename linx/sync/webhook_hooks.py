"""Subscribing a connection to Procore's change notices: install, remove, check.

One hook per connection, delivering to Linx's public URL (LINX_PUBLIC_URL) at a path
whose random part names no connection, with a per-connection secret in its
Authorization header (rotated by every install), and one trigger per resource and event
the import uses. `check` compares what Procore holds with that and reports drift, and
notices a gap (no notice for a while although Procore's deliveries show failures).
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone

from integrations.errors import IntegrationError
from integrations.procore.hooks import Hook
from linx.clients import procore_client
from linx.models import Connection

#: The hook's namespace in Procore: Linx's integration name.
NAMESPACE = "linx"
EVENTS = ("create", "update", "delete")


class WebhookSetupError(Exception):
    """Webhooks cannot be set up as asked; the message says what to fix."""


def public_url() -> str:
    """LINX_PUBLIC_URL, checked: https, or http on loopback (the sandboxes)."""
    url = (settings.LINX_PUBLIC_URL or "").rstrip("/")
    if not url:
        raise WebhookSetupError(
            "LINX_PUBLIC_URL is not set: set it to the https address Procore can reach "
            "Linx at (e.g. https://linx.example.com), then install again."
        )
    parts = urlsplit(url)
    if parts.scheme != "https" and not _loopback(parts.hostname or ""):
        raise WebhookSetupError(
            f"LINX_PUBLIC_URL must be https (http only on loopback), not {parts.scheme}://."
        )
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def destination(connection: Connection) -> str:
    path = reverse("procore_webhook", args=[connection.webhook_path_id])
    return public_url() + path


def wanted_triggers(connection: Connection) -> set[tuple[str, str]]:
    """(resource name, event) for what this connection imports."""
    resources = ["Company Users", "Projects", "Standard Cost Codes"]
    if connection.import_sub_jobs:
        resources.append("Sub Jobs")
    if connection.crews_as_groups:
        resources.append("Crews")
    return {(resource, event) for resource in resources for event in EVENTS}


def _ours(connection: Connection, hooks: list[Hook], url: str) -> tuple[Hook | None, list[Hook]]:
    """This connection's hook (by id, else by address) and any duplicates of it."""
    mine = [h for h in hooks if h.id == connection.webhook_hook_id or h.destination_url == url]
    mine.sort(key=lambda h: h.id != connection.webhook_hook_id)
    return (mine[0] if mine else None), mine[1:]


def install(connection: Connection) -> list[str]:
    """Create or repair the hook and its triggers, rotating the secret; returns what was done."""
    public_url()  # before anything changes
    path_id = connection.webhook_path_id or secrets.token_urlsafe(24)
    secret = secrets.token_urlsafe(32)
    # Saved first: a delivery made with the old secret is refused and retried by Procore.
    Connection.objects.filter(pk=connection.pk).update(
        webhook_path_id=path_id, webhook_secret=secret, webhooks_enabled=True
    )
    connection.refresh_from_db()
    url = destination(connection)
    headers = {"Authorization": f"Bearer {secret}"}
    done = []
    with procore_client(connection) as procore:
        procore.http.add_secret(secret)
        hook, duplicates = _ours(connection, procore.hooks(NAMESPACE), url)
        for extra in duplicates:
            procore.delete_hook(extra.id)
            done.append(f"removed duplicate hook {extra.id}")
        if hook is None:
            hook = procore.create_hook(NAMESPACE, url, headers)
            done.append(f"created hook {hook.id} delivering to {url}")
        else:
            procore.update_hook(hook.id, url, headers)
            done.append(f"updated hook {hook.id} (address and a new secret)")
        done += _repair_triggers(procore, hook.id, wanted_triggers(connection))
    Connection.objects.filter(pk=connection.pk).update(
        webhook_hook_id=hook.id, webhook_problem="", webhook_checked_at=Now()
    )
    return done


def _repair_triggers(procore, hook_id: int, wanted: set[tuple[str, str]]) -> list[str]:
    done, have = [], set()
    for trigger in procore.triggers(hook_id):
        key = (trigger.resource_name, trigger.event_type)
        if key in wanted and key not in have:
            have.add(key)
        else:
            procore.delete_trigger(hook_id, trigger.id)
            done.append(f"removed trigger {key[0]} {key[1]}")
    for resource, event in sorted(wanted - have):
        procore.create_trigger(hook_id, resource, event)
        done.append(f"added trigger {resource} {event}")
    return done


def remove(connection: Connection) -> list[str]:
    """Delete the hook (and so its triggers) and switch near-real-time import off."""
    done = []
    if connection.webhook_path_id and settings.LINX_PUBLIC_URL:
        url = destination(connection)
    else:
        url = None
    with procore_client(connection) as procore:
        hook, duplicates = _ours(connection, procore.hooks(NAMESPACE), url or "")
        for gone in ([hook] if hook else []) + duplicates:
            procore.delete_hook(gone.id)
            done.append(f"removed hook {gone.id}")
    Connection.objects.filter(pk=connection.pk).update(
        webhooks_enabled=False, webhook_secret="", webhook_hook_id=None, webhook_problem=""
    )
    return done or ["no hook was installed"]


def check(connection: Connection) -> list[str]:
    """What differs between Procore's hook and what it should be (empty: none), and a
    gap in notices; remembered on the connection for the dashboard and `linx_status`."""
    with procore_client(connection) as procore:
        if connection.webhook_secret:
            procore.http.add_secret(connection.webhook_secret)
        drift = drift_of(connection, procore)
    Connection.objects.filter(pk=connection.pk).update(
        webhook_problem="; ".join(drift), webhook_checked_at=Now()
    )
    return drift


def drift_of(connection: Connection, procore) -> list[str]:
    """What differs from what it should be, read with an open Procore client."""
    hooks = procore.hooks(NAMESPACE)
    if not connection.webhooks_enabled:
        stray = [h for h in hooks if h.id == connection.webhook_hook_id]
        return [f"near-real-time import is off but hook {h.id} is still installed" for h in stray]
    url = destination(connection) if connection.webhook_path_id else ""
    hook, duplicates = _ours(connection, hooks, url)
    if hook is None:
        return ["the hook is gone from Procore: install again"]
    drift = [f"duplicate hook {h.id}" for h in duplicates]
    if hook.destination_url != url:
        drift.append(f"the hook delivers to {hook.destination_url}, not {url}")
    if hook.destination_headers.get("Authorization") != f"Bearer {connection.webhook_secret}":
        drift.append("the hook's Authorization header is not this connection's secret")
    have = {(t.resource_name, t.event_type) for t in procore.triggers(hook.id)}
    wanted = wanted_triggers(connection)
    drift += [f"missing trigger {r} {e}" for r, e in sorted(wanted - have)]
    drift += [f"unexpected trigger {r} {e}" for r, e in sorted(have - wanted)]
    if gap := _gap(connection, procore, hook.id):
        drift.append(gap)
    return drift


def queue_due_checks() -> int:
    """Every minute (the tick): queue a check of each hook not checked for
    LINX_WEBHOOK_CHECK_MINUTES, claimed with a compare-and-set so one worker does it."""
    from django_q.tasks import async_task

    stale = timezone.now() - timezone.timedelta(minutes=settings.LINX_WEBHOOK_CHECK_MINUTES)
    due = Connection.objects.filter(is_active=True, webhooks_enabled=True).filter(
        Q(webhook_checked_at__isnull=True) | Q(webhook_checked_at__lt=stale)
    )
    queued = 0
    for connection in due.only("pk", "webhook_checked_at"):
        claimed = Connection.objects.filter(
            pk=connection.pk, webhook_checked_at=connection.webhook_checked_at
        ).update(webhook_checked_at=Now())
        if claimed:
            async_task("linx.tasks.check_webhooks", connection.pk, group="linx-webhooks")
            queued += 1
    return queued


def check_and_alert(connection_id: int) -> list[str]:
    """Check one connection's hook; e-mail its contacts when a problem newly appears."""
    from linx.sync.alerts import webhook_alert

    connection = Connection.objects.get(pk=connection_id)
    before = connection.webhook_problem
    try:
        drift = check(connection)
    except (IntegrationError, WebhookSetupError) as error:
        drift = [f"Linx could not check the hook: {error}"]
        Connection.objects.filter(pk=connection.pk).update(webhook_problem=drift[0])
    if drift and not before:
        webhook_alert(connection, "; ".join(drift))
    return drift


def _gap(connection: Connection, procore, hook_id: int) -> str:
    """No notice for LINX_WEBHOOK_QUIET_MINUTES while Procore's deliveries show failures."""
    quiet = timezone.timedelta(minutes=settings.LINX_WEBHOOK_QUIET_MINUTES)
    last = connection.webhook_last_event_at
    if last is not None and timezone.now() - last < quiet:
        return ""
    failed = [d for d in procore.deliveries(hook_id) if d.failed]
    if not failed:
        return ""
    since = f"since {last:%Y-%m-%d %H:%M %Z}" if last else "yet"
    return (
        f"no notice received {since} while Procore reports {len(failed)} failed "
        "deliveries: check that LINX_PUBLIC_URL reaches Linx (scheduled imports still "
        "catch every change)"
    )
