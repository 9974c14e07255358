"""ExakTime's error envelope, read into typed errors a person can act on."""

from __future__ import annotations

import json

import pytest
import requests

from integrations.exaktime.errors import (
    ExakTimeAuthError,
    ExakTimeConflict,
    ExakTimeError,
    ExakTimeNotFound,
    ExakTimePermissionError,
    ExakTimeUnavailable,
    ExakTimeValidationError,
    error_from_response,
)


def answer(status: int, body: object = None, *, text: str | None = None):
    response = requests.Response()
    response.status_code = status
    response.reason = "Reason"
    response._content = (text if text is not None else json.dumps(body)).encode()
    return response


def envelope(code: str, message: str, details: object = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


@pytest.mark.parametrize(
    ("status", "kind", "permanent", "hint"),
    [
        (401, ExakTimeAuthError, True, "The ExakTime API key is missing or wrong"),
        (403, ExakTimePermissionError, True, "read-only; Linx needs a read-write key"),
        (404, ExakTimeNotFound, True, None),
        (409, ExakTimeConflict, True, "already uses this ID"),
        (422, ExakTimeValidationError, True, None),
        (400, ExakTimeValidationError, True, None),
        (500, ExakTimeUnavailable, False, None),
        (503, ExakTimeUnavailable, False, None),
    ],
)
def test_each_status_has_its_error(status, kind, permanent, hint):
    error = error_from_response(answer(status, envelope("x", "Something happened.")))
    assert type(error) is kind
    assert error.permanent is permanent and error.status == status and error.service == "ExakTime"
    assert error.message.startswith(f"ExakTime says: Something happened ({status}).")
    if hint:
        assert hint in error.message


def test_validation_details_name_the_fields():
    body = envelope(
        "validation_failed",
        "Validation failed.",
        {"latitude": ["must be between -90 and 90"], "identifier": "is too long (max 30)"},
    )
    error = error_from_response(answer(422, body))
    assert isinstance(error, ExakTimeValidationError)
    assert error.field_errors == {
        "latitude": ("must be between -90 and 90",),
        "identifier": ("is too long (max 30)",),
    }
    assert error.message == (
        "ExakTime says: Validation failed: latitude: must be between -90 and 90; "
        "identifier: is too long (max 30) (422)."
    )


def test_a_body_outside_the_envelope_is_still_read():
    assert error_from_response(answer(400, {"message": "bad"})).message.startswith(
        "ExakTime says: bad (400)."
    )
    html = error_from_response(answer(502, text="<html><h1>Bad gateway</h1></html>"))
    assert html.message == "ExakTime says: Bad gateway (502)."
    assert type(error_from_response(answer(418, {}))) is ExakTimeError
