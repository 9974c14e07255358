"""Mappings that can fix what exports complain about: the snapshot of ExakTime's records,
records only on one side, orphans, the link picker, auto-link, and failures that lead
to their record's place in Mappings."""

# ruff: noqa: F811 (the fixtures imported from other test files are parameters here)

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

import pytest
from django import db
from django.test.utils import CaptureQueriesContext

from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from linx.clients import exaktime_client
from linx.models import (
    AuditAction,
    AuditEvent,
    EntityMapping,
    EntityType,
    ExakTimeRecord,
    Outcome,
    RunKind,
    RunTrigger,
)
from linx.sync import snapshot
from linx.sync.execute import execute, rerun_failed, why_not_rerun
from linx.sync.mappings import MappingStatus, link, with_status
from linx.sync.runs import create_run
from linx.sync.snapshot_links import proposals
from tests.test_console_mappings import member  # noqa: F401 (a fixture)
from tests.test_export import exaktime_id, export, linked, punch  # noqa: F401 (fixtures)

pytestmark = pytest.mark.sandbox

LIST = "/admin/linx/entitymapping/"
EMPLOYEE = EntityType.EMPLOYEE


def import_employees(connection):
    return execute(
        create_run(
            connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
            parameters={"entities": ["employees"]},
        )
    )  # fmt: skip


def status_of(mapping: EntityMapping) -> str:
    return with_status(EntityMapping.objects.filter(pk=mapping.pk)).get().status


def employee_records(connection) -> dict[str, ExakTimeRecord]:
    return {
        r.exaktime_id: r
        for r in ExakTimeRecord.objects.filter(connection=connection, kind="employee")
    }


# --- the snapshot -----------------------------------------------------------------------


def test_an_import_records_the_exaktime_employees_it_listed_without_asking_again(
    sandbox_connection, exaktime_sandbox
):
    exaktime_sandbox.clear_requests()
    import_employees(sandbox_connection)
    seen = employee_records(sandbox_connection)
    taylor = seen[str(et.EMPLOYEE_EXAKTIME_ONLY)]
    assert (taylor.identifier, taylor.name, taylor.active) == ("9001", "Taylor Brooks", True)
    employee_reads = [
        r for r in exaktime_sandbox.requests()
        if r["method"] == "GET" and "Employees" in r["path"]
    ]  # fmt: skip
    # One paged list, no read per record.
    assert employee_reads and all(not r["path"].rstrip("/").split("/")[-1].isdigit()
                                  for r in employee_reads)  # fmt: skip


def test_refresh_from_exaktime_reads_the_lists_and_replaces_the_snapshot(
    staff_client, sandbox_connection, exaktime_sandbox
):
    ExakTimeRecord.objects.create(
        connection=sandbox_connection, kind="employee", exaktime_id="555", name="Gone Person",
        read_at="2026-11-01T00:00:00Z",
    )  # fmt: skip
    exaktime_sandbox.clear_requests()
    response = staff_client.post(
        f"{LIST}refresh/",
        {"connection": sandbox_connection.pk, "next": f"{LIST}?connection__id__exact=1"},
        follow=True,
    )
    html = response.content.decode()
    assert "employee(s)" in html and "from ExakTime" in html
    seen = employee_records(sandbox_connection)
    assert str(et.EMPLOYEE_EXAKTIME_ONLY) in seen and "555" not in seen
    assert ExakTimeRecord.objects.filter(connection=sandbox_connection, kind="location").exists()
    assert all(r["method"] == "GET" for r in exaktime_sandbox.requests())
    assert not any(
        r["path"].rstrip("/").split("/")[-1].isdigit() for r in exaktime_sandbox.requests()
    )


def test_refresh_is_refused_to_a_viewer_and_to_a_get(member, staff_client, sandbox_connection):
    assert staff_client.get(f"{LIST}refresh/").status_code == 405
    viewer, _ = member("Viewers")
    assert viewer.post(f"{LIST}refresh/", {"connection": sandbox_connection.pk}).status_code == 403
    assert not ExakTimeRecord.objects.exists()


# --- the four lists ---------------------------------------------------------------------


def test_a_procore_record_that_failed_to_import_is_listed_only_in_procore(sandbox_connection):
    run = import_employees(sandbox_connection)
    assert run.rows.filter(procore_id=pc.WORKER_NO_EMPLOYEE_ID, outcome=Outcome.FAILED).exists()
    jordan = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=pc.WORKER_NO_EMPLOYEE_ID)
    assert jordan.exaktime_id is None and jordan.name == "Jordan Blake"
    assert status_of(jordan) == MappingStatus.NOT_IN_EXAKTIME


def test_a_link_to_a_record_gone_from_the_snapshot_is_orphaned(sandbox_connection):
    linked_one = EntityMapping.objects.create(
        connection=sandbox_connection, entity_type=EMPLOYEE, procore_id=1, exaktime_id="777"
    )
    assert status_of(linked_one) == MappingStatus.SYNCED  # no snapshot yet: nothing is gone
    snapshot.record(sandbox_connection, "employee", [])
    assert status_of(linked_one) == MappingStatus.SYNCED  # an empty snapshot is not read yet
    ExakTimeRecord.objects.create(
        connection=sandbox_connection, kind="employee", exaktime_id="778", read_at="2026-11-01T00:00:00Z"
    )  # fmt: skip
    assert status_of(linked_one) == MappingStatus.GONE_FROM_EXAKTIME
    ExakTimeRecord.objects.create(
        connection=sandbox_connection, kind="employee", exaktime_id="777", read_at="2026-11-01T00:00:00Z"
    )  # fmt: skip
    assert status_of(linked_one) == MappingStatus.SYNCED


def test_twins_the_first_import_creates_are_synced_not_orphaned(sandbox_connection):
    # The import listed ExakTime's employees (the snapshot) before it created their twins.
    import_employees(sandbox_connection)
    created = EntityMapping.objects.filter(entity_type=EMPLOYEE, exaktime_id__isnull=False)
    assert created.exists()
    statuses = {status_of(mapping) for mapping in created}
    assert statuses == {MappingStatus.SYNCED}
    # A later reading that lacks one of them does make it orphaned.
    gone = created.first()
    listed = {m.exaktime_id for m in created} | set(
        ExakTimeRecord.objects.filter(kind="employee").values_list("exaktime_id", flat=True)
    )
    snapshot.record(sandbox_connection, "employee", [
        SimpleNamespace(id=int(exaktime_id)) for exaktime_id in listed - {gone.exaktime_id}
    ])  # fmt: skip
    assert status_of(gone) == MappingStatus.GONE_FROM_EXAKTIME


def test_the_employees_an_import_creates_are_in_the_snapshot_and_listed_as_linked(
    staff_client, sandbox_connection, exaktime_sandbox
):
    exaktime_sandbox.clear_requests()
    run = import_employees(sandbox_connection)
    created = run.rows.filter(entity_type=EMPLOYEE, outcome=Outcome.CREATED)
    assert created.count() > 1
    seen = employee_records(sandbox_connection)
    for row in created:
        assert (seen[row.exaktime_id].name, seen[row.exaktime_id].active) == (row.name, True)
    new = created.first()
    # ExakTime's records: listed as linked, not as only in ExakTime.
    listed = "/admin/linx/exaktimerecord/"
    query = {"connection__id__exact": sandbox_connection.pk}
    assert new.name in staff_client.get(listed, {**query, "linked": "yes"}).content.decode()
    assert new.name not in staff_client.get(listed, {**query, "linked": "no"}).content.decode()
    # Mappings lists it as synced; the picker never offers it to another Procore record.
    mapping = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=new.procore_id)
    assert status_of(mapping) == MappingStatus.SYNCED
    jordan = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=pc.WORKER_NO_EMPLOYEE_ID)
    found = staff_client.get(f"{LIST}{jordan.pk}/candidates/", {"q": new.name}).json()
    assert found["results"] == []
    # Kept from what Linx wrote: no ExakTime employee read one by one.
    assert not [
        r for r in exaktime_sandbox.requests()
        if r["method"] == "GET" and r["path"].rstrip("/").split("/")[-1].isdigit()
    ]  # fmt: skip


def test_only_in_exaktime_lists_the_records_no_procore_record_is_linked_to(
    staff_client, sandbox_connection
):
    import_employees(sandbox_connection)
    html = staff_client.get(
        "/admin/linx/exaktimerecord/",
        {"linked": "no", "connection__id__exact": sandbox_connection.pk},
    ).content.decode()
    assert "Taylor Brooks" in html and "Alex Rivera" not in html
    assert "Link to a Procore record" in html
    linked_html = staff_client.get(
        "/admin/linx/exaktimerecord/", {"linked": "yes"}
    ).content.decode()
    assert "Alex Rivera" in linked_html and "Taylor Brooks" not in linked_html


def test_an_unlinked_employees_export_rows_are_named_as_exaktime_knows_them(punch, linked):
    first = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY, ot1_hours=0, ot2_hours=0)
    second = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY, work_date="2026-11-19")
    with CaptureQueriesContext(db.connection) as queries:
        run = export(linked)
    for record, day in ((first, "2026-11-18"), (second, "2026-11-19")):
        row = run.rows.get(exaktime_id=str(record["id"]))
        assert row.outcome == Outcome.FAILED
        assert row.name.startswith(f"Taylor Brooks (ExakTime {et.EMPLOYEE_EXAKTIME_ONLY}), {day}")
    # The snapshot's names are read once for the run, not once per record.
    reads = [q for q in queries if "linx_exaktimerecord" in q["sql"]]
    assert len(reads) == 1


def test_unlinked_employees_failures_are_named_from_the_snapshot_without_asking_exaktime(
    punch, linked, exaktime_sandbox
):
    sam = exaktime_sandbox.add("employee", {
        "id": 100_777, "identifier": "9002", "first_name": "Sam", "last_name": "Ortiz",
        "is_active": True,
    })  # fmt: skip
    snapshot.record(linked, "employee", [*exaktime_client(linked).list_employees()])
    taylor_record = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY)
    sam_record = punch(employee_id=sam["id"])
    exaktime_sandbox.clear_requests()
    with CaptureQueriesContext(db.connection) as queries:
        run = export(linked)
    for record, named in (
        (taylor_record, f"ExakTime employee 9001 Taylor Brooks (id {et.EMPLOYEE_EXAKTIME_ONLY})"),
        (sam_record, f"ExakTime employee 9002 Sam Ortiz (id {sam['id']})"),
    ):
        row = run.rows.get(exaktime_id=str(record["id"]))
        assert row.outcome == Outcome.FAILED
        assert f"{named} is not linked to a Procore worker" in row.message
    # Not one read of an employee from ExakTime: the snapshot named both, in one query.
    assert not [r for r in exaktime_sandbox.requests() if "Employees/" in r["path"]]
    assert len([q for q in queries if "linx_exaktimerecord" in q["sql"]]) == 1


def test_an_unlinked_employee_the_snapshot_lacks_is_read_from_exaktime_once(
    punch, linked, exaktime_sandbox
):
    ExakTimeRecord.objects.filter(exaktime_id=str(et.EMPLOYEE_EXAKTIME_ONLY)).delete()
    first = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY)
    punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY, work_date="2026-11-19")
    exaktime_sandbox.clear_requests()
    run = export(linked)
    message = run.rows.get(exaktime_id=str(first["id"])).message
    assert f"ExakTime employee 9001 Taylor Brooks (id {et.EMPLOYEE_EXAKTIME_ONLY})" in message
    reads = [r for r in exaktime_sandbox.requests() if "Employees/" in r["path"]]
    assert len(reads) == 1


# --- the picker -------------------------------------------------------------------------


def test_the_picker_finds_unlinked_exaktime_records_by_name_with_their_ids(
    staff_client, sandbox_connection
):
    import_employees(sandbox_connection)
    jordan = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=pc.WORKER_NO_EMPLOYEE_ID)
    found = staff_client.get(f"{LIST}{jordan.pk}/candidates/", {"q": "tayl"}).json()["results"]
    assert found == [
        {"id": str(et.EMPLOYEE_EXAKTIME_ONLY), "identifier": "9001", "name": "Taylor Brooks",
         "active": True}
    ]  # fmt: skip
    # Alex Rivera is linked already: never offered.
    assert staff_client.get(f"{LIST}{jordan.pk}/candidates/", {"q": "Alex"}).json()["results"] == []
    page = staff_client.get(f"{LIST}{jordan.pk}/link/").content.decode()
    assert 'id="linx-picker-search"' in page and 'type="hidden" name="exaktime_id"' in page


def test_the_picker_is_refused_to_a_viewer(member, sandbox_connection):
    record = EntityMapping.objects.create(
        connection=sandbox_connection, entity_type=EMPLOYEE, procore_id=1
    )
    client, _ = member("Viewers")
    assert client.get(f"{LIST}{record.pk}/candidates/", {"q": "a"}).status_code == 403


def test_linking_with_nothing_picked_says_to_pick(staff_client, sandbox_connection):
    record = EntityMapping.objects.create(
        connection=sandbox_connection, entity_type=EMPLOYEE, procore_id=1
    )
    html = staff_client.post(f"{LIST}{record.pk}/link/", {}).content.decode()
    assert "Search for the ExakTime record and pick it first." in html


# --- auto-link --------------------------------------------------------------------------


def waiting(connection, procore_id, name, code=None) -> EntityMapping:
    return EntityMapping.objects.create(
        connection=connection, entity_type=EMPLOYEE, procore_id=procore_id, name=name,
        data={"code": code} if code else {},
    )  # fmt: skip


def seen(connection, exaktime_id, identifier, name) -> None:
    ExakTimeRecord.objects.create(
        connection=connection, kind="employee", exaktime_id=str(exaktime_id),
        identifier=identifier, name=name, read_at="2026-11-01T00:00:00Z",
    )  # fmt: skip


def test_auto_link_proposes_same_id_else_same_name_never_an_ambiguous_one(connection):
    by_id = waiting(connection, 1, "Pat Doe", code="7001")
    by_name = waiting(connection, 2, "Kim  Lee")
    waiting(connection, 3, "Sam Ortiz")
    waiting(connection, 4, "Sam Ortiz")  # two Procore records of one name
    waiting(connection, 5, "Lone Wolf")
    seen(connection, 11, "7001", "Patricia Doe")
    seen(connection, 12, "X1", "kim lee")
    seen(connection, 13, "X2", "Sam Ortiz")
    seen(connection, 14, "X3", "Lone Wolf")
    seen(connection, 15, "X4", "Lone Wolf")  # two ExakTime records of one name
    found = {
        (p.mapping.pk, p.record.exaktime_id, p.reason) for p in proposals(connection.pk, EMPLOYEE)
    }
    assert found == {(by_id.pk, "11", "same ID"), (by_name.pk, "12", "same name")}


def test_auto_link_proposals_are_confirmed_in_bulk_through_the_link_action(
    staff_client, staff_user, sandbox_connection
):
    import_employees(sandbox_connection)
    # Procore's Taylor Brooks has no Employee ID, so the import could not match it.
    jordan = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=pc.WORKER_NO_EMPLOYEE_ID)
    EntityMapping.objects.filter(pk=jordan.pk).update(name="Taylor Brooks")
    url = f"{LIST}auto-link/?connection={sandbox_connection.pk}&entity_type=employee"
    html = staff_client.get(url).content.decode()
    assert (
        "Taylor Brooks" in html and "same name" in html and "9001 Taylor Brooks (id 100002)" in html
    )
    response = staff_client.post(url, {"link": [str(jordan.pk)]}, follow=True)
    assert "Linked 1 record(s)." in response.content.decode()
    jordan.refresh_from_db()
    assert jordan.exaktime_id == str(et.EMPLOYEE_EXAKTIME_ONLY)
    event = AuditEvent.objects.get(action=AuditAction.LINK)
    assert event.actor == staff_user and event.details["exaktime_id"] == "100002"


# --- failures lead to their place --------------------------------------------------------


def test_an_unlinked_employee_failure_links_to_its_place_in_mappings(
    staff_client,
    punch,
    linked,
):
    record = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY)
    run = export(linked)
    row = run.rows.get(exaktime_id=str(record["id"]))
    assert row.needs == {"entity_type": "employee", "exaktime_id": str(et.EMPLOYEE_EXAKTIME_ONLY)}
    assert "<a" not in row.message  # the message itself stays plain text

    html = staff_client.get(f"/admin/linx/syncrun/{run.pk}/change/").content.decode()
    href = html.split('class="linx-fix-link"')[0].rsplit('href="', 1)[1].split('"')[0]
    query = parse_qs(urlparse(href.replace("&amp;", "&")).query)
    assert query == {
        "connection__id__exact": [str(linked.pk)],
        "entity_type__exact": ["employee"],
        "status": ["not_in_exaktime"],
        "exaktime": [str(et.EMPLOYEE_EXAKTIME_ONLY)],
    }
    place = staff_client.get(href.replace("&amp;", "&")).content.decode()
    assert "ExakTime employee 9001 Taylor Brooks (id 100002)" in place
    assert "is linked to no Procore record" in place
    # Each Link… on the list carries the record to the picker.
    assert f"/link/?exaktime={et.EMPLOYEE_EXAKTIME_ONLY}" in place
    csv = b"".join(
        staff_client.get(f"/admin/linx/syncrun/{run.pk}/failed-rows.csv").streaming_content
    ).decode()
    assert "is not linked to a Procore worker" in csv and "href" not in csv


def test_a_cost_code_not_set_up_on_a_project_links_to_the_projects_codes(
    staff_client,
    punch,
    linked,
):
    bad = punch(cost_code_id=exaktime_id(EntityType.COST_CODE, pc.STANDARD_ELECTRICAL_LABOR))
    run = export(linked)
    row = run.rows.get(exaktime_id=str(bad["id"]))
    assert row.needs == {"entity_type": "cost_code", "project": pc.PROJECT_PJA}
    html = staff_client.get(f"/admin/linx/rowresult/{row.pk}/change/").content.decode()
    codes = f"/admin/linx/projectreference/codes/{linked.pk}/{pc.PROJECT_PJA}/"
    assert f'href="{codes}" class="linx-fix-link">Cost code 26-26010 is not set up' in html

    # The codes Procore has on PJA as the export read them: Concrete Labor, not Electrical
    # Labor (never set up) nor Drywall (deleted).
    page = staff_client.get(codes).content.decode()
    assert "Cost codes set up on project PJA" in page
    table = page.split('id="linx-project-codes"', 1)[1].split("</table>")[0]
    assert "03-3010</td>" in table and "Concrete Labor" in table
    assert "26-26010</td>" not in table and "Drywall" not in table


def test_once_the_missing_link_is_made_the_failed_rows_may_be_re_run(
    staff_user, punch, linked, exaktime_sandbox
):
    record = punch(employee_id=et.EMPLOYEE_EXAKTIME_ONLY)
    run = export(linked)
    assert "needs a change in Procore or ExakTime first" in why_not_rerun(run)
    jordan = EntityMapping.objects.get(entity_type=EMPLOYEE, procore_id=pc.WORKER_NO_EMPLOYEE_ID)
    with exaktime_client(linked) as client:
        link(jordan, et.EMPLOYEE_EXAKTIME_ONLY, exaktime=client, acting_user=staff_user)
    assert why_not_rerun(run) == ""
    again = execute(rerun_failed(run, trigger=RunTrigger.COMMAND))
    assert again.rows.get(exaktime_id=str(record["id"])).outcome == Outcome.CREATED
