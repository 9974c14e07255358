"""Rate limits and overload, against the sandboxes: wait as told, pace before a 429 comes.

Faulted 429s and 503s are answered whatever the time, so those waits are only recorded
(and checked against what the server asked for); a tight spike window is the sandbox's
real clock, so there the client sleeps for real, in a window of one second.
"""

from __future__ import annotations

import math

from integrations.procore.sandbox import data as procore_data
from tests.against_sandboxes.conftest import Waits, exaktime_client, procore_client, statuses

USERS = f"/rest/v1.3/companies/{procore_data.COMPANY_ID}/users"
EMPLOYEES = "/v1/Common/Persons/Employees"


def active_workers(sandbox) -> list[int]:
    return [u["id"] for u in sandbox.records("user", scope=procore_data.COMPANY_ID, is_active=True)]


def test_procore_429_with_retry_after_waits_that_long_then_carries_on(
    procore_sandbox, procore, waits
):
    procore_sandbox.max_per_page = 10
    procore_sandbox.faults.set("status", status=429, retry_after=7, path=USERS, count=2)

    read = [w.id for w in procore.workers()]

    assert read == active_workers(procore_sandbox)
    assert statuses(procore_sandbox, "GET", USERS) == [429, 429, 200, 200, 200]
    assert waits.seconds == [7, 7]


def test_procore_429_without_retry_after_waits_until_the_window_resets(
    procore_sandbox, procore, waits
):
    procore_sandbox.max_per_page = 10
    # The sandbox's 429 then says only X-Rate-Limit-Remaining 0 and X-Rate-Limit-Reset.
    procore_sandbox.faults.set("status", status=429, path=USERS)

    read = [w.id for w in procore.workers()]

    assert read == active_workers(procore_sandbox)
    assert statuses(procore_sandbox, "GET", USERS) == [429, 200, 200, 200]
    (wait,) = waits.seconds
    # Reset is one second after the 429, in whole seconds, measured against its Date header.
    assert 1 <= wait <= 3


def test_procore_503_with_retry_after_waits_that_long_then_carries_on(
    procore_sandbox, procore, waits
):
    procore_sandbox.faults.set("status", status=503, retry_after=4, path=USERS)

    read = [w.id for w in procore.workers()]

    assert read == active_workers(procore_sandbox)
    assert statuses(procore_sandbox, "GET", USERS) == [503, 200]
    assert waits.seconds == [4]


def test_procore_client_paces_itself_through_a_tight_spike_window(procore_sandbox):
    procore_sandbox.max_per_page = 2  # 12 pages of workers, and a token: 13 calls
    procore_sandbox.faults.set("spike_limit", limit=10, seconds=1)
    waits = Waits(real=True)

    with procore_client(procore_sandbox, waits) as client:
        read = [w.id for w in client.workers()]

    workers = active_workers(procore_sandbox)
    assert read == workers
    logged = procore_sandbox.requests()
    assert len(logged) == 1 + math.ceil(len(workers) / 2)
    # Ten calls a second would have run into a 429 on the eleventh; pacing never did.
    assert 429 not in [e["status"] for e in logged]
    assert waits.seconds and sum(waits.seconds) < 5


def test_exaktime_429_with_retry_after_waits_that_long_then_carries_on(
    exaktime_sandbox, exaktime, waits
):
    exaktime_sandbox.faults.set("status", status=429, retry_after=3, path=EMPLOYEES)

    read = [e.id for e in exaktime.list_employees()]

    assert read == [e["id"] for e in exaktime_sandbox.records("employee")]
    assert statuses(exaktime_sandbox) == [429, 200]
    assert waits.seconds == [3]


def test_exaktime_client_waits_out_a_real_spike_window(exaktime_sandbox):
    for number in range(150):
        exaktime_sandbox.add(
            "employee", {"identifier": f"E{number}", "first_name": "Pat", "last_name": "Doe"}
        )
    exaktime_sandbox.faults.set("spike_limit", limit=1, seconds=1)
    waits = Waits(real=True)

    with exaktime_client(exaktime_sandbox, waits) as client:
        read = [e.id for e in client.list_employees()]

    assert len(read) == 152 == len(set(read))
    # The second page met the exhausted window: 429 with Retry-After, one wait, then on.
    assert statuses(exaktime_sandbox, "GET", EMPLOYEES) == [200, 429, 200]
    assert waits.seconds == [1]
