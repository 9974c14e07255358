"""What a mapping's `data` holds, read by name instead of by spelled-out keys."""

from __future__ import annotations

import pytest

from linx.models import EntityMapping, EntityType


def test_each_fact_an_import_keeps_is_read_by_name():
    sub_job = EntityMapping(entity_type=EntityType.SUB_JOB, procore_id=5, data={"project": 17})
    worker = EntityMapping(
        entity_type=EntityType.EMPLOYEE, procore_id=6, data={"work_classification_id": 3}
    )
    code = EntityMapping(entity_type=EntityType.COST_CODE, data={"full_code": "01-100"})
    project = EntityMapping(
        entity_type=EntityType.LOCATION, data={"fields": {"identifier": "P-7", "name": "Depot"}}
    )
    time_type = EntityMapping(
        entity_type=EntityType.TIME_TYPE, data={"abbreviation": "OT", "global": True}
    )
    group = EntityMapping(entity_type=EntityType.CREW, procore_id=9, data={"crew_ids": [9, 10]})
    gone = EntityMapping(data={"exaktime_missing_at": "2026-11-18T08:00:00+00:00"})

    assert sub_job.project_id == 17
    assert worker.work_classification_id == 3
    assert code.full_code == "01-100"
    assert project.identifier == "P-7"
    assert project.last_written == {"identifier": "P-7", "name": "Depot"}
    assert (time_type.abbreviation, time_type.is_global) == ("OT", True)
    assert group.crew_ids == [9, 10]
    assert gone.exaktime_missing_at == "2026-11-18T08:00:00+00:00"


def test_a_fact_never_kept_reads_as_none_or_its_plain_default():
    bare = EntityMapping(entity_type=EntityType.CREW, procore_id=9, data=None)
    assert (bare.project_id, bare.work_classification_id, bare.full_code) == (None, None, None)
    assert (bare.identifier, bare.abbreviation, bare.exaktime_missing_at) == (None, None, None)
    assert bare.last_written == {} and bare.is_global is False
    assert bare.crew_ids == [9]  # one crew: the group's own


# --- a run's parameters --------------------------------------------------------------

IMPORT = {"entities": ["employee", "location"], "full": False}
PLANNED = {**IMPORT, "since": {"employee": "2026-11-18T08:00:00+00:00", "location": None}}
RERUN_IMPORT = {"entities": ["cost_code"], "only": {"cost_code": [4, 5], "crew": "all"}}
EXPORT = {"from": "2026-11-16", "to": "2026-11-22", "approved_only": True, "employees": [7]}
RERUN_EXPORT = {"from": "2026-11-16", "to": "2026-11-22", "only_time_records": [4711]}


def test_run_parameters_read_by_name_and_stored_in_the_same_shape():
    from linx.sync.parameters import RunParameters

    scheduled = {**EXPORT, "schedule": 3}
    for stored in (IMPORT, PLANNED, RERUN_IMPORT, EXPORT, RERUN_EXPORT, scheduled, {}, {"x": 1}):
        assert RunParameters.from_json(stored).to_json() == stored
    export = RunParameters.from_json(EXPORT)
    assert (export.first_day, export.last_day) == ("2026-11-16", "2026-11-22")
    assert (export.approved_only, export.employees, export.only) == (True, [7], None)
    rerun = RunParameters.from_json(RERUN_IMPORT)
    assert rerun.only == {"cost_code": [4, 5], "crew": "all"} and rerun.full is None
    assert RunParameters.from_json(None) == RunParameters()


def test_facts_are_written_by_name_and_read_back_by_the_same_names():
    facts = {
        "project_id": 17,
        "work_classification_id": 3,
        "full_code": "01-100",
        "crew_ids": [9, 10],
        "abbreviation": "OT",
        "is_global": True,
        "last_written": {"identifier": "P-7"},
        "exaktime_missing_at": "2026-11-18T08:00:00+00:00",
    }
    mapping = EntityMapping(procore_id=9, data=EntityMapping.data_of(**facts))
    assert {name: getattr(mapping, name) for name in facts} == facts
    # The stored shape is the one runs recorded before have.
    assert EntityMapping.data_of(project_id=17, is_global=True) == {"project": 17, "global": True}


def test_a_fact_the_mapping_does_not_keep_is_refused_by_name():
    with pytest.raises(TypeError, match="no fact named projct_id"):
        EntityMapping.data_of(projct_id=17)


def test_setting_or_dropping_facts_keeps_the_others_and_leaves_the_mapping_as_it_was():
    mapping = EntityMapping(
        data=EntityMapping.data_of(project_id=17, last_written={"identifier": "P-7"})
    )
    marked = mapping.updated_data(exaktime_missing_at="2026-11-18T08:00:00+00:00")
    assert marked == {**mapping.data, "exaktime_missing_at": "2026-11-18T08:00:00+00:00"}
    assert mapping.data_without("last_written", "exaktime_missing_at") == {"project": 17}
    assert mapping.exaktime_missing_at is None and mapping.identifier == "P-7"


def test_a_runs_page_describes_its_parameters_read_by_name():
    from linx.admin.run_views import describe_parameters
    from linx.models import SyncRun

    def described(parameters):
        return dict(describe_parameters(SyncRun(parameters=parameters)))

    assert described({**EXPORT, "schedule": 3, "x": 1}) == {
        "Work dates": "2026-11-16 → 2026-11-22",
        "Approved only": "yes",
        "Employees": "1",
        "Schedule": "3",
        "X": "1",
    }
    assert described(RERUN_IMPORT) == {
        "Entities": "cost code",
        "Only these records": "Cost code: 2; Crew / employee group: all",
    }
    assert described({**IMPORT, "since": {}}) == {
        "Entities": "employee, location",
        "Full pass": "no",
        "Read changed since": "nothing: every record read",
    }
    assert described(RERUN_EXPORT)["Only these time records"] == "1"
