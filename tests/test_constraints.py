"""The database itself refuses data that would break Linx's rules, with readable messages."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from linx.models import (
    Connection,
    CustomField,
    EntityMapping,
    EntityType,
    Fieldset,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
)


def refused_by_database(create) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        create()


# --- mappings ---------------------------------------------------------------------------


def test_one_mapping_per_procore_record(connection):
    EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.EMPLOYEE, procore_id=11, exaktime_id="1"
    )
    duplicate = EntityMapping(
        connection=connection, entity_type=EntityType.EMPLOYEE, procore_id=11, exaktime_id="2"
    )
    with pytest.raises(ValidationError, match="This Procore record is already linked"):
        duplicate.full_clean()
    refused_by_database(duplicate.save)


def test_one_mapping_per_exaktime_record(connection):
    EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.LOCATION, procore_id=1, exaktime_id="5"
    )
    duplicate = EntityMapping(
        connection=connection, entity_type=EntityType.LOCATION, procore_id=2, exaktime_id="5"
    )
    with pytest.raises(ValidationError, match="This ExakTime record is already linked"):
        duplicate.full_clean()
    refused_by_database(duplicate.save)


def test_the_same_ids_may_be_mapped_in_another_connection_or_entity_type(connection):
    other = Connection.objects.create(name="other")
    EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.EMPLOYEE, procore_id=1, exaktime_id="1"
    )
    EntityMapping.objects.create(
        connection=other, entity_type=EntityType.EMPLOYEE, procore_id=1, exaktime_id="1"
    )
    EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.LOCATION, procore_id=1, exaktime_id="1"
    )
    assert EntityMapping.objects.count() == 3


def test_reference_data_without_exaktime_side_can_coexist(connection):
    for procore_id in (1, 2):
        EntityMapping.objects.create(
            connection=connection,
            entity_type=EntityType.WORK_CLASSIFICATION,
            procore_id=procore_id,
        )
    assert connection.mappings.count() == 2


def test_procore_ids_beyond_32_bits_are_kept(connection):
    big = 2**40 + 3
    EntityMapping.objects.create(
        connection=connection, entity_type=EntityType.EMPLOYEE, procore_id=big, exaktime_id="9"
    )
    assert EntityMapping.objects.get(exaktime_id="9").procore_id == big


# --- fieldsets and custom fields -----------------------------------------------------


@pytest.fixture
def fieldsets(connection):
    timesheet = Fieldset.objects.create(
        connection=connection, procore_id=100, name="Timesheet", field_ids=list(range(1, 9))
    )
    other = Fieldset.objects.create(connection=connection, procore_id=101, name="Other")
    return timesheet, other


def make_fields(connection, data_types):
    return [
        CustomField.objects.create(
            connection=connection, procore_id=number, label=f"Field {number}", data_type=data_type
        )
        for number, data_type in enumerate(data_types, start=1)
    ]


def test_one_selected_fieldset_per_connection(fieldsets):
    timesheet, other = fieldsets
    timesheet.selected = True
    timesheet.save()
    other.selected = True
    with pytest.raises(ValidationError, match="Only one fieldset can be selected"):
        other.full_clean()
    refused_by_database(other.save)


def test_selecting_a_fieldset_replaces_the_previous_one(connection, fieldsets):
    timesheet, other = fieldsets
    connection.select_fieldset(timesheet)
    connection.select_fieldset(other)
    assert connection.selected_fieldset() == other
    assert Fieldset.objects.filter(selected=True).count() == 1


def test_five_supported_custom_fields_can_be_selected(connection, fieldsets):
    connection.select_fieldset(fieldsets[0])
    fields = make_fields(connection, ["string", "date", "boolean", "lov_entry", "string"])
    connection.select_custom_fields(fields)
    assert [f.label for f in connection.selected_custom_fields()] == [f.label for f in fields]


def test_a_sixth_custom_field_is_refused(connection, fieldsets):
    connection.select_fieldset(fieldsets[0])
    fields = make_fields(connection, ["string"] * 6)
    with pytest.raises(ValidationError, match="6 custom fields chosen, but at most 5"):
        connection.select_custom_fields(fields)
    assert not connection.selected_custom_fields().exists()


def test_the_database_refuses_a_sixth_slot(connection, fieldsets):
    (field,) = make_fields(connection, ["string"])
    field.selected_slot = 6
    with pytest.raises(ValidationError, match="At most 5 custom fields"):
        field.full_clean()
    refused_by_database(field.save)


def test_the_database_refuses_two_fields_in_one_slot(connection):
    first, second = make_fields(connection, ["string", "date"])
    first.selected_slot = second.selected_slot = 1
    first.save()
    refused_by_database(second.save)


def test_an_unsupported_custom_field_type_is_refused(connection, fieldsets):
    connection.select_fieldset(fieldsets[0])
    (number_field,) = make_fields(connection, ["number"])
    with pytest.raises(ValidationError, match="of type 'number', which Linx cannot carry"):
        connection.select_custom_fields([number_field])
    number_field.selected_slot = 1
    refused_by_database(number_field.save)


def test_custom_fields_outside_the_selected_fieldset_are_refused(connection, fieldsets):
    connection.select_fieldset(fieldsets[1])  # "Other" holds no fields
    fields = make_fields(connection, ["string"])
    with pytest.raises(ValidationError, match="not in the selected fieldset 'Other'"):
        connection.select_custom_fields(fields)


def test_changing_fieldset_drops_fields_it_does_not_hold(connection, fieldsets):
    timesheet, other = fieldsets
    connection.select_fieldset(timesheet)
    connection.select_custom_fields(make_fields(connection, ["string", "date"]))
    connection.select_fieldset(other)
    assert not connection.selected_custom_fields().exists()


# --- runs ------------------------------------------------------------------------------


def make_run(connection, kind=RunKind.IMPORT, status=RunStatus.RUNNING):
    return SyncRun(connection=connection, kind=kind, status=status, trigger=RunTrigger.COMMAND)


def test_one_running_run_per_connection_and_kind(connection):
    make_run(connection).save()
    second = make_run(connection)
    with pytest.raises(ValidationError, match="Another run of this kind is already running"):
        second.full_clean()
    refused_by_database(second.save)


def test_runs_of_other_kinds_or_connections_or_finished_ones_do_not_clash(connection):
    other = Connection.objects.create(name="other")
    make_run(connection).save()
    make_run(connection, kind=RunKind.EXPORT).save()
    make_run(other).save()
    make_run(connection, status=RunStatus.SUCCEEDED).save()
    make_run(connection, status=RunStatus.QUEUED).save()
    assert SyncRun.objects.count() == 5


# --- staff groups ------------------------------------------------------------------------


def test_the_three_staff_groups_exist_with_their_permissions(db):
    from django.contrib.auth.models import Group

    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert "view_syncrun" in codenames("Viewers") and "run_sync" not in codenames("Viewers")
    assert "run_sync" in codenames("Operators") and "change_connection" not in codenames(
        "Operators"
    )
    assert {"run_sync", "change_connection", "add_connection"} <= codenames("Administrators")


def test_administrators_manage_schedules_and_others_see_them(db):
    from django.contrib.auth.models import Group

    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert {"add_runschedule", "change_runschedule"} <= codenames("Administrators")
    assert "view_runschedule" in codenames("Viewers") and "change_runschedule" not in codenames(
        "Operators"
    )
