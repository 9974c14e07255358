"""Pre-import: Procore reference data into Linx, selected custom fields into ExakTime."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from integrations.procore.sandbox import data as pc
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
from linx.sync.execute import execute
from linx.sync.runs import create_run


def preimport(connection):
    return execute(create_run(connection, RunKind.PREIMPORT, trigger=RunTrigger.COMMAND))


def test_reference_data_is_stored(sandbox_connection):
    run = preimport(sandbox_connection)
    assert run.status == RunStatus.SUCCEEDED
    classifications = EntityMapping.objects.filter(entity_type=EntityType.WORK_CLASSIFICATION)
    assert classifications.count() == len(pc.WORK_CLASSIFICATIONS)
    abbreviations = {
        m.data["abbreviation"]
        for m in EntityMapping.objects.filter(entity_type=EntityType.TIME_TYPE)
    }
    assert {"REG", "OT", "DT"} <= abbreviations
    assert Connection.objects.get(pk=sandbox_connection.pk).preimported_at is not None


def test_timesheet_fieldsets_and_their_fields_come_in_unsupported_ones_visible(sandbox_connection):
    preimport(sandbox_connection)
    assert set(Fieldset.objects.values_list("name", flat=True)) == {
        "Daily Timesheet Fields",
        "Crew Timesheet Extras",
    }  # the Project fieldset is not a timesheet one
    weather = CustomField.objects.get(procore_id=pc.CF_WEATHER)
    assert [o["label"] for o in weather.options] == ["Sunny", "Rain", "Snow", "Wind"]
    mileage = CustomField.objects.get(procore_id=pc.CF_MILEAGE)
    assert not mileage.supported  # listed, so an operator sees why it cannot be chosen


def select_all_supported(connection):
    connection.select_fieldset(Fieldset.objects.get(procore_id=pc.FIELDSET_TIMESHEET))
    connection.select_custom_fields(
        list(
            CustomField.objects.filter(
                procore_id__in=[
                    pc.CF_EQUIPMENT,
                    pc.CF_INSPECTION_DATE,
                    pc.CF_PER_DIEM,
                    pc.CF_WEATHER,
                ]
            ).order_by("procore_id")
        )
    )


def test_selected_custom_fields_are_created_in_exaktime_by_type(
    sandbox_connection, exaktime_sandbox
):
    preimport(sandbox_connection)
    select_all_supported(sandbox_connection)
    run = preimport(sandbox_connection)

    fields = {f["name"]: f for f in exaktime_sandbox.records("custom_field", scope=1)}
    assert fields["Equipment Used"]["field_type"] == "text"
    assert fields["Equipment Used"]["max_length"] == 255
    assert fields["Inspection Date"]["field_type"] == "date"
    assert fields["Per Diem"]["field_type"] == "checkbox"
    assert fields["Weather"]["field_type"] == "select"
    assert fields["Weather"]["options"] == ["Sunny", "Rain", "Snow", "Wind"]
    assert run.counts["created"] >= 4
    assert CustomField.objects.get(procore_id=pc.CF_WEATHER).exaktime_id == fields["Weather"]["id"]


def test_a_changed_option_list_updates_the_exaktime_field(
    sandbox_connection, exaktime_sandbox, procore_sandbox
):
    preimport(sandbox_connection)
    select_all_supported(sandbox_connection)
    preimport(sandbox_connection)
    definition = procore_sandbox.get("custom_field_definition", pc.CF_WEATHER)
    entries = [*definition["custom_field_lov_entries"], {"id": 9_500_000_099, "label": "Fog"}]
    procore_sandbox.update(
        "custom_field_definition", pc.CF_WEATHER, custom_field_lov_entries=entries
    )

    run = preimport(sandbox_connection)

    weather = next(
        f for f in exaktime_sandbox.records("custom_field", scope=1) if f["name"] == "Weather"
    )
    assert weather["options"][-1] == "Fog"
    assert (
        run.rows.get(entity_type=EntityType.CUSTOM_FIELD, procore_id=pc.CF_WEATHER).outcome
        == "updated"
    )


def test_a_field_gone_from_procore_is_shown_as_gone_not_dropped(
    sandbox_connection, procore_sandbox
):
    preimport(sandbox_connection)
    select_all_supported(sandbox_connection)
    procore_sandbox.update("custom_field_definition", pc.CF_EQUIPMENT, _tool_name="admin")

    preimport(sandbox_connection)

    gone = CustomField.objects.get(procore_id=pc.CF_EQUIPMENT)
    assert gone.gone_from_procore
    assert gone.selected  # still in the operator's selection, flagged


def test_import_runs_the_pre_import_first_when_it_never_ran_or_is_stale(sandbox_connection):
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                  parameters={"entities": ["cost_codes"]}))  # fmt: skip
    automatic = SyncRun.objects.filter(kind=RunKind.PREIMPORT)
    assert automatic.count() == 1
    assert automatic.get().trigger == RunTrigger.AUTOMATIC

    # Fresh: not again.
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                  parameters={"entities": ["cost_codes"]}))  # fmt: skip
    assert automatic.count() == 1

    # Older than the connection's setting: again.
    Connection.objects.filter(pk=sandbox_connection.pk).update(
        preimported_at=timezone.now() - timedelta(days=2)
    )
    execute(create_run(sandbox_connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                  parameters={"entities": ["cost_codes"]}))  # fmt: skip
    assert automatic.count() == 2
