"""Both sandboxes hold every API answer back by a set latency, as a service on the
internet is; control paths answer at once; concurrent calls wait side by side."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.management import CommandError, call_command

from integrations.exaktime.sandbox import ExakTimeSandbox
from integrations.exaktime.sandbox import data as exaktime_data
from integrations.procore.sandbox import ProcoreSandbox
from linx.management.commands.linx_sandbox import Command

LATENCY = 0.25


def timed(url: str, **kwargs) -> float:
    began = time.perf_counter()
    response = requests.get(url, timeout=10, **kwargs)
    assert response.status_code < 500
    return time.perf_counter() - began


@pytest.fixture(params=["procore", "exaktime"])
def api(request, procore_sandbox, exaktime_sandbox) -> tuple:
    """A sandbox, one of its API paths and the headers it needs."""
    if request.param == "procore":
        return procore_sandbox, "/rest/v1.0/companies", {}
    headers = {"Ocp-Apim-Subscription-Key": exaktime_data.API_KEY}
    return exaktime_sandbox, "/v1/Common/Persons/Employees", headers


def test_an_api_answer_takes_at_least_the_latency_a_control_path_does_not(api):
    sandbox, path, headers = api
    assert timed(sandbox.url + path, headers=headers) < LATENCY  # none by default
    sandbox.latency = LATENCY
    assert timed(sandbox.url + path, headers=headers) >= LATENCY
    assert timed(sandbox.url + "/_sandbox/state") < LATENCY


def test_concurrent_calls_each_wait_their_own_latency_side_by_side(api):
    sandbox, path, headers = api
    sandbox.latency = LATENCY
    began = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: timed(sandbox.url + path, headers=headers), range(4)))
    # Four in a row would take 4 x LATENCY; side by side they take about one.
    assert time.perf_counter() - began < 2.5 * LATENCY


def test_a_negative_latency_is_refused(tmp_path):
    with pytest.raises(ValueError, match="latency_ms must be 0 or more"):
        ExakTimeSandbox(tmp_path / "exaktime.sqlite3", latency_ms=-1)


def test_the_command_refuses_a_bad_latency_and_names_a_set_one(tmp_path):
    with pytest.raises(CommandError, match="--latency-ms must be between 0 and 60000"):
        call_command("linx_sandbox", "--latency-ms", "-5", "--state-dir", str(tmp_path))
    procore = ProcoreSandbox(tmp_path / "p.sqlite3", scale="small", latency_ms=80)
    exaktime = ExakTimeSandbox(tmp_path / "e.sqlite3", latency_ms=80)
    try:
        assert "80 ms added to every API answer" in Command.describe(procore, exaktime)
    finally:
        procore.store.close()
        exaktime.store.close()
