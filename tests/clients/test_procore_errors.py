"""Procore's error bodies, every shape in the contract, read to the most specific message."""

from __future__ import annotations

import json

import pytest
import requests

from integrations.procore.errors import (
    MESSAGE_HINTS,
    ProcoreAuthError,
    ProcoreError,
    ProcoreNotFound,
    ProcorePermissionError,
    ProcoreRateLimited,
    ProcoreUnavailable,
    ProcoreValidationError,
    error_from_response,
    parse_error_body,
)


def answer(status: int, body: object = None, *, text: str | None = None, headers=None):
    response = requests.Response()
    response.status_code = status
    response.reason = requests.status_codes._codes[status][0].replace("_", " ").title()
    if text is not None:
        response._content = text.encode()
        response.headers["Content-Type"] = "text/html"
    else:
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
    response.headers.update(headers or {})
    response.url = "https://api.procore.test/rest/v1.0/things"
    return response


def test_the_issue_example_reads_as_a_sentence_with_what_to_do():
    error = error_from_response(answer(403, {"message": "App is not connected to this company"}))
    assert isinstance(error, ProcorePermissionError)
    assert error.message == (
        "Procore says: App is not connected to this company (403). "
        "Install the Linx app in Procore's App Management, then reconnect."
    )
    assert error.permanent is True
    assert (error.status, error.service) == (403, "Procore")


def test_the_cost_code_rights_message_says_how_to_get_the_rights():
    error = error_from_response(
        answer(
            403, {"error": "You have insufficient rights to access the CostCode (PM209500) form."}
        )
    )
    assert error.message.startswith(
        "Procore says: You have insufficient rights to access the CostCode (PM209500) form (403)."
    )
    # The seed product's own steps to enable cost codes:
    assert "Enable/Disable Features" in error.message and "mark Cost Codes" in error.message


def test_a_missing_company_header_asks_for_the_company_on_the_connection():
    error = error_from_response(
        answer(400, {"message": "Missing Procore-Company-Id header! Set it."})
    )
    assert type(error) is ProcoreError and error.permanent
    assert error.message.endswith("Choose the Procore company on the connection.")


@pytest.mark.parametrize(
    "body", [{"message": "The access token is invalid"}, {"error": "The refresh token is invalid"}]
)
def test_invalid_tokens_say_reconnect(body):
    error = error_from_response(answer(401, body))
    assert isinstance(error, ProcoreAuthError) and error.permanent
    assert error.message.endswith("Reconnect to Procore from the connection's page.")


def test_every_hint_is_a_row_of_the_table():
    for needle, hint in MESSAGE_HINTS:
        error = error_from_response(answer(400, {"message": f"{needle} (detail)"}))
        assert error.message.endswith(hint)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": "Project not found"}, "Project not found"),
        ({"error": "Bad thing"}, "Bad thing"),
        ({"error": {"code": "x", "message": "Nested bad thing"}}, "Nested bad thing"),
        (
            {"error": "invalid_grant", "error_description": "The provided grant is invalid."},
            "The provided grant is invalid. (invalid_grant)",
        ),
        ({"errors": "Plain errors string"}, "Plain errors string"),
        (["First problem", "Second problem"], "First problem; Second problem"),
    ],
)
def test_each_body_shape_gives_its_message(body, message):
    assert parse_error_body(answer(400, body)).message == message


def test_field_errors_are_kept_per_field_and_shown_base_first():
    body = {
        "message": "Validation failed",
        "errors": {
            "hours": ["must be less than or equal to 24"],
            "base": ["Cost code is not set up on this project"],
            "date": "can't be blank",
        },
    }
    error = error_from_response(answer(422, body))
    assert isinstance(error, ProcoreValidationError) and error.permanent
    assert error.message == (
        "Procore says: Validation failed: Cost code is not set up on this project; "
        "hours: must be less than or equal to 24; date: can't be blank (422)."
    )
    assert error.field_errors == {
        "hours": ("must be less than or equal to 24",),
        "base": ("Cost code is not set up on this project",),
        "date": ("can't be blank",),
    }


def test_bulk_errors_are_kept_per_entry_index():
    body = {
        "errors": [
            {"index": 2, "message": "Cost code is not set up on this project"},
            {"index": 0, "message": "Hours must be at most 24"},
            {"index": 2, "errors": {"sub_job_id": ["is invalid"]}},
        ]
    }
    error = error_from_response(answer(422, body))
    assert isinstance(error, ProcoreValidationError)
    assert error.index_errors == {
        2: ("Cost code is not set up on this project", "sub_job_id: is invalid"),
        0: ("Hours must be at most 24",),
    }
    assert error.message == (
        "Procore says: entry 0: Hours must be at most 24; entry 2: Cost code is not set up "
        "on this project; sub_job_id: is invalid (422)."
    )


def test_an_html_page_is_stripped_and_shortened():
    page = "<html><body><h1>502 Bad Gateway</h1>" + "<p>detail</p>" * 200 + "</body></html>"
    error = error_from_response(answer(502, text=page))
    assert isinstance(error, ProcoreUnavailable) and error.permanent is False
    assert error.message.startswith("Procore says: 502 Bad Gateway detail detail")
    assert "<" not in error.message
    assert len(error.message) < 400


def test_an_empty_body_falls_back_on_the_reason():
    assert parse_error_body(answer(500, text="")).message == "Internal Server Error"


def test_a_404_explains_it_may_be_a_visibility_problem():
    error = error_from_response(answer(404, {"message": "Not Found"}))
    assert isinstance(error, ProcoreNotFound) and error.permanent
    assert "cannot see it" in error.message


def test_a_429_handed_back_is_transient_and_says_when_to_come_back():
    error = error_from_response(
        answer(
            429,
            text="You have surpassed the max number of requests",
            headers={"Retry-After": "900"},
        )
    )
    assert isinstance(error, ProcoreRateLimited)
    assert error.permanent is False and error.retry_after == 900.0


def test_a_secret_echoed_by_procore_is_blanked_out():
    body = {"message": "Invalid client_secret=cs-LEAK-0001 for token tok-LEAK-0002"}
    error = error_from_response(answer(401, body), secrets=("tok-LEAK-0002",))
    assert "cs-LEAK-0001" not in error.message and "tok-LEAK-0002" not in error.message
    assert "cs-LEAK-0001" not in repr(error)
