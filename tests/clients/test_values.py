"""Values on the wire: one strict reader, and the records read through it."""

from __future__ import annotations

from datetime import date

import pytest

from integrations.exaktime.records import CustomField, Employee, Group, Location
from integrations.procore.records import Fieldset, TimecardTimeType, WorkClassification
from integrations.values import Reader


def test_a_record_whose_fields_mirror_the_wire_reads_each_by_its_type():
    location = Location.from_api(
        {
            "id": "42",
            "identifier": 200,
            "name": "PJA",
            "city": "",
            "start_date": "2026-01-05",
            "latitude": "40.5",
            "is_active": "false",
            "parent_job_id": 7,
        }
    )
    assert location == Location(
        id=42,
        identifier="200",
        name="PJA",
        city=None,
        start_date=date(2026, 1, 5),
        latitude=40.5,
        is_active=False,
        parent_job_id=7,
    )


def test_what_a_writable_record_sends_reads_back_as_the_same_record():
    employee = Employee(
        id=9,
        identifier="1001",
        first_name="Ana",
        last_name="Lopez",
        email="ana@example.test",
        city="Austin",
        phone="555",
        is_active=False,
    )
    assert Employee.from_api({**employee.to_api(), "id": 9}) == employee
    group = Group(id=3, name="Concrete Crew", group_type="employee", member_ids=(1, 2))
    assert Group.from_api({**group.to_api(), "id": 3}) == group


def test_a_value_of_the_wrong_type_is_read_as_absent_never_as_other_text():
    employee = Employee.from_api({"id": 1, "identifier": ["1001"], "first_name": {"a": 1}})
    assert (employee.identifier, employee.first_name) == ("", "")
    field = CustomField.from_api({"id": 2, "name": "Weather", "options": ["Sun", 3, {"x": 1}]})
    assert field.options == ("Sun", "3")


def test_procore_keys_that_differ_from_the_field_names_are_read_under_their_own_name():
    assert Fieldset.from_api(
        {"id": 5, "name": "T", "type": "TimecardEntry", "fields": [1, "2"]}
    ) == (Fieldset(id=5, name="T", type="TimecardEntry", field_ids=(1, 2)))
    kind = TimecardTimeType.from_api({"id": 6, "time_type": "Overtime", "global": "true"})
    assert kind.global_ is True


def test_a_reference_record_without_an_id_is_refused():
    with pytest.raises(ValueError, match="without 'id'"):
        WorkClassification.from_api({"name": "Carpenter"})


def test_the_reader_names_each_value_it_could_not_read():
    read = Reader({"options": ["ok", 1.5], "count": "many"}, "ExakTime")
    assert read.texts("options") == ("ok",)
    assert read.count("count") is None
    assert read.problems == [
        "ExakTime's options 1.5 is not text",
        "ExakTime's count 'many' is not a whole number",
    ]
