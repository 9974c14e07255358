"""Near-real-time import: receive -> store once -> coalesce -> apply as an import run.

Procore's notices are best effort (late, doubled, out of order or never), so they only
add freshness: scheduled imports stay the source of completeness. Receiving does no
network call at all: a notice is checked, stored once (its id is unique per connection)
and an apply is handed to the queue at most once at a time, so a burst of notices
becomes one run a few seconds later. The apply takes every waiting notice into one
`SyncRun` of kind import with trigger "webhook"; a run that cannot start (another
import holds the connection) or stops early gives them back to wait for the next one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from integrations.values import whole
from linx.models import Connection, RunKind, RunStatus, RunTrigger, SyncRun, WebhookEvent
from linx.sync.webhook_import import RESOURCES, entities_of

log = logging.getLogger(__name__)

EVENT_TYPES = ("create", "update", "delete")


class BadNotice(ValueError):
    """A body that is not a Procore change notice; the message names what to fix."""


@dataclass(frozen=True)
class Notice:
    event_id: str
    company_id: int
    resource_name: str
    resource_id: int
    event_type: str
    project_id: int | None
    timestamp: str

    @classmethod
    def from_body(cls, body: Any) -> Notice:
        if not isinstance(body, dict):
            raise BadNotice("The body must be a JSON object (a Procore change notice).")
        event_id = body.get("id")
        if isinstance(event_id, bool) or not isinstance(event_id, int | str) or event_id == "":
            raise BadNotice("The notice has no id.")
        fields = {}
        for name in ("company_id", "resource_id"):
            fields[name] = whole(body.get(name))
            if fields[name] is None:
                raise BadNotice(f"The notice's {name} must be a whole number.")
        event_type = body.get("event_type")
        if event_type not in EVENT_TYPES:
            raise BadNotice(f"The notice's event_type must be one of {', '.join(EVENT_TYPES)}.")
        if not isinstance(body.get("resource_name"), str):
            raise BadNotice("The notice has no resource_name.")
        return cls(
            event_id=str(event_id)[:64],
            resource_name=body["resource_name"][:64],
            event_type=event_type,
            project_id=whole(body.get("project_id")),
            timestamp=str(body.get("timestamp") or "")[:64],
            **fields,
        )


def accept(connection: Connection, notice: Notice) -> str:
    """Store a notice once and make sure an apply is coming; returns what was done."""
    if notice.company_id != connection.procore_company_id:
        return "ignored: another company"
    if notice.resource_name not in RESOURCES:
        return "ignored: a resource Linx does not import"
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                connection=connection,
                event_id=notice.event_id,
                resource_name=notice.resource_name,
                resource_id=notice.resource_id,
                event_type=notice.event_type,
                project_id=notice.project_id,
                happened_at=notice.timestamp,
            )
    except IntegrityError:
        return "duplicate: already stored"
    Connection.objects.filter(pk=connection.pk).update(webhook_last_event_at=Now())
    request_apply(connection.pk)
    return "stored"


def request_apply(connection_id: int) -> None:
    """Hand one apply to the queue unless one is already coming (a compare-and-set), or
    the connection has near-real-time import off.

    A queue that cannot be reached loses nothing: the events wait in the database and
    the every-minute tick (`apply_waiting`) takes them.
    """
    won = Connection.objects.filter(
        pk=connection_id, webhooks_enabled=True, webhook_apply_queued_at__isnull=True
    ).update(webhook_apply_queued_at=Now())
    if not won:
        return
    try:
        from django_q.tasks import async_task

        async_task(
            "linx.tasks.apply_webhook_events",
            connection_id,
            task_name=f"webhook import, connection {connection_id}",
            group="linx-webhooks",
        )
    except Exception:  # the queue's broker is down: the tick takes the events later
        log.warning("could not queue the webhook apply of connection %s", connection_id)


def coalesce_seconds() -> float:
    return settings.LINX_WEBHOOK_COALESCE_SECONDS


def waiting(connection_id: int | OuterRef):
    return WebhookEvent.objects.filter(
        connection_id=connection_id, run__isnull=True, applied_at__isnull=True
    )


def apply_events(connection_id: int, *, wait: bool = True) -> SyncRun | None:
    """Apply a connection's waiting notices as one import run; returns it (None: none).

    Waits out the coalescing delay from when the apply was asked for, so the notices of a
    burst arrive first; then frees the way for the next apply and takes what is waiting.
    """
    connection = Connection.objects.get(pk=connection_id)
    if wait and connection.webhook_apply_queued_at is not None:
        age = (timezone.now() - connection.webhook_apply_queued_at).total_seconds()
        time.sleep(max(0.0, min(coalesce_seconds() - age, coalesce_seconds())))
    Connection.objects.filter(pk=connection_id).update(webhook_apply_queued_at=None)
    ids = list(waiting(connection_id).values_list("pk", flat=True))
    if not ids:
        return None
    if SyncRun.objects.filter(
        connection_id=connection_id, kind=RunKind.IMPORT, status=RunStatus.RUNNING
    ).exists():
        return None  # an import holds the connection: the events wait for it (see after_run)
    return _run(connection, ids)


def _run(connection: Connection, ids: list[int]) -> SyncRun | None:
    from linx.sync.execute import RunRefused, execute, stopped_early
    from linx.sync.runs import create_run

    events = WebhookEvent.objects.filter(pk__in=ids)
    run = create_run(
        connection,
        RunKind.IMPORT,
        trigger=RunTrigger.WEBHOOK,
        parameters={"entities": entities_of(events)},
    )
    # Each event goes to one run only, even when two applies race.
    WebhookEvent.objects.filter(pk__in=ids, run__isnull=True).update(run=run)
    try:
        run = execute(run)
    except RunRefused:
        run.refresh_from_db()
    if run.status == RunStatus.SKIPPED or stopped_early(run):
        run.webhook_events.update(run=None)  # back to waiting, for the next apply
    else:
        run.webhook_events.update(applied_at=Now())
    return run


def after_run(run: SyncRun) -> None:
    """When an import ends, notices that waited for it are applied (only on a
    connection with near-real-time import on: `request_apply` checks)."""
    if run.kind == RunKind.IMPORT and waiting(run.connection_id).exists():
        request_apply(run.connection_id)


def apply_waiting() -> int:
    """Every minute: apply notices nobody is applying (a queue that was down, a
    worker killed, an import that held the connection); returns how many connections."""
    stale = Now() - timedelta(seconds=max(coalesce_seconds() * 2, 30))
    # A run that finished without settling its notices was cut short (its worker was
    # killed and the run reaped): they wait again.
    WebhookEvent.objects.filter(
        applied_at__isnull=True, run__isnull=False, run__finished_at__lt=stale
    ).update(run=None)
    # Only connections with near-real-time import on and notices waiting. (Joined
    # through the events instead, "no waiting event" read as "an event with no run": a
    # connection without any event matched, and an apply was queued for it every minute.)
    connections = Connection.objects.filter(
        Exists(waiting(OuterRef("pk"))), is_active=True, webhooks_enabled=True
    ).filter(Q(webhook_apply_queued_at__isnull=True) | Q(webhook_apply_queued_at__lt=stale))
    count = 0
    for connection in connections:
        Connection.objects.filter(pk=connection.pk).update(webhook_apply_queued_at=None)
        request_apply(connection.pk)
        count += 1
    return count
