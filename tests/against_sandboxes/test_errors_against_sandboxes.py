"""What a person reads when a sandbox refuses or garbles an answer: a clear, typed error.

Every message names the service and says what to fix; nothing crashes, secrets never
show, and permanent refusals are not retried (the request log proves how many calls went).
"""

from __future__ import annotations

import pytest

from integrations.exaktime.errors import (
    ExakTimeAuthError,
    ExakTimeConflict,
    ExakTimeOutcomeUnknown,
    ExakTimePermissionError,
    ExakTimeUnavailable,
    ExakTimeValidationError,
)
from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.errors import (
    ProcoreOutcomeUnknown,
    ProcorePermissionError,
    ProcoreUnavailable,
    ProcoreValidationError,
)
from integrations.procore.sandbox import data as procore_data
from tests.against_sandboxes.conftest import calls, exaktime_client, procore_client, statuses

CID = procore_data.COMPANY_ID
USERS = f"/rest/v1.3/companies/{CID}/users"
TIMESHEETS = f"/rest/v1.0/companies/{CID}/timesheets"
EMPLOYEES = "/v1/Common/Persons/Employees"
JOBS = "/v1/Time/Jobs"
NEW_EMPLOYEE = {"identifier": "1011", "first_name": "Ana", "last_name": "Cruz"}


def entry(origin_id: str, **fields) -> dict:
    return {
        "project_id": procore_data.PROJECT_PJA,
        "party_id": procore_data.WORKER_LINKED,
        "date": "2026-01-06",
        "hours": "8.0",
        "origin_id": origin_id,
        **fields,
    }


# Procore ------------------------------------------------------------------------------


def test_procore_company_without_the_app_says_to_install_it(procore_sandbox, waits):
    with procore_client(
        procore_sandbox, waits, company_id=procore_data.UNCONNECTED_COMPANY_ID
    ) as c:
        with pytest.raises(ProcorePermissionError) as caught:
            list(c.workers())
        companies = [company.id for company in c.companies()]

    assert str(caught.value) == (
        "Procore says: App is not connected to this company (403). Install the Linx app in "
        "Procore's App Management, then reconnect."
    )
    assert caught.value.permanent
    # The picker does not offer it either.
    assert procore_data.UNCONNECTED_COMPANY_ID not in companies and CID in companies
    unconnected = f"/rest/v1.3/companies/{procore_data.UNCONNECTED_COMPANY_ID}/users"
    assert statuses(procore_sandbox, "GET", unconnected) == [403], "not retried"


def test_procore_malformed_json_on_a_read_is_a_clear_error(procore_sandbox, procore, waits):
    procore_sandbox.faults.set("malformed_json", method="GET", path=USERS)

    with pytest.raises(ProcoreUnavailable) as caught:
        list(procore.workers())

    assert str(caught.value) == f"Procore says: an answer to {USERS} that is not JSON (200)."
    assert not caught.value.permanent
    assert [e.get("fault") for e in calls(procore_sandbox, "GET")] == ["malformed_json"]
    # The next run reads normally.
    assert len(list(procore.workers())) == len(
        procore_sandbox.records("user", scope=CID, is_active=True)
    )


def test_procore_malformed_json_after_a_bulk_create_is_an_unknown_outcome(procore_sandbox, procore):
    procore_sandbox.faults.set("malformed_json", method="POST", path=TIMESHEETS)

    with pytest.raises(ProcoreOutcomeUnknown) as caught:
        procore.create_timecard_entries([entry("exaktime-41"), entry("exaktime-42")])

    assert "its answer could not be read" in str(caught.value)
    for origin_id in ("exaktime-41", "exaktime-42"):
        assert len(procore_sandbox.records("timecard_entry", scope=CID, origin_id=origin_id)) == 1
    assert statuses(procore_sandbox, "POST", TIMESHEETS) == [201]


def test_procore_html_error_page_is_retried_then_reported_in_plain_words(
    procore_sandbox, procore, waits
):
    procore_sandbox.faults.set("html", status=502, count=None, path=USERS)

    with pytest.raises(ProcoreUnavailable) as caught:
        list(procore.workers())

    assert str(caught.value) == "Procore says: 502 Bad Gateway nginx (502)."
    # The default policy: six retries, bounded in total time, then the error. When the
    # jitter reaches the bound, the last wait is what is left of it, so the waits add up
    # to 60 s give or take the last bit of a float (60.00000000000001 once in CI).
    assert statuses(procore_sandbox, "GET", USERS) == [502] * 7
    assert len(waits.seconds) == 6 and round(sum(waits.seconds), 6) <= 60


def test_procore_one_html_error_page_is_recovered(procore_sandbox, procore, waits):
    procore_sandbox.faults.set("html", status=504, path=USERS)

    read = [w.id for w in procore.workers()]

    assert len(read) == len(procore_sandbox.records("user", scope=CID, is_active=True))
    assert statuses(procore_sandbox, "GET", USERS) == [504, 200]


def test_procore_validation_error_names_the_entry_and_creates_nothing(procore_sandbox, procore):
    batch = [
        entry("exaktime-51"),
        entry("exaktime-52", cost_code_id=procore_data.PJA_COST_CODE_DRYWALL),
    ]

    with pytest.raises(ProcoreValidationError) as caught:
        procore.create_timecard_entries(batch)

    assert "entry 1: Cost code 09-9010 Drywall was deleted from project 200 PJA" in str(
        caught.value
    )
    assert set(caught.value.index_errors) == {1}
    assert procore_sandbox.records("timecard_entry", scope=CID) == []
    assert statuses(procore_sandbox, "POST", TIMESHEETS) == [422]


# ExakTime -----------------------------------------------------------------------------


def test_exaktime_wrong_key_is_a_401_that_says_to_check_the_key(exaktime_sandbox, waits):
    client = exaktime_client(exaktime_sandbox, waits, api_key="not-the-right-key-123")
    with client, pytest.raises(ExakTimeAuthError) as caught:
        list(client.list_employees())

    message = str(caught.value)
    assert message.startswith("ExakTime says: Access denied due to missing or invalid")
    assert message.endswith("(401). The ExakTime API key is missing or wrong: check it on the "
                            "connection.")  # fmt: skip
    assert "not-the-right-key-123" not in repr(caught.value)
    assert statuses(exaktime_sandbox) == [401]


def test_exaktime_read_only_key_reads_but_may_not_write(exaktime_sandbox, waits):
    before = exaktime_sandbox.records("employee")
    with exaktime_client(
        exaktime_sandbox, waits, api_key=exaktime_data.READ_ONLY_API_KEY
    ) as client:
        read = [e.id for e in client.list_employees()]
        with pytest.raises(ExakTimePermissionError) as caught:
            client.create_employee(NEW_EMPLOYEE)

    assert read == [e["id"] for e in before]
    assert "(403). The ExakTime API key is read-only; Linx needs a read-write key." in str(
        caught.value
    )
    assert exaktime_sandbox.records("employee") == before
    assert statuses(exaktime_sandbox) == [200, 403]


def test_exaktime_duplicate_identifier_is_a_409_naming_the_field(exaktime_sandbox, exaktime):
    before = exaktime_sandbox.records("employee")

    with pytest.raises(ExakTimeConflict) as caught:
        exaktime.create_employee({**NEW_EMPLOYEE, "identifier": "1001"})

    assert str(caught.value) == (
        "ExakTime says: Employee identifier must be unique: identifier: already used by "
        f"employee {exaktime_data.EMPLOYEE_LINKED} (409). Another ExakTime record already "
        "uses this ID (or name); change one of them."
    )
    assert set(caught.value.field_errors) == {"identifier"}
    assert exaktime_sandbox.records("employee") == before
    assert statuses(exaktime_sandbox, "POST") == [409]


def test_exaktime_validation_error_is_a_422_naming_the_field(exaktime_sandbox, exaktime):
    with pytest.raises(ExakTimeValidationError) as caught:
        exaktime.create_location({"identifier": "250", "name": "Hilltop", "latitude": 123.4})

    assert "latitude: must be between -90 and 90" in str(caught.value)
    assert str(caught.value).startswith("ExakTime says: Job is not valid")
    assert set(caught.value.field_errors) == {"latitude"}
    assert exaktime_sandbox.records("job", identifier="250") == []
    assert statuses(exaktime_sandbox, "POST", JOBS) == [422]


def test_exaktime_malformed_json_is_a_clear_error_on_a_read_and_unknown_on_a_write(
    exaktime_sandbox, exaktime
):
    exaktime_sandbox.faults.set("malformed_json", method="GET", path=EMPLOYEES)
    exaktime_sandbox.faults.set("malformed_json", method="POST", path=EMPLOYEES)

    with pytest.raises(ExakTimeUnavailable) as read:
        list(exaktime.list_employees())
    with pytest.raises(ExakTimeOutcomeUnknown) as written:
        exaktime.create_employee(NEW_EMPLOYEE)

    assert str(read.value) == f"ExakTime says: an answer to {EMPLOYEES} that is not JSON (200)."
    assert "ExakTime accepted POST" in str(written.value)
    assert len(exaktime_sandbox.records("employee", identifier="1011")) == 1
    assert statuses(exaktime_sandbox) == [200, 201]


def test_exaktime_html_error_page_is_retried_then_reported_in_plain_words(
    exaktime_sandbox, exaktime, waits
):
    exaktime_sandbox.faults.set("html", status=503, count=None, path=EMPLOYEES)

    with pytest.raises(ExakTimeUnavailable) as caught:
        list(exaktime.list_employees())

    assert str(caught.value) == "ExakTime says: 503 Service Unavailable nginx (503)."
    assert statuses(exaktime_sandbox) == [503] * 7
    assert len(waits.seconds) == 6
