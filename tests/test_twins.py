"""Writing one record's twin in ExakTime, on its own: create, unchanged, update, link,
deactivate, and the row each one records. The import and the pre-import both write
through `TwinWriter`; these tests drive it with a stand-in ExakTime client that
records each call it gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from integrations.exaktime.errors import (
    STATUS_HINTS,
    ExakTimeAuthError,
    ExakTimeConflict,
    ExakTimeUnavailable,
    exaktime_says,
)
from integrations.procore.errors import ProcoreError, hint_for, procore_says
from linx.models import (
    EntityMapping,
    EntityType,
    ExakTimeRecord,
    FailureKind,
    Outcome,
    RunKind,
    RunTrigger,
)
from linx.sync.crew_groups import CrewGroup
from linx.sync.imports import ENTITY_OF
from linx.sync.procore_lists import ListReader
from linx.sync.rerun import Only
from linx.sync.runs import RunAborted, RunRecorder, claim, create_run
from linx.sync.twins import Twin, TwinWriter

LABELS = {"identifier": "Employee ID", "first_name": "first name", "last_name": "last name"}


@dataclass
class Record:
    id: int
    fields: dict

    def __getattr__(self, name):
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None

    def to_api(self) -> dict:
        return dict(self.fields)


@dataclass
class FakeExakTime:
    """The employee calls of the ExakTime client, remembered."""

    records: dict[int, Record] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    failure: Exception | None = None

    def _call(self, what: str) -> None:
        self.calls.append(what)
        if self.failure is not None:
            raise self.failure

    def list_employees(self):
        self._call("list")
        return list(self.records.values())

    def get_employee(self, record_id):
        self._call(f"get {record_id}")
        return self.records[record_id]

    def create_employee(self, fields):
        self._call("create")
        record = Record(100 + len(self.records), dict(fields))
        self.records[record.id] = record
        return record

    def update_employee(self, record_id, whole):
        self._call(f"update {record_id}")
        self.records[record_id] = Record(record_id, dict(whole))
        return self.records[record_id]


def employee(procore_id=7, first="Ana", **more) -> Twin:
    fields = {"identifier": f"E{procore_id}", "first_name": first, "last_name": "Ruiz", **more}
    return Twin(EntityType.EMPLOYEE, procore_id, f"{first} Ruiz", fields, LABELS)


@pytest.fixture
def writing(connection):
    """(writer, client, rows()) for one claimed import run."""
    run = claim(create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND))
    client = FakeExakTime()
    recorder = RunRecorder(run)

    def rows(*fields):
        recorder.flush()
        return list(run.rows.order_by("id").values_list(*(fields or ("outcome", "message"))))

    def writer(**options) -> TwinWriter:
        return TwinWriter(connection, recorder, client, **options)

    return writer, client, rows


def test_a_twin_is_created_once_then_costs_no_request_while_unchanged(writing, connection):
    writer, client, rows = writing
    twins = writer()
    created = twins.write(employee())
    assert created == 100 and client.calls == ["list", "create"]
    mapping = EntityMapping.objects.get(connection=connection, procore_id=7)
    assert mapping.exaktime_id == "100" and mapping.name == "Ana Ruiz"

    client.calls.clear()
    assert twins.write(employee()) == 100
    assert client.calls == []  # same fingerprint: nothing asked of ExakTime
    assert [o for o, _ in rows()] == [Outcome.CREATED, Outcome.UNCHANGED]


def test_a_changed_twin_is_read_and_written_back_whole(writing):
    writer, client, rows = writing
    twins = writer()
    twins.write(employee())
    client.records[100].fields["pin"] = "1234"  # ExakTime's own field, kept
    client.calls.clear()
    twins.write(employee(first="Anna"))
    assert client.calls == ["get 100", "update 100"]
    assert client.records[100].fields == {**employee(first="Anna").fields, "pin": "1234"}
    assert rows()[-1][0] == Outcome.UPDATED


def test_a_record_exaktime_already_has_is_linked_not_created(writing):
    writer, client, rows = writing
    client.records[55] = Record(55, dict(employee().fields))
    assert writer().write(employee()) == 55
    assert "create" not in client.calls
    assert rows() == [(Outcome.LINKED, "Linked to the ExakTime record that already had this ID.")]


def test_a_twin_over_exaktimes_limits_fails_alone_naming_the_field(writing):
    writer, client, rows = writing
    assert writer().write(employee(first="A" * 300)) is None
    ((outcome, message),) = rows()
    assert outcome == Outcome.FAILED and "first name" in message
    assert "Correct it in Procore, then import again." in message
    assert client.calls == []


def test_deactivating_a_twin_writes_it_inactive_once(writing, connection):
    writer, client, rows = writing
    twins = writer()
    twins.write(employee(is_active=True))
    mapping = EntityMapping.objects.get(connection=connection, procore_id=7)
    twins.deactivate(EntityType.EMPLOYEE, mapping)
    assert client.records[100].fields["is_active"] is False
    mapping.refresh_from_db()
    client.calls.clear()
    twins.deactivate(EntityType.EMPLOYEE, mapping)
    assert client.calls == []  # already inactive: nothing asked, nothing reported
    assert [o for o, _ in rows()] == [Outcome.CREATED, Outcome.DEACTIVATED]


def test_the_twins_written_are_kept_in_the_snapshot_without_asking_exaktime_again(
    writing, connection
):
    writer, client, _ = writing
    twins = writer()

    def kept() -> tuple:
        twins.drain()  # as an import does after each collection
        (record,) = ExakTimeRecord.objects.filter(connection=connection, kind="employee")
        return record.exaktime_id, record.identifier, record.name, record.active

    twins.write(employee(is_active=True))
    assert kept() == ("100", "E7", "Ana Ruiz", True)  # the list read was empty: created since
    twins.write(employee(first="Anna", is_active=True))
    assert kept() == ("100", "E7", "Anna Ruiz", True)
    twins.deactivate(EntityType.EMPLOYEE, EntityMapping.objects.get(procore_id=7))
    assert kept() == ("100", "E7", "Anna Ruiz", False)
    assert client.calls == ["list", "create", "get 100", "update 100", "get 100", "update 100"]


def test_a_refused_key_stops_the_run_and_an_outage_fails_the_row_for_a_retry(writing):
    writer, client, rows = writing
    client.failure = ExakTimeUnavailable("ExakTime says: down (503).", status=503)
    writer().write(employee())
    ((outcome, message),) = rows()
    assert (
        outcome == Outcome.FAILED and message == "Employee 'Ana Ruiz': ExakTime says: down (503)."
    )

    client.failure = ExakTimeAuthError("ExakTime says: bad key (401).", status=401)
    with pytest.raises(RunAborted) as stopped:
        writer().write(employee(8))
    assert stopped.value.kind == FailureKind.AUTHENTICATION


def test_a_rerun_deactivates_only_the_records_it_is_for(writing, connection):
    writer, client, _ = writing
    writer().write(employee(7, is_active=True))
    mapping = EntityMapping.objects.get(connection=connection, procore_id=7)
    client.calls.clear()
    writer(only=Only({EntityType.EMPLOYEE: {8}})).deactivate(EntityType.EMPLOYEE, mapping)
    assert client.calls == []
    assert Only({EntityType.EMPLOYEE: None}).wants(EntityType.EMPLOYEE, 7)
    assert not Only({EntityType.EMPLOYEE: {8}}).wants(EntityType.CREW, 8)
    assert Only().wants(EntityType.CREW, 8) and not Only().is_rerun


def test_a_rerun_of_one_of_a_projects_family_redoes_the_whole_family():
    everything = Only().project(5)
    assert everything.location and everything.whole and everything.reads_sub_jobs
    assert everything.with_sub_jobs([11, 12]).sub_jobs == {11, 12}

    group = Only({EntityType.LOCATION_GROUP: {5}})
    assert not group.project(5).location and group.project(5).whole
    other = group.project(6)
    assert not other.whole and not other.reads_sub_jobs  # its sub-jobs are not even read

    sub_job = Only({EntityType.SUB_JOB: {11}}).project(6)
    assert not sub_job.location and not sub_job.whole and sub_job.reads_sub_jobs
    asked = sub_job.with_sub_jobs([11, 12])
    assert asked.whole and asked.sub_jobs == {11} and not asked.location
    assert not sub_job.with_sub_jobs([12]).whole
    assert Only({EntityType.SUB_JOB: None}).project(6).with_sub_jobs([12]).whole


def test_a_rerun_of_employees_refreshes_only_the_existing_groups_of_their_crews():
    def group(procore_id, employee_ids, existing=True):
        crews = [SimpleNamespace(id=procore_id, employee_ids=employee_ids)]
        return CrewGroup(procore_id, f"Crew {procore_id}", crews, existing)

    groups = [group(1, [8, 9]), group(2, [9]), group(3, [8], existing=False), group(4, [])]

    def redone(only):
        return {g.procore_id: asked for g, asked in only.crew_groups(groups)}

    assert redone(Only({EntityType.EMPLOYEE: {8}})) == {1: False}
    assert redone(Only({EntityType.CREW: {4}, EntityType.EMPLOYEE: {8}})) == {1: False, 4: True}
    assert redone(Only()) == {1: True, 2: True, 3: True, 4: True}


def test_a_rerun_leaves_the_records_it_is_not_for_and_deactivates_only_its_own():
    assert not Only().leaves(EntityType.EMPLOYEE, 7) and Only().deactivates(EntityType.CREW, 7)
    rerun = Only({EntityType.EMPLOYEE: {8}})
    assert rerun.leaves(EntityType.EMPLOYEE, 7) and not rerun.leaves(EntityType.EMPLOYEE, 8)
    assert rerun.deactivates(EntityType.EMPLOYEE, 8)
    assert not rerun.deactivates(EntityType.EMPLOYEE, 7)


def test_a_failed_row_keeps_the_hint_as_its_own_field_and_its_message_unchanged(writing):
    writer, client, rows = writing
    client.failure = ExakTimeConflict(exaktime_says("identifier taken", 409), status=409)
    writer().write(employee())
    ((message, hint),) = rows("message", "hint")
    assert hint == STATUS_HINTS[409]
    assert message == (
        f"Employee 'Ana Ruiz': ExakTime says: identifier taken (409). {STATUS_HINTS[409]}"
    )


def test_a_refused_procore_list_fails_as_one_row_with_its_hint(writing):
    writer, _, rows = writing
    twins = writer()
    lists = ListReader(twins.recorder, twins.row, ENTITY_OF)

    def refuse():
        raise ProcoreError(procore_says("Sub Jobs are not enabled", 400), status=400)

    assert lists.read(EntityType.SUB_JOB, "sub-jobs of project 1", refuse) is None
    ((outcome, hint, retryable),) = rows("outcome", "hint", "retryable")
    assert outcome == Outcome.FAILED and not retryable
    assert hint == hint_for("Sub Jobs are not enabled")
    assert EntityType.SUB_JOB in lists.refused and "locations" in lists.part_failures
