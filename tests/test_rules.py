"""The seed's mapping rules, one case per row: what a Procore record becomes in ExakTime,
what ExakTime and Procore accept, the hour kinds and the custom value conversions.

Expected values are written out here from the seed's tables and the two contracts, not
read from `linx.sync.rules`, so a rule changed by mistake fails its case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from integrations.exaktime.records import TimeRecord
from integrations.procore.records import Crew, Project, StandardCostCode, SubJob, Worker
from linx.models import (
    SUPPORTED_CUSTOM_FIELD_TYPES,
    Connection,
    CustomField,
    CustomFieldType,
    Outcome,
)
from linx.sync import rules
from tests.test_export import entries, export, linked, punch, weather  # noqa: F401  (fixtures)

WORKER = Worker(
    id=1, employee_id="E-100", first_name="Alex", last_name="Rivera",
    email_address="alex@example.com", address="1 Main St", city="Portland", state_code="OR",
    zip="97201", mobile_phone="503-555-0100", work_classification_id=7, is_active=True,
)  # fmt: skip
PROJECT = Project(
    id=2, project_number="200", name="PJA", address="9 Dock Rd", city="Salem",
    state_code="OR", zip="97301", phone="503-555-0199", start_date=date(2026, 3, 1),
    latitude=44.94, longitude=-123.03, active=True,
)  # fmt: skip
SUB_JOB = SubJob(id=3, project_id=2, code="005", name="SJB")
CODE = StandardCostCode(id=4, list_id=1, code="100", full_code="03-100", name="Concrete labor",
                        parent_id=40)  # fmt: skip
CREW = Crew(id=5, project_id=2, name="Framers", employee_ids=(11, 12))
CONTEXT = {"work_classifications": {7: "Carpenter"}, "project": PROJECT, "member_ids": [9, 8]}

#: (table name, record, ExakTime field, expected value): one line per seed table row.
MAPPINGS = [
    ("EMPLOYEE", WORKER, "identifier", "E-100"),
    ("EMPLOYEE", WORKER, "first_name", "Alex"),
    ("EMPLOYEE", WORKER, "last_name", "Rivera"),
    ("EMPLOYEE", WORKER, "email", "alex@example.com"),
    ("EMPLOYEE", WORKER, "address1", "1 Main St"),
    ("EMPLOYEE", WORKER, "city", "Portland"),
    ("EMPLOYEE", WORKER, "state", "OR"),
    ("EMPLOYEE", WORKER, "zip", "97201"),
    ("EMPLOYEE", WORKER, "phone", "503-555-0100"),
    ("EMPLOYEE", WORKER, "work_classification", "Carpenter"),  # by its name, not its id
    ("EMPLOYEE", WORKER, "is_active", True),
    ("LOCATION", PROJECT, "identifier", "200"),
    ("LOCATION", PROJECT, "name", "PJA"),
    ("LOCATION", PROJECT, "address1", "9 Dock Rd"),
    ("LOCATION", PROJECT, "city", "Salem"),
    ("LOCATION", PROJECT, "state", "OR"),
    ("LOCATION", PROJECT, "zip", "97301"),
    ("LOCATION", PROJECT, "phone", "503-555-0199"),
    ("LOCATION", PROJECT, "start_date", date(2026, 3, 1)),
    ("LOCATION", PROJECT, "latitude", 44.94),
    ("LOCATION", PROJECT, "longitude", -123.03),
    ("LOCATION", PROJECT, "is_active", True),
    ("SUB_JOB", SUB_JOB, "identifier", "200.005"),  # the seed's example
    ("SUB_JOB", SUB_JOB, "name", "PJA.SJB"),
    ("SUB_JOB", SUB_JOB, "is_active", True),
    ("COST_CODE", CODE, "identifier", "100"),
    ("COST_CODE", CODE, "name", "Concrete labor"),
    ("COST_CODE", CODE, "is_active", True),
    ("CREW", CREW, "name", "Framers"),
    ("CREW", CREW, "group_type", "employee"),
    ("CREW", CREW, "member_ids", [8, 9]),
    ("CREW", CREW, "show_in_mobile", True),
    ("PROJECT_GROUP", PROJECT, "name", "PJA"),
    ("PROJECT_GROUP", PROJECT, "group_type", "location"),
    ("PROJECT_GROUP", PROJECT, "member_ids", [8, 9]),
    ("PROJECT_GROUP", PROJECT, "show_in_mobile", True),
    ("PROJECT_CATEGORY", PROJECT, "name", "PJA"),
]


@pytest.mark.parametrize(("table", "record", "target", "expected"), MAPPINGS)
def test_each_mapping_row_fills_its_exaktime_field(table, record, target, expected):
    assert rules.apply(getattr(rules, table), record, CONTEXT)[target] == expected


@pytest.mark.parametrize("table", sorted({line[0] for line in MAPPINGS}))
def test_every_row_of_every_table_has_a_case_above(table):
    assert [f.target for f in getattr(rules, table)] == [
        target for name, _, target, _ in MAPPINGS if name == table
    ]


def worker(**fields) -> Worker:
    return Worker(**{"id": 1, "employee_id": "E-1", "first_name": "A", "last_name": "B", **fields})


def sub_job(**fields) -> SubJob:
    return SubJob(**{"id": 3, "project_id": 2, "code": "005", "name": "SJB", **fields})


def project(**fields) -> dict:
    return {"project": Project(**{"id": 2, "project_number": "200", "name": "PJA", **fields})}


@pytest.mark.parametrize(
    ("table", "record", "context", "target", "expected"),
    [
        # An empty string is no value, so a required field fails rather than sending "".
        ("EMPLOYEE", worker(employee_id=""), CONTEXT, "identifier", None),
        # A classification Linx does not know is left empty, never its bare id.
        ("EMPLOYEE", worker(work_classification_id=99), CONTEXT, "work_classification", None),
        # A sub-job is active only while it and its project are.
        ("SUB_JOB", sub_job(), project(active=False), "is_active", False),
        ("SUB_JOB", sub_job(active=False), project(), "is_active", False),
        # Never "200.None" or ".SJB": a missing part leaves the field empty, so it fails.
        ("SUB_JOB", sub_job(code=""), project(), "identifier", None),
        ("SUB_JOB", sub_job(), project(project_number=None), "identifier", None),
        ("SUB_JOB", sub_job(name=""), project(), "name", None),
        ("COST_CODE", replace(CODE, active=False), {}, "is_active", False),
    ],
)
def test_mapping_edge_cases(table, record, context, target, expected):
    assert rules.apply(getattr(rules, table), record, context)[target] == expected


# --- the division rule -----------------------------------------------------------------------

DIVISION = StandardCostCode(id=40, list_id=1, code="03", full_code="03", name="Concrete")
LISTED = [DIVISION, CODE]


@pytest.mark.parametrize(
    ("code", "imported"),
    [
        (CODE, True),  # under a division of its list
        (replace(CODE, id=6, parent_id=90), False),  # unlisted one
        (DIVISION, False),  # a division itself is never imported
    ],
)
def test_only_cost_codes_under_a_listed_division_are_imported(code, imported):
    assert rules.under_division(code, rules.divisions(LISTED)) is imported


def test_divisions_are_the_codes_without_a_parent():
    assert rules.divisions(LISTED) == {40: DIVISION}


# --- what ExakTime accepts ---------------------------------------------------------------------

#: (entity, ExakTime field, most characters, required), from the ExakTime contract.
LENGTHS = [
    ("employee", "identifier", 30, True),
    ("employee", "first_name", 50, False),
    ("employee", "last_name", 50, False),
    ("employee", "email", 100, False),
    ("employee", "address1", 100, False),
    ("employee", "city", 50, False),
    ("employee", "state", 2, False),
    ("employee", "zip", 10, False),
    ("employee", "phone", 20, False),
    ("employee", "work_classification", 50, False),
    ("location", "identifier", 30, True),
    ("location", "name", 100, True),
    ("location", "address1", 100, False),
    ("location", "city", 50, False),
    ("location", "state", 2, False),
    ("location", "zip", 10, False),
    ("location", "phone", 20, False),
    ("cost_code", "identifier", 30, True),
    ("cost_code", "name", 100, True),
    ("crew", "name", 50, True),
    ("location_group", "name", 50, True),
    ("location_category", "name", 50, True),
    ("custom_field", "name", 50, True),
]


def problems_of(entity: str, field: str, value) -> list[str]:
    """What `check` says about one field (named "Label" in messages)."""
    found = rules.check(entity, {field: value}, {field: "Label"})
    return [problem for problem in found if problem.startswith("its Label ")]


@pytest.mark.parametrize(("entity", "field", "most", "required"), LENGTHS)
def test_a_length_limit_passes_at_its_edge_and_fails_past_it(entity, field, most, required):
    assert problems_of(entity, field, "x" * most) == []
    assert problems_of(entity, field, "x" * (most + 1)) == [
        f"its Label {'x' * (most + 1)!r} is {most + 1} characters long; ExakTime allows at "
        f"most {most}"
    ]


@pytest.mark.parametrize(("entity", "field", "most", "required"), LENGTHS)
@pytest.mark.parametrize("empty", [None, ""])
def test_a_required_field_fails_when_empty(entity, field, most, required, empty):
    expected = ["its Label is empty; ExakTime needs one"] if required else []
    assert problems_of(entity, field, empty) == expected


@pytest.mark.parametrize(
    ("field", "value", "fails"),
    [
        ("latitude", 90, False), ("latitude", -90, False),
        ("latitude", 90.0001, True), ("latitude", -90.0001, True),
        ("longitude", 180, False), ("longitude", -180, False),
        ("longitude", 180.0001, True), ("longitude", -180.0001, True),
    ],
)  # fmt: skip
def test_coordinates_pass_at_their_edge_and_fail_past_it(field, value, fails):
    problems = rules.check("location", {"identifier": "200", "name": "PJA", field: value}, {})
    assert bool(problems) is fails
    if fails:
        assert problems[0].startswith(f"its {field} {value} is outside")


# --- custom fields: what pre-import creates in ExakTime ------------------------------------------


def custom_field(data_type, **fields) -> CustomField:
    options = [{"id": 71, "label": "Sunny"}, {"id": 72, "label": "Rain"}]
    return CustomField(label="Site", data_type=data_type, options=options, **fields)


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (CustomFieldType.TEXT, {"field_type": "text", "max_length": 255}),
        (CustomFieldType.DATE, {"field_type": "date"}),
        (CustomFieldType.CHECKBOX, {"field_type": "checkbox"}),
        (CustomFieldType.SELECT, {"field_type": "select", "options": ["Sunny", "Rain"]}),
    ],
)
def test_each_custom_field_type_becomes_its_exaktime_field(data_type, expected):
    assert rules.exaktime_custom_field(custom_field(data_type)) == {
        "name": "Site",
        **expected,
        "is_active": True,
    }


@pytest.mark.parametrize(("active", "gone"), [(False, False), (True, True)])
def test_a_custom_field_inactive_or_gone_in_procore_is_inactive_in_exaktime(active, gone):
    field = custom_field(CustomFieldType.DATE, active=active, gone_from_procore=gone)
    assert rules.exaktime_custom_field(field)["is_active"] is False


def test_the_four_supported_custom_field_types_each_have_a_conversion():
    assert (
        set(rules.CUSTOM_VALUES) == set(rules.EXAKTIME_FIELD_TYPES) == SUPPORTED_CUSTOM_FIELD_TYPES
    )


# --- custom fields: a time record's value in Procore's type -----------------------------------

OPTIONS = [{"id": 71, "label": "Sunny"}, {"id": 72, "label": "Rain"}]


@pytest.mark.parametrize(
    ("data_type", "value", "sent"),
    [
        (CustomFieldType.TEXT, "Pump truck #4", "Pump truck #4"),
        (CustomFieldType.TEXT, 42, "42"),
        (CustomFieldType.TEXT, "x" * 255, "x" * 255),  # at the edge
        (CustomFieldType.DATE, "2026-11-20", "2026-11-20"),
        (CustomFieldType.CHECKBOX, True, True),
        (CustomFieldType.CHECKBOX, False, False),
        (CustomFieldType.CHECKBOX, "TRUE", True),
        (CustomFieldType.CHECKBOX, "false", False),
        (CustomFieldType.SELECT, "Rain", 72),  # the option's id
    ],
)
def test_each_custom_value_is_sent_in_procores_type(data_type, value, sent):
    converted = rules.custom_value(data_type, value, OPTIONS)
    assert converted == sent
    assert type(converted) is type(sent)


@pytest.mark.parametrize(
    ("data_type", "value", "problem", "fix"),
    [
        (CustomFieldType.TEXT, "x" * 256, "holds 256 characters; Procore takes at most 255",
         "Shorten it in ExakTime"),  # past the edge
        (CustomFieldType.TEXT, True, "holds True, which is not text", "Correct it in ExakTime"),
        (CustomFieldType.TEXT, ["a"], "holds ['a'], which is not text", "Correct it in ExakTime"),
        (CustomFieldType.TEXT, "a\x00b", "which contains a null character", "Correct it"),
        (CustomFieldType.TEXT, "Dana\ud83d", "which is not valid Unicode", "Correct it"),
        (CustomFieldType.DATE, "next Tuesday", "holds 'next Tuesday', which is not a date",
         "Correct it in ExakTime"),
        (CustomFieldType.DATE, "2026-02-30", "which is not a date", "Correct it"),
        (CustomFieldType.DATE, 20261120, "holds 20261120, which is not a date", "Correct it"),
        (CustomFieldType.CHECKBOX, "maybe",
         "holds 'maybe', which is not a checkbox value (true or false)", "Correct it"),
        (CustomFieldType.CHECKBOX, 1, "holds 1, which is not a checkbox value", "Correct it"),
        (CustomFieldType.SELECT, "Hail",
         "holds 'Hail', which is not one of its Procore options (Sunny, Rain)",
         "Add the option in Procore and re-run the pre-import, or correct the record"),
        (CustomFieldType.SELECT, "rain", "not one of its Procore options", "Add the option"),
        (CustomFieldType.SELECT, ["Rain"], "holds ['Rain'], which is not one of", "Add the"),
    ],
)  # fmt: skip
def test_a_custom_value_procore_cannot_take_is_refused_saying_what_to_fix(
    data_type, value, problem, fix
):
    with pytest.raises(rules.Refused) as refused:
        rules.custom_value(data_type, value, OPTIONS)
    assert problem in refused.value.problem
    assert refused.value.fix.startswith(fix)


def test_a_select_without_options_says_it_has_none():
    with pytest.raises(rules.Refused, match=r"options \(none\)"):
        rules.custom_value(CustomFieldType.SELECT, "Rain", [])


# --- hour kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hours", "name", "time_type", "heading"),
    [
        ("regular", "regular_hours", "regular", "time_type_regular", "Regular hours"),
        ("ot1", "ot1_hours", "OT1", "time_type_ot1", "OT1 hours"),
        ("ot2", "ot2_hours", "OT2", "time_type_ot2", "OT2 hours"),
    ],
)
def test_each_hour_kind_reads_its_hours_and_books_its_time_type(
    key, hours, name, time_type, heading
):
    assert (rules.HOURS_FIELD[key], rules.KIND_NAMES[key]) == (hours, name)
    assert (rules.HOUR_KINDS[key], rules.HOUR_HEADINGS[key]) == (time_type, heading)
    record = TimeRecord.from_api({"id": 1, "employee_id": 2, "job_id": 3, hours: 3})
    assert getattr(record, rules.HOURS_FIELD[key]) == 3
    assert Connection._meta.get_field(rules.HOUR_KINDS[key]).max_length


def test_the_hour_kinds_are_regular_ot1_and_ot2_in_that_order():
    assert [kind.key for kind in rules.HOURS] == ["regular", "ot1", "ot2"]


# --- 24 hours: at the edge and past it, through a real export ------------------------------------


@pytest.mark.parametrize(
    ("hours", "exported"),
    [
        ({"regular_hours": 24.0}, True),
        ({"regular_hours": 24.25}, False),
        ({"ot1_hours": 24.25}, False),
        ({"ot2_hours": 24.25}, False),
        ({"regular_hours": 16.0, "ot1_hours": 6.0, "ot2_hours": 2.0}, True),  # 24 in all
        ({"regular_hours": 16.0, "ot1_hours": 6.0, "ot2_hours": 2.25}, False),
    ],
)
def test_a_time_record_holds_at_most_24_hours(punch, linked, procore_sandbox, hours, exported):  # noqa: F811
    record = punch(**{"regular_hours": 0, "ot1_hours": 0, "ot2_hours": 0, **hours})
    row = export(linked).rows.get(exaktime_id=str(record["id"]))
    if exported:
        assert row.outcome == Outcome.CREATED
        assert sum(Decimal(str(e["hours"])) for e in entries(procore_sandbox)) == 24
    else:
        assert row.outcome == Outcome.FAILED
        assert "at most 24" in row.message


def test_a_select_value_that_is_not_text_fails_its_row_not_the_run(punch, linked, weather):  # noqa: F811
    from integrations.procore.sandbox import data as pc

    good = punch(ot1_hours=0, ot2_hours=0)
    bad = punch(custom_fields={str(weather[pc.CF_WEATHER].exaktime_id): ["Rain"]})
    run = export(linked)
    assert run.rows.get(exaktime_id=str(good["id"])).outcome == Outcome.CREATED
    row = run.rows.get(exaktime_id=str(bad["id"]))
    assert row.outcome == Outcome.FAILED
    assert "holds ['Rain'], which is not one of its Procore options" in row.message


def test_a_created_records_changes_list_every_field_that_has_a_value():
    """The row of a record just created shows each value it was created with, as the
    general diff from nothing would: a value of None is left out, the rest shown as sent."""
    after = {
        "hours": "8.5",
        "cost_code_id": 7,
        "sub_job_id": None,
        "billable": False,
        "lunch_time": 0,
        "description": "",
        "date": date(2026, 11, 16),
        "tags": ("b", "a"),
    }
    assert rules.created_changes(after) == {
        "hours": [None, "8.5"],
        "cost_code_id": [None, 7],
        "billable": [None, False],
        "lunch_time": [None, 0],
        "description": [None, ""],
        "date": [None, "2026-11-16"],
        "tags": [None, ["a", "b"]],
    }
    assert rules.created_changes(after) == rules.changes({}, after)
