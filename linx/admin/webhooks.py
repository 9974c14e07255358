"""The connection page's near-real-time import: its state and its three actions.

Thin: each action calls `linx.sync.webhook_hooks` and tells the operator what happened.
Kept apart from the connection page's module so that page stays about the connection.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from integrations.errors import IntegrationError
from linx.admin.dashboard import when
from linx.models import Connection
from linx.sync import webhook_hooks
from linx.sync.webhook_hooks import WebhookSetupError


@admin.display(description="Near-real-time import (Procore webhooks)")
def webhook_status(connection: Connection) -> str:
    """On or off, when the last notice came, and what the last check found wrong."""
    if connection.pk is None or not connection.webhooks_enabled:
        return "Off. Scheduled imports bring Procore's changes."
    last = connection.webhook_last_event_at
    state = format_html("On: last notice {}.", when(last) if last else "none yet")
    if connection.webhook_problem:
        return format_html("{} Problem: {}.", state, connection.webhook_problem)
    if connection.webhook_checked_at:
        checked = when(connection.webhook_checked_at)
        return format_html("{} Hook checked {}: as it should be.", state, checked)
    return state


def _each(modeladmin, request, queryset, verb: str, done_word: str) -> None:
    for connection in queryset:
        try:
            lines = getattr(webhook_hooks, verb)(connection)
        except (WebhookSetupError, IntegrationError) as error:
            modeladmin.message_user(request, f"{connection.name}: {error}", messages.ERROR)
            continue
        if verb == "check":
            level = messages.WARNING if lines else messages.SUCCESS
            text = "; ".join(lines) or "the Procore hook is as it should be"
        else:
            level, text = messages.SUCCESS, f"{done_word} ({'; '.join(lines)})"
        modeladmin.message_user(request, f"{connection.name}: {text}.", level)


@admin.action(
    description="Switch on near-real-time import (install or repair Procore webhooks)",
    permissions=["run"],
)
def webhooks_on(modeladmin, request, queryset) -> None:
    _each(modeladmin, request, queryset, "install", "near-real-time import is on")


@admin.action(description="Switch off near-real-time import", permissions=["run"])
def webhooks_off(modeladmin, request, queryset) -> None:
    _each(modeladmin, request, queryset, "remove", "near-real-time import is off")


@admin.action(description="Check Procore webhooks", permissions=["run"])
def webhooks_check(modeladmin, request, queryset) -> None:
    _each(modeladmin, request, queryset, "check", "")
