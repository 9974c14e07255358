"""Mappings: each record's status, and link / unlink / ignore / un-ignore from the admin."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.models import EntityMapping, EntityType, RunKind, RunTrigger, User
from linx.sync.execute import execute
from linx.sync.mappings import MappingStatus, with_status
from linx.sync.runs import create_run

LIST = "/admin/linx/entitymapping/"
EMPLOYEE = EntityType.EMPLOYEE


def mapping(connection, procore_id, exaktime_id=None, **fields) -> EntityMapping:
    fields.setdefault("entity_type", EMPLOYEE)
    fields.setdefault("name", f"Record {procore_id}")
    return EntityMapping.objects.create(
        connection=connection, procore_id=procore_id, exaktime_id=exaktime_id, **fields
    )


def status_of(record: EntityMapping) -> str:
    return with_status(EntityMapping.objects.filter(pk=record.pk)).get().status


def act(client, action, *records, **extra):
    return client.post(
        LIST,
        {"action": action, "_selected_action": [str(r.pk) for r in records], **extra},
        follow=True,
    )


@pytest.fixture
def member(client, db, settings):
    """Log in as a member of one of the staff groups."""
    settings.LINX_REQUIRE_MFA = False

    def login(group: str):
        user = User.objects.create_user(f"{group.lower()}@example.com", "x" * 20, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        return client, user

    return login


# Statuses --------------------------------------------------------------------------------


def test_every_status_is_told_apart(connection):
    active = {"fields": {"is_active": True}}
    records = {
        MappingStatus.SYNCED: mapping(connection, 1, "101", data=active),
        MappingStatus.NOT_IN_EXAKTIME: mapping(connection, 2),
        MappingStatus.GONE_FROM_PROCORE: mapping(
            connection, 3, "103", data={"fields": {"is_active": False}}
        ),
        MappingStatus.GONE_FROM_EXAKTIME: mapping(
            connection, 4, "104", data={**active, "exaktime_missing_at": "2026-11-20T10:00:00"}
        ),
        MappingStatus.IGNORED: mapping(connection, 5, "105", ignored=True),
        MappingStatus.NOT_IN_PROCORE: mapping(connection, None, "106"),
        MappingStatus.REFERENCE: mapping(connection, 7, entity_type=EntityType.TIME_TYPE),
    }
    assert {status: status_of(record) for status, record in records.items()} == {
        status: status.value for status in records
    }


def test_the_list_shows_status_and_ids_and_filters_by_status(staff_client, connection):
    mapping(connection, 11, "211", name="Ada Synced", data={"fields": {"is_active": True}})
    mapping(connection, 12, name="Ben Unlinked")
    mapping(connection, 13, "213", name="Cy Gone", data={"fields": {"is_active": False}})

    html = staff_client.get(LIST).content.decode()
    for text in ("Ada Synced", "Ben Unlinked", "Cy Gone", ">211<", ">13<"):
        assert text in html
    assert "Orphaned: inactive or gone in Procore" in html

    html = staff_client.get(LIST, {"status": MappingStatus.NOT_IN_EXAKTIME}).content.decode()
    assert "Ben Unlinked" in html
    assert "Ada Synced" not in html and "Cy Gone" not in html


def test_an_import_gives_synced_and_orphaned_statuses(sandbox_connection, procore_sandbox):
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    linked = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=pc.WORKER_LINKED)
    assert status_of(linked) == MappingStatus.SYNCED

    procore_sandbox.update("user", pc.WORKER_LINKED, is_active=False)
    execute(
        create_run(
            sandbox_connection,
            RunKind.IMPORT,
            trigger=RunTrigger.COMMAND,
            parameters={"entities": ["employees"], "full": True},
        )
    )
    assert status_of(linked) == MappingStatus.GONE_FROM_PROCORE


# Link ------------------------------------------------------------------------------------


def link(client, record, exaktime_id):
    return client.post(f"{LIST}{record.pk}/link/", {"exaktime_id": exaktime_id}, follow=True)


def test_link_to_an_exaktime_record_chosen_by_id(staff_client, sandbox_connection):
    record = mapping(sandbox_connection, 77, fingerprint="old", data={"fields": {"x": 1}})
    response = link(staff_client, record, et.EMPLOYEE_EXAKTIME_ONLY)
    assert "is linked to ExakTime 100002 (Taylor" in response.content.decode()
    record.refresh_from_db()
    assert record.exaktime_id == str(et.EMPLOYEE_EXAKTIME_ONLY)
    # What Linx wrote to another record is forgotten: the next import compares afresh.
    assert (record.fingerprint, record.data) == ("", {})
    assert status_of(record) == MappingStatus.SYNCED


def test_link_refuses_an_id_exaktime_does_not_have(staff_client, sandbox_connection):
    record = mapping(sandbox_connection, 78)
    response = link(staff_client, record, 999_999)
    assert "ExakTime has no employee with id 999999" in response.content.decode()
    record.refresh_from_db()
    assert record.exaktime_id is None


def test_link_refuses_a_record_linked_elsewhere(staff_client, sandbox_connection):
    mapping(sandbox_connection, 79, str(et.EMPLOYEE_EXAKTIME_ONLY), name="Other Person")
    record = mapping(sandbox_connection, 80)
    html = link(staff_client, record, et.EMPLOYEE_EXAKTIME_ONLY).content.decode()
    assert "already linked to Procore record" in html and "Unlink that one first" in html
    record.refresh_from_db()
    assert record.exaktime_id is None


# Unlink, ignore, un-ignore -----------------------------------------------------------------


def test_unlink_keeps_the_procore_record_listed(staff_client, connection):
    record = mapping(connection, 21, "321", fingerprint="f", data={"fields": {}, "project": 9})
    response = act(staff_client, "unlink_mappings", record)
    assert "Unlinked 1 record(s)" in response.content.decode()
    record.refresh_from_db()
    assert record.exaktime_id is None and record.fingerprint == ""
    assert record.data == {"project": 9}
    assert status_of(record) == MappingStatus.NOT_IN_EXAKTIME


def test_ignore_and_unignore_in_bulk_record_who(staff_client, staff_user, connection):
    records = [mapping(connection, 30 + n, str(400 + n)) for n in range(3)]
    act(staff_client, "ignore_mappings", *records)
    for record in records:
        record.refresh_from_db()
        assert record.ignored and record.ignored_by == staff_user
        assert record.ignored_at is not None
        assert status_of(record) == MappingStatus.IGNORED
    assert "ops@example.com" in staff_client.get(LIST).content.decode()

    act(staff_client, "unignore_mappings", *records[:2])
    records[0].refresh_from_db()
    records[2].refresh_from_db()
    assert not records[0].ignored and records[0].ignored_by is None
    assert records[2].ignored


def test_a_procore_record_never_imported_can_be_ignored_and_imports_skip_it(
    staff_client, sandbox_connection
):
    response = staff_client.post(
        f"{LIST}ignore-procore-record/",
        {
            "connection": sandbox_connection.pk,
            "entity_type": EMPLOYEE,
            "procore_id": pc.WORKER_LONG_NAME,
            "name": "Long Name Person",
        },
        follow=True,
    )
    assert "every import skips it (Linx had not imported it)" in response.content.decode()
    record = EntityMapping.objects.get(procore_id=pc.WORKER_LONG_NAME)
    assert (record.exaktime_id, record.ignored) == (None, True)
    assert record.ignored_by.email == "ops@example.com"

    run = execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    row = run.rows.get(procore_id=pc.WORKER_LONG_NAME)
    assert row.outcome == "skipped"
    assert row.message.startswith("skipped: ignored by ops@example.com")


def test_the_ignore_form_can_be_prefilled_from_a_failed_row(staff_client, connection):
    html = staff_client.get(
        f"{LIST}ignore-procore-record/",
        {"connection": connection.pk, "entity_type": "cost_code", "procore_id": "55"},
    ).content.decode()
    assert 'value="55"' in html
    assert '<option value="cost_code" selected>' in html


def test_check_marks_twins_gone_from_exaktime(staff_client, sandbox_connection):
    there = mapping(sandbox_connection, 90, str(et.EMPLOYEE_LINKED))
    gone = mapping(sandbox_connection, 91, "199999")
    response = act(staff_client, "check_in_exaktime", there, gone)
    assert "1 found, 1 gone from ExakTime" in response.content.decode()
    assert status_of(there) == MappingStatus.SYNCED
    assert status_of(gone) == MappingStatus.GONE_FROM_EXAKTIME
    # Unlinking is the way out: the next import links or creates it again.
    act(staff_client, "unlink_mappings", gone)
    assert status_of(gone) == MappingStatus.NOT_IN_EXAKTIME


# Who may ---------------------------------------------------------------------------------


def test_a_viewer_sees_mappings_but_changes_nothing(member, sandbox_connection):
    client, _ = member("Viewers")
    record = mapping(sandbox_connection, 41, "441")
    unlinked = mapping(sandbox_connection, 42)
    html = client.get(LIST).content.decode()
    assert "Record 41" in html
    assert "Ignore a Procore record" not in html and "Link…" not in html

    for action in ("unlink_mappings", "ignore_mappings"):
        act(client, action, record)
    record.refresh_from_db()
    assert record.exaktime_id == "441" and not record.ignored
    assert link(client, unlinked, et.EMPLOYEE_EXAKTIME_ONLY).status_code == 403
    response = client.post(
        f"{LIST}ignore-procore-record/",
        {"connection": sandbox_connection.pk, "entity_type": EMPLOYEE, "procore_id": 5},
    )
    assert response.status_code == 403
    assert not EntityMapping.objects.filter(procore_id=5).exists()


def test_an_operator_may_ignore(member, connection):
    client, operator = member("Operators")
    record = mapping(connection, 43, "443")
    act(client, "ignore_mappings", record)
    record.refresh_from_db()
    assert record.ignored and record.ignored_by == operator


# Scale -----------------------------------------------------------------------------------


def test_ten_thousand_mappings_list_fast_in_the_same_queries(staff_client, connection):
    def measure(params=None):
        with CaptureQueriesContext(db) as captured:
            started = time.perf_counter()
            response = staff_client.get(LIST, params or {})
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return len(captured), elapsed

    mapping(connection, 1, "1", data={"fields": {"is_active": True}})
    few, _ = measure()
    few_filtered, _ = measure({"status": "synced", "entity_type__exact": EMPLOYEE})
    EntityMapping.objects.bulk_create(
        EntityMapping(
            connection=connection,
            entity_type=EMPLOYEE if n % 2 else EntityType.COST_CODE,
            procore_id=n,
            exaktime_id=str(n) if n % 3 else None,
            name=f"Record {n}",
            ignored=n % 7 == 0,
            data={"fields": {"is_active": n % 5 != 0}},
        )
        for n in range(2, 10_002)
    )
    many, elapsed = measure()
    assert many == few
    many_filtered, elapsed_filtered = measure({"status": "synced", "entity_type__exact": EMPLOYEE})
    assert many_filtered == few_filtered
    assert max(elapsed, elapsed_filtered) < 1.0


def test_the_admin_passes_djangos_system_checks():
    from django.core import checks

    assert checks.run_checks(tags=[checks.Tags.admin]) == []
