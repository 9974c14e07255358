"""Actions that change state leave an audit row naming who acted, whoever called them.

Link, unlink, ignore, un-ignore and cancel write the row themselves (the admin, a
command or a task calling them leave the same trail); a connection whose service moved
records which secrets it cleared. The trail is read-only in the admin and holds no secret.
"""

from __future__ import annotations

import pytest

from integrations.exaktime.sandbox import data as et
from linx.clients import exaktime_client
from linx.models import (
    AuditAction,
    AuditEvent,
    EntityMapping,
    EntityType,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from linx.sync import mappings as operations
from linx.sync.runs import cancel, create_run

MAPPINGS = "/admin/linx/entitymapping/"
AUDIT = "/admin/linx/auditevent/"


def mapping(connection, procore_id, exaktime_id=None, **fields) -> EntityMapping:
    return EntityMapping.objects.create(
        connection=connection,
        entity_type=EntityType.EMPLOYEE,
        procore_id=procore_id,
        exaktime_id=exaktime_id,
        name=f"Record {procore_id}",
        **fields,
    )


def act(client, action, *records):
    return client.post(
        MAPPINGS, {"action": action, "_selected_action": [str(r.pk) for r in records]}
    )


def trail() -> list[tuple[str, str, str]]:
    return [(e.action, e.actor_name, e.target) for e in AuditEvent.objects.order_by("at", "pk")]


def test_unlink_ignore_and_unignore_in_the_admin_name_the_operator(
    staff_client, staff_user, connection
):
    linked = mapping(connection, 1, "101")
    other = mapping(connection, 2, "102")
    act(staff_client, "unlink_mappings", linked, other)
    act(staff_client, "ignore_mappings", linked)
    act(staff_client, "unignore_mappings", linked)
    who = str(staff_user)
    assert trail() == [
        (AuditAction.UNLINK, who, "Employee Record 1 (Procore 1)"),
        (AuditAction.UNLINK, who, "Employee Record 2 (Procore 2)"),
        (AuditAction.IGNORE, who, "Employee Record 1 (Procore 1)"),
        (AuditAction.UNIGNORE, who, "Employee Record 1 (Procore 1)"),
    ]
    unlinked = AuditEvent.objects.get(action=AuditAction.UNLINK, target__contains="Record 1 ")
    assert (unlinked.actor, unlinked.connection, unlinked.details) == (
        staff_user,
        connection,
        {"was": "101"},
    )


def test_an_action_that_changes_nothing_records_nothing(staff_client, connection):
    unlinked = mapping(connection, 3)
    act(staff_client, "unlink_mappings", unlinked)  # nothing to unlink
    act(staff_client, "unignore_mappings", unlinked)  # not ignored
    assert not AuditEvent.objects.exists()


def test_a_call_from_code_with_no_person_is_recorded_as_linx(connection):
    record = mapping(connection, 4, "104")
    operations.ignore(EntityMapping.objects.filter(pk=record.pk), acting_user=None)
    operations.ignore_procore_record(connection, EntityType.EMPLOYEE, 5, acting_user=None)
    event = AuditEvent.objects.get(target="Employee Record 4 (Procore 4)")
    assert (event.action, event.actor, event.actor_name) == (AuditAction.IGNORE, None, "Linx")
    assert AuditEvent.objects.filter(action=AuditAction.IGNORE).count() == 2


def test_ignoring_a_record_never_imported_in_the_admin_is_recorded(
    staff_client, staff_user, connection
):
    staff_client.post(
        f"{MAPPINGS}ignore-procore-record/",
        {"connection": connection.pk, "entity_type": EntityType.EMPLOYEE, "procore_id": 66,
         "name": "Never Imported"},
    )  # fmt: skip
    assert trail() == [
        (AuditAction.IGNORE, str(staff_user), "Employee Never Imported (Procore 66)")
    ]


def test_link_records_the_new_and_the_old_twin(staff_client, staff_user, sandbox_connection):
    record = mapping(sandbox_connection, 77, "555")
    staff_client.post(f"{MAPPINGS}{record.pk}/link/", {"exaktime_id": et.EMPLOYEE_EXAKTIME_ONLY})
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.target) == (
        AuditAction.LINK,
        staff_user,
        "Employee Record 77 (Procore 77)",
    )
    assert event.details == {"exaktime_id": str(et.EMPLOYEE_EXAKTIME_ONLY), "was": "555"}


def test_a_refused_link_records_nothing(sandbox_connection):
    record = mapping(sandbox_connection, 78)
    with exaktime_client(sandbox_connection) as client, pytest.raises(Exception, match="no"):
        operations.link(record, 999_999, exaktime=client, acting_user=None)
    assert not AuditEvent.objects.exists()


def test_cancel_records_who_stopped_which_run_and_only_when_it_stopped(
    staff_client, staff_user, connection
):
    queued = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND)
    done = create_run(connection, RunKind.EXPORT, trigger=RunTrigger.COMMAND)
    SyncRun.objects.filter(pk=done.pk).update(status=RunStatus.SUCCEEDED)
    staff_client.post(
        "/admin/linx/syncrun/",
        {"action": "cancel_runs", "_selected_action": [queued.pk, done.pk]},
    )
    assert trail() == [(AuditAction.CANCEL, str(staff_user), f"Import run #{queued.pk}")]
    assert AuditEvent.objects.get().details == {"run": queued.pk, "was": "queued"}

    running = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND)
    SyncRun.objects.filter(pk=running.pk).update(status=RunStatus.RUNNING)
    assert cancel(running, acting_user=None)
    latest = AuditEvent.objects.order_by("-pk").first()
    assert (latest.actor_name, latest.details) == ("Linx", {"run": running.pk, "was": "running"})


def test_a_moved_service_records_the_cleared_secrets_by_name_only(connection):
    connection.procore_access_token = "live-access-token-123"
    connection.save()
    connection.changed_by = "ops@example.com in the admin"
    connection.procore_api_url = "https://api.procore.com"
    connection.save()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor_name, event.connection) == (
        AuditAction.SECRETS_CLEARED,
        "ops@example.com in the admin",
        connection,
    )
    assert event.details["moved"] == {
        "procore_api_url": ["https://sandbox.procore.com", "https://api.procore.com"]
    }
    assert "procore_client_secret" in event.details["cleared"]
    shown = str(event.details)
    for secret in ("procore-secret-value-acme", "live-access-token-123"):
        assert secret not in shown


def test_a_save_that_moves_nothing_records_nothing(connection):
    connection.name = "renamed"
    connection.save()
    assert not AuditEvent.objects.exists()


def test_the_trail_is_listed_read_only_in_the_admin(staff_client, staff_user, connection):
    record = mapping(connection, 9, "109")
    act(staff_client, "unlink_mappings", record)
    page = staff_client.get(AUDIT).content.decode()
    assert "Employee Record 9 (Procore 9)" in page and str(staff_user) in page
    assert staff_client.get(f"{AUDIT}add/").status_code == 403
    event = AuditEvent.objects.get()
    staff_client.post(f"{AUDIT}{event.pk}/change/", {"target": "rewritten"})
    assert AuditEvent.objects.get().target == "Employee Record 9 (Procore 9)"
    assert staff_client.post(f"{AUDIT}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.exists()


def test_every_staff_group_reads_the_trail_and_none_changes_it(client, connection, settings):
    from django.contrib.auth.models import Group

    from linx.models import User

    settings.LINX_REQUIRE_MFA = False
    mapping(connection, 10, "110")
    operations.unlink(EntityMapping.objects.all(), acting_user=None)
    event = AuditEvent.objects.get()
    for name in ("Viewers", "Operators", "Administrators"):
        user = User.objects.create_user(f"{name.lower()}@example.com", "x" * 20, is_staff=True)
        user.groups.add(Group.objects.get(name=name))
        client.force_login(user)
        assert "Employee Record 10 (Procore 10)" in client.get(AUDIT).content.decode(), name
        client.post(f"{AUDIT}{event.pk}/change/", {"target": "rewritten"})
        assert AuditEvent.objects.get().target == "Employee Record 10 (Procore 10)", name
