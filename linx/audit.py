"""The audit trail: every action that changes state records who did it, to what.

As zulip's ``do_*`` actions do, the action itself writes the row (not the screen that
called it), so the admin, a command and a task leave the same trail. Details name ids
and values for people; they never hold a secret.
"""

from __future__ import annotations

from collections.abc import Iterable

from linx.models import AuditAction, AuditEvent, Connection, User

#: Who acted when no person did (a task, a schedule, a command run by the system).
LINX_ITSELF = "Linx"


def actor_name(acting_user: User | None) -> str:
    return str(acting_user) if acting_user is not None else LINX_ITSELF


def event(
    action: AuditAction,
    *,
    acting_user: User | None,
    connection: Connection | int | None,
    target: str,
    details: dict | None = None,
) -> AuditEvent:
    """An unsaved audit row (for `record_all`)."""
    connection_id = connection.pk if isinstance(connection, Connection) else connection
    return AuditEvent(
        actor=acting_user,
        actor_name=actor_name(acting_user)[:255],
        connection_id=connection_id,
        action=action,
        target=target[:300],
        details=details or {},
    )


def record(action: AuditAction, **fields) -> AuditEvent:
    """Record one action (see `event` for the fields)."""
    row = event(action, **fields)
    row.save()
    return row


def record_all(events: Iterable[AuditEvent]) -> None:
    AuditEvent.objects.bulk_create(list(events))
