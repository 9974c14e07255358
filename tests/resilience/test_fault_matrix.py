"""The fault matrix: import and export against the sandboxes, with every fault of issue 8.

Each combination (a fault on one side) is proved by the end state of both systems, not by
the absence of an exception:

1. a **clean baseline**: the same job with no fault, on freshly reset sandboxes; what it
   leaves in ExakTime (import) or in Procore (export) is what must be there in the end;
2. both sandboxes reset again, the **fault switched on** (often mid-run, at a point chosen
   by a seeded RNG from the baseline's request count), the job run once;
3. if that run did not finish everything (it stopped, or it has failed rows the baseline
   did not have), **re-runs** of its failed rows (``rerun_failed``, at most 3, faults
   cleared), as an operator would; for the pagination faults, the next full run;
4. the **end state compared** with the baseline's:

   - rows lost: records the baseline wrote that are missing (or inactive) at the end:
     ExakTime employees, locations, cost codes, groups and categories by their ID or
     name; Procore timecard entries by ``origin_id`` (one per time record and hour kind);
   - duplicates created: an ExakTime ID or name held by two records, or a Procore
     ``origin_id`` with two entries, at any point of the case (a duplicate Linx later
     deleted counts too: Procore keeps deleted entries, marked);
   - wrong values: records present whose fields differ from the baseline's, records
     active that the baseline does not have, records active in Procore deactivated in
     ExakTime at any point, and Linx's mappings or export ledger disagreeing with what
     the other system holds.

   All three must be 0; each test fails otherwise, and the session prints the table
   (fault, side, runs, rows processed, rows lost, duplicates created, wrong values).

Most faults hit a first run (everything created); the "updates:" ones hit the run after
one, with changes made in the source meanwhile (workers renamed or made inactive, hours
corrected, punches deleted), so that updates and deletes are faulted too.

The reduced form (one or two combinations per fault kind, the small sandbox company)
runs with the rest of the suite:

    .venv/bin/python -m pytest tests/resilience -q

The full form (both sides for every fault, every fault again on a second run, six seeds
on first and second runs for the killed worker, bigger data: extra workers, shorter
Procore pages, three weeks of punches) is one command away:

    LINX_FULL_FAULT_MATRIX=1 .venv/bin/python -m pytest tests/resilience -q
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection as db

import linx.sync.execute as execute_module
from integrations.exaktime.sandbox import data as et
from integrations.procore.sandbox import data as pc
from integrations.procore.sandbox import generator
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    ExportLedgerLine,
    Outcome,
    ProcoreAuthMode,
    RunKind,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from linx.sync.execute import execute, rerun_failed
from linx.sync.runs import create_run, reap_dead_runs

FULL = os.environ.get("LINX_FULL_FAULT_MATRIX", "").strip() not in ("", "0")

ROOT = Path(__file__).resolve().parents[2]
COMPANY = pc.COMPANY_ID
ACCOUNT = et.ACCOUNT_ID
#: Weeks of generated punches the export reads (the full form: three).
WEEKS = [date(2026, 11, 16)] + ([date(2026, 11, 9), date(2026, 11, 2)] if FULL else [])
EXPORT_RANGE = {"from": min(WEEKS).isoformat(), "to": (max(WEEKS) + timedelta(days=6)).isoformat()}
#: Workers added to the small company in the full form (bigger data).
EXTRA_WORKERS = 60 if FULL else 0
#: Procore's page cap, so every list is read in several pages.
PER_PAGE = 20 if FULL else 10
MAX_RERUNS = 3
SHORT_TIMEOUT = (2.0, 0.5)  # (connect, read) seconds, for "slower than the client timeout"
SLOWER = 1.0  # how late a slow answer comes: beyond SHORT_TIMEOUT's read timeout

REST = "/rest/"
BULK = f"/rest/v1.0/companies/{COMPANY}/timesheets"
USERS = f"/rest/v1.3/companies/{COMPANY}/users"
ET_WRITES = "/v1/"  # every ExakTime collection lives under it
ET_TIME_RECORDS = "/v1/Time/TimeRecords"
ET_EMPLOYEES = "/v1/Common/Persons/Employees"
ENTRIES = f"/rest/v1.0/companies/{COMPANY}/timecard_entries"
REDIRECT_URI = "http://127.0.0.1/procore/callback/"

IMPORT_KINDS = (
    EntityType.EMPLOYEE,
    EntityType.LOCATION,
    EntityType.SUB_JOB,
    EntityType.COST_CODE,
    EntityType.CREW,
    EntityType.LOCATION_GROUP,
    EntityType.LOCATION_CATEGORY,
)
#: The ExakTime collection (sandbox kind) behind each mapped entity type.
COLLECTION_OF = {
    EntityType.EMPLOYEE: "employee",
    EntityType.LOCATION: "job",
    EntityType.SUB_JOB: "job",
    EntityType.COST_CODE: "cost_code",
    EntityType.CREW: "group",
    EntityType.LOCATION_GROUP: "group",
    EntityType.LOCATION_CATEGORY: "location_category",
}
TIMESTAMPS = ("created_at", "updated_at", "deleted_at", "modified_at")


# --- the world: both sandboxes, one connection, the clients' response hooks -----------------


@dataclass
class Trigger:
    """Do ``action`` when a response of ``service`` satisfies ``when(response, count)``."""

    service: str
    when: Callable[[requests.Response, int], bool]
    action: Callable[[], None]
    fired: bool = False


class World:
    """The sandboxes, the connection under test, and hooks on every client Linx opens.

    Linx's runs open their clients through ``linx.sync.execute.procore_client`` and
    ``exaktime_client``; those are wrapped so a test can shorten the read timeout and
    act on the wire between two responses (switch a fault on mid-run, change a list
    between its pages).
    """

    def __init__(self, procore, exaktime, monkeypatch) -> None:
        self.procore, self.exaktime = procore, exaktime
        self.connection: Connection | None = None
        self.timeout: tuple[float, float] | None = None
        self.triggers: list[Trigger] = []
        self.seen: Counter[str] = Counter()
        real_procore, real_exaktime = execute_module.procore_client, execute_module.exaktime_client

        def procore_client(connection, **options):
            return self._hooked("procore", real_procore(connection, **self._options(options)))

        def exaktime_client(connection, **options):
            return self._hooked("exaktime", real_exaktime(connection, **self._options(options)))

        monkeypatch.setattr(execute_module, "procore_client", procore_client)
        monkeypatch.setattr(execute_module, "exaktime_client", exaktime_client)

    # clients -------------------------------------------------------------------------

    def _options(self, options: dict) -> dict:
        if self.timeout is not None:
            options.setdefault("timeout", self.timeout)
        return options

    def _hooked(self, service: str, client):
        client.http.session.hooks["response"].append(
            lambda response, *args, **kwargs: self._observe(service, response)
        )
        return client

    def _observe(self, service: str, response: requests.Response) -> None:
        self.seen[service] += 1
        for trigger in self.triggers:
            due = trigger.service == service and not trigger.fired
            if due and trigger.when(response, self.seen[service]):
                trigger.fired = True
                trigger.action()

    def after(self, service: str, count: int, action: Callable[[], None]) -> None:
        """Do ``action`` once the ``count``-th response of ``service`` has come back."""
        self.triggers.append(Trigger(service, lambda response, seen: seen >= count, action))

    def after_page(self, service: str, path: str, action: Callable[[], None]) -> None:
        """Do ``action`` once page 1 of the list at ``path`` has come back (before page 2)."""

        def first_page(response, seen):
            url = urlsplit(response.url)
            query = parse_qs(url.query)
            return url.path == path and query.get("page", ["1"]) == ["1"] and response.ok

        self.triggers.append(Trigger(service, first_page, action))

    def disarm(self) -> None:
        """Faults off: no trigger left, every sandbox fault cleared, the usual timeout."""
        self.triggers.clear()
        self.procore.faults.clear()
        self.exaktime.faults.clear()
        self.timeout = None

    # data ----------------------------------------------------------------------------

    def fresh(self, *, authorization_code: bool = False) -> None:
        """Both sandboxes as generated, and a new connection to them (nothing imported)."""
        self.disarm()
        self.procore.token_lifetime = 5400
        self.procore.reset(scale="small", seed=1)
        self.procore.max_per_page = PER_PAGE
        self.exaktime.reset(seed=1)
        self._add_workers(EXTRA_WORKERS)
        if self.connection is not None:
            Connection.objects.filter(pk=self.connection.pk).delete()
        self.connection = Connection.objects.create(
            name="sandbox",
            procore_login_url=self.procore.url,
            procore_api_url=self.procore.url,
            procore_client_id=pc.CLIENT_ID,
            procore_client_secret=pc.CLIENT_SECRET,
            procore_company_id=COMPANY,
            exaktime_api_url=self.exaktime.url,
            exaktime_api_key=et.API_KEY,
            import_sub_jobs=True,
            crews_as_groups=True,
            projects_as_groups=True,
            projects_as_categories=True,
        )
        if authorization_code:
            self.connect_by_code()

    def _add_workers(self, count: int) -> None:
        classifications = [
            c["id"] for c in self.procore.records("work_classification", scope=COMPANY)
        ]
        rng = random.Random(7)
        for number in range(count):
            self.procore.add(
                "user",
                {
                    "employee_id": f"F{number:04d}",
                    "first_name": rng.choice(generator.FIRST_NAMES),
                    "last_name": rng.choice(generator.LAST_NAMES),
                    "email_address": f"fault.worker{number}@example.com",
                    "work_classification_id": rng.choice(classifications),
                },
                scope=COMPANY,
            )

    def punch(self) -> None:
        """The weeks of time records the export reads (the same ones every time)."""
        for week in WEEKS:
            self.exaktime.generate_time_records(week, seed=1)

    # the Connect button, by hand -----------------------------------------------------

    def _token(self, **form) -> dict:
        answer = requests.post(
            f"{self.procore.url}/oauth/token",
            data={**form, "client_id": pc.CLIENT_ID, "client_secret": pc.CLIENT_SECRET},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def connect_by_code(self) -> None:
        """Sign the connection in as the Connect button does (authorization code)."""
        authorize = requests.get(
            f"{self.procore.url}/oauth/authorize",
            params={
                "response_type": "code",
                "client_id": pc.CLIENT_ID,
                "redirect_uri": REDIRECT_URI,
                "state": "fault-matrix",
            },
            allow_redirects=False,
            timeout=10,
        )
        code = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"][0]
        token = self._token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        connection = Connection.objects.get(pk=self.connection.pk)
        connection.procore_auth_mode = ProcoreAuthMode.AUTHORIZATION_CODE
        connection.procore_access_token = token["access_token"]
        connection.procore_refresh_token = token["refresh_token"]
        connection.procore_token_expires_at = datetime.now(UTC) + timedelta(
            seconds=token["expires_in"]
        )
        connection.save()
        self.connection = connection

    def spend_refresh_token(self) -> None:
        """Someone else (another install, a leaked copy) uses the refresh token Linx holds."""
        refresh = Connection.objects.get(pk=self.connection.pk).procore_refresh_token
        self._token(grant_type="refresh_token", refresh_token=refresh)

    # runs ----------------------------------------------------------------------------

    def run(self, side: str, **parameters) -> SyncRun:
        kind = RunKind.IMPORT if side == "import" else RunKind.EXPORT
        if side == "export":
            parameters = {**EXPORT_RANGE, **parameters}
        return execute(
            create_run(self.connection, kind, trigger=RunTrigger.COMMAND, parameters=parameters)
        )

    def prepare(self, side: str) -> None:
        """What the side's job stands on: for an export, an import and the punches."""
        if side == "export":
            primed = self.run("import")
            assert primed.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), primed.message
            self.punch()

    def requests_made(self) -> dict[str, int]:
        """How many requests each sandbox answered, in all and by method ("procore POST")."""
        made: Counter[str] = Counter()
        for service, sandbox in (("procore", self.procore), ("exaktime", self.exaktime)):
            for request in sandbox.requests():
                made[service] += 1
                made[f"{service} {request['method']}"] += 1
        return dict(made)

    def clear_logs(self) -> None:
        self.procore.clear_requests()
        self.exaktime.clear_requests()

    # state ---------------------------------------------------------------------------

    def state(self, side: str) -> State:
        return import_state(self) if side == "import" else export_state(self)


# --- what each system holds, keyed so that two runs can be compared ------------------------


@dataclass
class State:
    """What the written system holds: key → every record with it (normalized), and
    Linx's own view (mappings or ledger) as comparable tuples."""

    records: dict[tuple, list[dict]]
    links: set[tuple]
    broken_links: int = 0
    #: For an export: how many entries each origin_id has had, deleted ones included.
    ever: dict[str, int] = field(default_factory=dict)

    def duplicates(self) -> int:
        copies = sum(len(found) - 1 for found in self.records.values() if len(found) > 1)
        doubled_once = sum(count - 1 for count in self.ever.values() if count > 1)
        return max(copies, doubled_once)

    def active(self, key: tuple) -> bool:
        return any(record.get("is_active", True) for record in self.records.get(key, []))


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "id" and k not in TIMESTAMPS}


def import_state(world: World) -> State:
    """ExakTime's collections by ID or name, references written as what they point at."""
    sandbox = world.exaktime
    every = {kind: sandbox.records(kind, scope=ACCOUNT) for kind in set(COLLECTION_OF.values())}
    keys = {
        "employee": lambda r: r["identifier"],
        "job": lambda r: r["identifier"],
        "cost_code": lambda r: r["identifier"],
        "group": lambda r: (r["group_type"], r["name"]),
        "location_category": lambda r: r["name"],
    }
    key_of = {(kind, r["id"]): keys[kind](r) for kind, found in every.items() for r in found}
    member_kind = {"employee": "employee", "location": "job", "cost_code": "cost_code"}
    records: dict[tuple, list[dict]] = defaultdict(list)
    for kind, found in every.items():
        for record in found:
            body = _strip(record)
            if kind == "job":
                body["parent_job_id"] = key_of.get(("job", record.get("parent_job_id")))
                body["category_id"] = key_of.get(("location_category", record.get("category_id")))
            if kind == "group":
                members = member_kind[record["group_type"]]
                body["member_ids"] = sorted(
                    str(key_of.get((members, m), f"missing {m}")) for m in record["member_ids"]
                )
            records[(kind, keys[kind](record))].append(body)
    links, broken = set(), 0
    for mapping in EntityMapping.objects.filter(
        connection=world.connection, entity_type__in=IMPORT_KINDS
    ):
        if not mapping.exaktime_id:
            continue
        collection = COLLECTION_OF[mapping.entity_type]
        key = key_of.get((collection, int(mapping.exaktime_id)))
        if key is None:
            broken += 1  # a mapping to a record ExakTime does not have
        links.add((mapping.entity_type, mapping.procore_id, collection, key))
    return State(dict(records), links, broken)


def export_state(world: World) -> State:
    """Procore's live timecard entries by origin_id, and the export ledger against them."""
    entries = world.procore.records("timecard_entry", scope=COMPANY)
    live = [e for e in entries if not e.get("deleted_at")]
    records: dict[tuple, list[dict]] = defaultdict(list)
    for entry in live:
        if entry.get("origin_id"):  # Linx's; the others were typed in by people
            records[("entry", entry["origin_id"])].append(_strip(entry))
    ever = Counter(e.get("origin_id") for e in entries if e.get("origin_id"))
    by_id = {e["id"]: e for e in live}
    links, broken = set(), 0
    for line in ExportLedgerLine.objects.filter(connection=world.connection):
        entry = by_id.get(line.procore_id)
        if entry is None or entry.get("origin_id") != line.origin_id:
            broken += 1  # pending, or pointing at an entry that is gone or someone else's
        links.add((line.origin_id,))
    # An entry Linx made that its ledger does not know would be created again.
    orphans = {e["origin_id"] for e in live if e.get("origin_id")} - {link[0] for link in links}
    return State(dict(records), links, broken + len(orphans), dict(ever))


@dataclass
class Verdict:
    lost: int = 0
    duplicates: int = 0
    wrong: int = 0
    details: list[str] = field(default_factory=list)

    def merge(self, other: Verdict) -> None:
        self.lost = max(self.lost, other.lost)
        self.duplicates = max(self.duplicates, other.duplicates)
        self.wrong = max(self.wrong, other.wrong)
        self.details += other.details


def compare(baseline: State, now: State, *, final: bool) -> Verdict:
    """How ``now`` falls short of the baseline (``final``: lost and extra records count)."""
    verdict = Verdict(duplicates=now.duplicates())
    if verdict.duplicates:
        verdict.details.append(
            "duplicates: "
            + ", ".join(str(key) for key, found in now.records.items() if len(found) > 1)[:500]
            + (f" (ever: {[k for k, n in now.ever.items() if n > 1][:10]})" if now.ever else "")
        )
    for key, expected in baseline.records.items():
        wanted_active = any(r.get("is_active", True) for r in expected)
        if key not in now.records:
            if final:
                verdict.lost += 1
                verdict.details.append(f"lost: {key}")
            continue
        if wanted_active and not now.active(key):
            # Active in Procore, inactive in ExakTime: lost for whoever punches with it.
            if final:
                verdict.lost += 1
            else:
                verdict.wrong += 1
            verdict.details.append(f"deactivated: {key}")
            continue
        if final and now.records[key][0] != expected[0]:
            verdict.wrong += 1
            verdict.details.append(f"differs: {key}: {expected[0]} != {now.records[key][0]}")
    if final:
        extra = [k for k in now.records if k not in baseline.records and now.active(k)]
        verdict.wrong += len(extra) + now.broken_links
        verdict.details += [f"not in the baseline: {k}" for k in extra]
        if now.broken_links:
            verdict.details.append(f"{now.broken_links} mappings or ledger lines disagree")
        missing = baseline.links - now.links
        if missing:
            verdict.wrong += len(missing)
            verdict.details.append(f"mappings missing: {sorted(missing, key=str)[:10]}")
    return verdict


# --- re-running until done, as an operator would --------------------------------------------


def failed_keys(run: SyncRun) -> set[tuple]:
    return set(
        run.rows.filter(outcome=Outcome.FAILED).values_list(
            "entity_type", "procore_id", "exaktime_id"
        )
    )


def unfinished(run: SyncRun, expected_failures: set[tuple]) -> bool:
    """Stopped early, or failed rows a clean run does not have."""
    if run.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        return True
    return bool(failed_keys(run) - expected_failures)


@dataclass
class Baseline:
    state: State
    failures: set[tuple]
    calls: dict[str, int]


#: Baselines already taken this session: the sandboxes generate the same data every time,
#: so the clean run of the same job on the same data leaves the same state.
_BASELINES: dict[tuple, Baseline] = {}


def take_baseline(world: World, side: str, spec: Spec) -> Baseline:
    """The clean run's end state (taken once per kind of job and data in a session)."""
    key = (side, spec.authorization_code, spec.setup, spec.changed_data, spec.primed, spec.edits)
    if key not in _BASELINES:
        _BASELINES[key] = _clean_run(world, side, spec)
    return _BASELINES[key]


def start_from(world: World, side: str, spec: Spec) -> dict:
    """Fresh sandboxes and connection, set up as the case says; the run's parameters."""
    world.fresh(authorization_code=spec.authorization_code)
    world.prepare(side)
    if spec.setup:
        spec.setup(world)
    if not spec.primed:
        return {}
    primed = world.run(side)
    assert primed.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), primed.message
    if spec.edits:
        spec.edits(world)
    return {"full": True} if side == "import" else {}


def _clean_run(world: World, side: str, spec: Spec) -> Baseline:
    parameters = start_from(world, side, spec)
    if spec.changed_data:
        spec.changed_data(world)
    world.clear_logs()
    run = world.run(side, **parameters)
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    return Baseline(world.state(side), failed_keys(run), world.requests_made())


# --- the faults ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One fault on one side: how to switch it on, and what the case needs around it."""

    arm: Callable[[World, random.Random, dict[str, int]], None]
    timeout: tuple[float, float] | None = None
    authorization_code: bool = False
    #: The faulted run must stop with a message containing this (lower case).
    expect_message: str | None = None
    #: Done after the faulted run, before re-running (e.g. reconnect to Procore).
    then: Callable[[World], None] | None = None
    #: Data both the baseline and the faulted run start from (after the side's setup).
    setup: Callable[[World], None] | None = None
    #: A change to the data that the baseline sees from the start (the fault makes it
    #: mid-run).
    changed_data: Callable[[World], None] | None = None
    #: Run the job cleanly first (the baseline too); the faulted run is the next one (an
    #: import reads everything again: a full pass).
    primed: bool = False
    #: Changes made in the source system between the first run and the faulted one (the
    #: baseline's too), so that the faulted run updates and deletes.
    edits: Callable[[World], None] | None = None
    #: After the faulted run (and its re-runs), the next scheduled full run.
    next_full_run: bool = False


def mid_run(world, service, rng, calls, action) -> None:
    """``action`` at a point of the run chosen by ``rng`` among the baseline's requests."""
    total = max(calls.get(service, 0), 2)
    world.after(service, rng.randint(max(1, total // 5), max(1, total * 4 // 5)), action)


def procore(kind: str, **options):
    return lambda world: world.procore.faults.set(kind, **options)


def exaktime(kind: str, **options):
    return lambda world: world.exaktime.faults.set(kind, **options)


def now(*faults):
    """Switch these faults on before the run starts (their method and path aim them)."""

    def arm(world, rng, calls):
        for fault in faults:
            fault(world)

    return arm


def midway(service: str, *faults):
    """Switch these faults on at a random point of the run (counted in ``service``'s answers)."""

    def arm(world, rng, calls):
        mid_run(world, service, rng, calls, lambda: [fault(world) for fault in faults])

    return arm


def both(*arms):
    def arm(world, rng, calls):
        for one in arms:
            one(world, rng, calls)

    return arm


def expire_tokens(world, rng, calls):
    mid_run(world, "procore", rng, calls, lambda: world.procore.faults.set("expire_tokens"))


def spent_refresh_token(world, rng, calls):
    world.spend_refresh_token()
    expire_tokens(world, rng, calls)


# Pagination that changes under the reader: Procore's users (import), ExakTime's time
# records (export). Ids sort the lists, so a record with a low id lands on page 1 and
# pushes one record over to page 2; one taken out of page 1 pulls one back.

NEW_WORKER = {
    "id": pc.ID_BASES["user"] - 1,
    "employee_id": "N0001",
    "first_name": "Paige",
    "last_name": "Turner",
    "email_address": "paige.turner@example.com",
}


def add_worker(world) -> None:
    world.procore.add("user", dict(NEW_WORKER), scope=COMPANY)


def first_page_worker(world) -> int:
    """An ordinary worker on page 1 of the users list (an employee with an Employee ID)."""
    users = world.procore.records("user", scope=COMPANY, is_active=True)
    page = sorted(users, key=lambda u: u["id"])[:PER_PAGE]
    return next(u["id"] for u in reversed(page) if u["is_employee"] and u["employee_id"])


def deactivate_worker(world) -> None:
    world.procore.update("user", first_page_worker(world), is_active=False)


def added_time_record(world) -> dict:
    first = min(world.exaktime.records("time_record", scope=ACCOUNT), key=lambda r: r["id"])
    record = {k: v for k, v in first.items() if k not in ("id", "modified_at", "revision")}
    return {**record, "id": 999_001, "is_deleted": False, "is_approved": True}


def add_time_record(world) -> None:
    world.exaktime.add("time_record", added_time_record(world), scope=ACCOUNT)


def exportable_at_the_seam(world) -> None:
    """The first record of page 2 (ExakTime pages hold 100) is one the export sends, so
    that losing it shows (the generated week ends with a punch still clocked in)."""
    records = sorted(world.exaktime.records("time_record", scope=ACCOUNT), key=lambda r: r["id"])
    model, seam = records[0], records[100]
    copied = ("employee_id", "job_id", "cost_code_id", "time_in", "time_out", "lunch_minutes")
    hours = ("regular_hours", "ot1_hours", "ot2_hours")
    world.exaktime.update(
        "time_record",
        seam["id"],
        **{name: model[name] for name in copied + hours},
        work_date=model["work_date"],
        is_deleted=False,
        is_approved=True,
    )


def move_time_record_away(world) -> None:
    """A supervisor moves a punch to another week: it leaves the list being read."""
    records = sorted(world.exaktime.records("time_record", scope=ACCOUNT), key=lambda r: r["id"])
    moved = records[10]
    world.exaktime.update("time_record", moved["id"], work_date="2026-10-05")


# The export's own look at Procore (the reconcile after a lost answer) reads timecard
# entries by pages too. Procore promises no order: an entry someone types in by hand can
# sort before Linx's (a low id here), and one they delete can vanish from page 1.

MANUAL_ENTRY = pc.ID_BASES["timecard_entry"] - 100


def first_exported_punch(world) -> dict:
    """Party, date and project of the first time record the export sends."""
    mapped = {
        kind: {
            int(m.exaktime_id): m.procore_id
            for m in EntityMapping.objects.filter(connection=world.connection, entity_type=kind)
            if m.exaktime_id
        }
        for kind in (EntityType.EMPLOYEE, EntityType.LOCATION)
    }
    for record in sorted(
        world.exaktime.records("time_record", scope=ACCOUNT), key=lambda r: r["id"]
    ):
        party = mapped[EntityType.EMPLOYEE].get(record["employee_id"])
        project = mapped[EntityType.LOCATION].get(record["job_id"])
        if party and project and record["time_out"] and not record["is_deleted"]:
            return {"party_id": party, "project_id": project, "date": record["work_date"]}
    raise AssertionError("no exportable time record")


def type_entry_by_hand(world, number: int) -> None:
    world.procore.add(
        "timecard_entry",
        {
            **first_exported_punch(world),
            "id": MANUAL_ENTRY + number,
            "hours": "1.0",
            "description": "typed in by hand in Procore",
            "origin_id": None,
            "deleted_at": None,
        },
        scope=COMPANY,
    )


def entries_typed_by_hand(world) -> None:
    for number in range(1, 4):
        type_entry_by_hand(world, number)


def delete_entry_typed_by_hand(world) -> None:
    world.procore.update("timecard_entry", MANUAL_ENTRY + 1, deleted_at="2026-11-25T00:00:00Z")


def pagination(service: str, path: str, change: Callable[[World], None]):
    def arm(world, rng, calls):
        world.after_page(service, path, lambda: change(world))

    return arm


# Second runs: what changed since the first one is updated (PUT in ExakTime, PATCH in
# Procore) or retired (deactivated, entries deleted).


def edit_in_procore(world) -> None:
    """Workers renamed and one made inactive, a project renamed."""
    workers = sorted(
        (
            u
            for u in world.procore.records("user", scope=COMPANY, is_active=True)
            if u["is_employee"] and u["employee_id"]
        ),
        key=lambda u: u["id"],
    )
    for worker in workers[2:6]:
        world.procore.update("user", worker["id"], last_name=f"{worker['last_name']}-Renamed")
    world.procore.update("user", workers[7]["id"], is_active=False)
    world.procore.update("project", pc.PROJECT_PJA, name="PJA Phase II")


def edit_in_exaktime(world) -> None:
    """Hours corrected, overtime taken off, punches deleted, and new ones."""
    records = sorted(
        (
            r
            for r in world.exaktime.records("time_record", scope=ACCOUNT)
            if r["time_out"] and not r["is_deleted"]
        ),
        key=lambda r: r["id"],
    )
    for record in records[3:8]:
        world.exaktime.update(
            "time_record", record["id"], regular_hours=max(record["regular_hours"] - 0.5, 0.5)
        )
    for record in [r for r in records if r["ot1_hours"]][:3]:
        world.exaktime.update("time_record", record["id"], ot1_hours=0)
    for record in records[20:22]:
        world.exaktime.update("time_record", record["id"], is_deleted=True)
    model = {k: v for k, v in records[0].items() if k not in ("id", "modified_at", "revision")}
    for _ in range(2):
        world.exaktime.add("time_record", {**model, "is_approved": True}, scope=ACCOUNT)


EDITS = {"import": edit_in_procore, "export": edit_in_exaktime}


def on_updates(arms: dict[str, Callable]) -> dict[str, Spec]:
    return {side: Spec(arm, primed=True, edits=EDITS[side]) for side, arm in arms.items()}


def reconnect(world) -> None:
    world.connect_by_code()


def status(service: str, code: int, count: int, **where):
    return (procore if service == "procore" else exaktime)(
        "status", status=code, count=count, **where
    )


FAULTS: dict[str, dict[str, Spec]] = {
    "Procore 500 burst": {
        "import": Spec(midway("procore", status("procore", 500, 3, path=REST))),
        "export": Spec(now(status("procore", 500, 2, method="POST", path=BULK))),
    },
    "Procore 502 burst beyond the retries": {
        "import": Spec(midway("procore", status("procore", 502, 8, path=REST))),
        "export": Spec(midway("procore", status("procore", 502, 8, path=REST))),
    },
    "Procore 504 burst": {
        "import": Spec(midway("procore", status("procore", 504, 3, path=REST))),
        "export": Spec(
            both(
                now(status("procore", 504, 1, method="POST", path=BULK)),
                midway("procore", status("procore", 504, 3, method="GET", path=REST)),
            )
        ),
    },
    "429 storm with Retry-After": {
        "import": Spec(midway("procore", status("procore", 429, 2, retry_after=1, path=REST))),
        "export": Spec(now(status("procore", 429, 2, retry_after=1, method="POST", path=BULK))),
    },
    "429 storm without Retry-After": {
        "import": Spec(
            both(
                midway("procore", status("procore", 429, 2, path=REST)),
                midway("exaktime", status("exaktime", 429, 3, path=ET_WRITES)),
            )
        ),
        "export": Spec(
            both(
                now(status("procore", 429, 2, method="POST", path=BULK)),
                now(status("exaktime", 429, 3, path=ET_TIME_RECORDS)),
            )
        ),
    },
    "429 storm longer than Linx waits": {
        "import": Spec(midway("procore", status("procore", 429, 7, retry_after=0, path=REST))),
        "export": Spec(now(status("procore", 429, 7, retry_after=0, method="POST", path=BULK))),
    },
    "Procore rate-limit window (paced)": {
        "import": Spec(now(procore("spike_limit", limit=15, seconds=1))),
        "export": Spec(now(procore("spike_limit", limit=15, seconds=1))),
    },
    "503 with Retry-After": {
        "import": Spec(
            both(
                midway("procore", status("procore", 503, 2, retry_after=1, path=REST)),
                midway("exaktime", status("exaktime", 503, 1, retry_after=1, method="POST")),
            )
        ),
        "export": Spec(
            both(
                now(status("procore", 503, 1, retry_after=1, method="POST", path=BULK)),
                midway("procore", status("procore", 503, 1, retry_after=1, method="GET")),
            )
        ),
    },
    "slower than the client timeout, reads": {
        "import": Spec(
            midway("procore", procore("slow", seconds=SLOWER, count=2, method="GET", path=REST)),
            timeout=SHORT_TIMEOUT,
        ),
        "export": Spec(
            both(
                now(exaktime("slow", seconds=SLOWER, count=1, path=ET_TIME_RECORDS)),
                midway("procore", procore("slow", seconds=SLOWER, count=1, method="GET")),
            ),
            timeout=SHORT_TIMEOUT,
        ),
    },
    "slower than the client timeout, writes": {
        "import": Spec(
            midway("exaktime", exaktime("slow", seconds=SLOWER, count=2, method="POST")),
            timeout=SHORT_TIMEOUT,
        ),
        "export": Spec(
            now(procore("slow", seconds=SLOWER, count=1, method="POST", path=BULK)),
            timeout=SHORT_TIMEOUT,
        ),
    },
    "connection dropped after the write": {
        "import": Spec(midway("exaktime", exaktime("drop_after_write", count=2, method="POST"))),
        "export": Spec(now(procore("drop_after_write", count=1, method="POST", path=BULK))),
    },
    "access token expired mid-run": {
        "import": Spec(expire_tokens),
        "export": Spec(expire_tokens),
    },
    "access token expired mid-run, Connect sign-in (refreshed)": {
        side: Spec(expire_tokens, authorization_code=True) for side in ("import", "export")
    },
    "sign-in endpoint down when the token expires": {
        side: Spec(
            midway(
                "procore",
                procore("expire_tokens"),
                status("procore", 503, 8, path="/oauth/token"),
            )
        )
        for side in ("import", "export")
    },
    "refresh token already used": {
        side: Spec(
            spent_refresh_token,
            authorization_code=True,
            expect_message="reconnect to procore",
            then=reconnect,
        )
        for side in ("import", "export")
    },
    "malformed JSON": {
        "import": Spec(
            both(
                midway("procore", procore("malformed_json", method="GET", path=REST)),
                midway("exaktime", exaktime("malformed_json", method="POST")),
            )
        ),
        "export": Spec(
            both(
                now(procore("malformed_json", method="POST", path=BULK)),
                now(exaktime("malformed_json", method="GET", path=ET_TIME_RECORDS)),
            )
        ),
    },
    "HTML error page": {
        "import": Spec(
            both(
                midway("procore", procore("html", status=502, count=2, method="GET", path=REST)),
                midway("exaktime", exaktime("html", status=503, method="POST")),
            )
        ),
        "export": Spec(
            both(
                now(procore("html", status=502, method="POST", path=BULK)),
                midway("procore", procore("html", status=500, count=2, method="GET")),
            )
        ),
    },
    "HTML page with 200 OK (a proxy's)": {
        "import": Spec(
            midway("procore", procore("html", status=200, count=1, method="GET", path=REST))
        ),
        "export": Spec(now(procore("html", status=200, count=1, method="POST", path=BULK))),
    },
    "pagination: record added between pages": {
        "import": Spec(
            pagination("procore", USERS, add_worker), changed_data=add_worker, next_full_run=True
        ),
        # An export's dates may never be read again (a schedule that exports yesterday):
        # the run itself must see every record.
        "export": Spec(
            pagination("exaktime", ET_TIME_RECORDS, add_time_record), changed_data=add_time_record
        ),
    },
    "pagination: record removed between pages": {
        "import": Spec(
            pagination("procore", USERS, deactivate_worker),
            changed_data=deactivate_worker,
            primed=True,
            next_full_run=True,
        ),
        "export": Spec(
            pagination("exaktime", ET_TIME_RECORDS, move_time_record_away),
            setup=exportable_at_the_seam,
        ),
    },
    "pagination: entry added while Linx checks Procore": {
        "export": Spec(
            both(
                now(procore("drop_after_write", count=1, method="POST", path=BULK)),
                pagination("procore", ENTRIES, lambda world: type_entry_by_hand(world, 0)),
            ),
        ),
    },
    "pagination: entry removed while Linx checks Procore": {
        "export": Spec(
            both(
                now(procore("drop_after_write", count=1, method="POST", path=BULK)),
                pagination("procore", ENTRIES, delete_entry_typed_by_hand),
            ),
            setup=entries_typed_by_hand,
        ),
    },
    "updates: connection dropped after the write": on_updates(
        {
            "import": now(exaktime("drop_after_write", count=2, method="PUT")),
            "export": now(
                procore("drop_after_write", count=2, method="PATCH"),
                procore("drop_after_write", count=1, method="DELETE"),
            ),
        }
    ),
    "updates: 500 burst on the writes": on_updates(
        {
            "import": now(status("exaktime", 500, 3, method="PUT")),
            "export": now(
                status("procore", 500, 2, method="PATCH"),
                status("procore", 500, 2, method="DELETE"),
            ),
        }
    ),
    "updates: Procore 502 burst beyond the retries mid-list": on_updates(
        {
            "import": pagination(
                "procore", USERS, lambda world: status("procore", 502, 8, path=USERS)(world)
            ),
        }
    ),
    "updates: one project's sub-jobs and crews refused (404)": on_updates(
        {
            "import": now(
                status("procore", 404, 1, method="GET", path="/rest/v1.0/sub_jobs"),
                status("procore", 404, 1, method="GET", path="/rest/v1.0/projects/"),
            ),
        }
    ),
    "updates: slower than the client timeout": {
        side: Spec(spec.arm, timeout=SHORT_TIMEOUT, primed=True, edits=EDITS[side])
        for side, spec in on_updates(
            {
                "import": now(exaktime("slow", seconds=SLOWER, count=1, method="PUT")),
                "export": now(procore("slow", seconds=SLOWER, count=1, method="PATCH")),
            }
        ).items()
    },
    "ExakTime 502 burst": {
        "import": Spec(midway("exaktime", status("exaktime", 502, 2, method="POST"))),
        "export": Spec(now(status("exaktime", 502, 3, path=ET_TIME_RECORDS))),
    },
    "ExakTime 409": {
        "import": Spec(midway("exaktime", status("exaktime", 409, 2, method="POST"))),
        "export": Spec(now(status("exaktime", 409, 1, path=ET_TIME_RECORDS))),
    },
    "ExakTime 422": {
        "import": Spec(now(status("exaktime", 422, 4, method="POST", path=ET_EMPLOYEES))),
        "export": Spec(now(status("exaktime", 422, 1, path=ET_TIME_RECORDS))),
    },
    "ExakTime 429": {
        "import": Spec(midway("exaktime", status("exaktime", 429, 8, method="POST"))),
        "export": Spec(now(status("exaktime", 429, 2, retry_after=1, path=ET_TIME_RECORDS))),
    },
}

if FULL:
    # Every fault again on a second run, with changes to send: what a first run only
    # creates, a second one updates, deletes and deactivates (a full pass for imports).
    FAULTS.update(
        {
            f"second run: {fault}": {
                side: replace(spec, primed=True, edits=EDITS[side]) for side, spec in sides.items()
            }
            for fault, sides in list(FAULTS.items())
            if not fault.startswith(("updates:", "pagination:"))
        }
    )

#: The reduced form: one or two combinations per fault kind.
REDUCED = {
    ("Procore 500 burst", "export"),
    ("Procore 502 burst beyond the retries", "import"),
    ("Procore 504 burst", "export"),
    ("429 storm with Retry-After", "export"),
    ("429 storm without Retry-After", "import"),
    ("429 storm longer than Linx waits", "import"),
    ("503 with Retry-After", "export"),
    ("slower than the client timeout, reads", "import"),
    ("slower than the client timeout, writes", "export"),
    ("connection dropped after the write", "import"),
    ("connection dropped after the write", "export"),
    ("access token expired mid-run", "import"),
    ("refresh token already used", "export"),
    ("malformed JSON", "import"),
    ("malformed JSON", "export"),
    ("HTML error page", "export"),
    ("pagination: record added between pages", "import"),
    ("pagination: record added between pages", "export"),
    ("pagination: record removed between pages", "import"),
    ("pagination: record removed between pages", "export"),
    ("pagination: entry added while Linx checks Procore", "export"),
    ("pagination: entry removed while Linx checks Procore", "export"),
    ("updates: connection dropped after the write", "export"),
    ("updates: Procore 502 burst beyond the retries mid-list", "import"),
    ("updates: one project's sub-jobs and crews refused (404)", "import"),
    ("ExakTime 409", "import"),
    ("ExakTime 422", "import"),
    ("ExakTime 429", "import"),
}


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


#: Combinations that found a bug not fixed yet: (fault, side) → what goes wrong.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def marks(fault: str, side: str) -> list:
    bug = KNOWN_BUGS.get((fault, side))
    # Strict in the reduced form, whose mid-run points always hit the bug; the full form's
    # bigger data moves them, so there a pass is no surprise.
    return [pytest.mark.xfail(reason=bug, strict=not FULL)] if bug else []


CASES = [
    pytest.param(fault, side, id=f"{slug(fault)}-{side}", marks=marks(fault, side))
    for fault, sides in FAULTS.items()
    for side in sides
    if FULL or (fault, side) in REDUCED
]


# --- one combination ---------------------------------------------------------------------


@dataclass
class Outcomes:
    runs: list[SyncRun] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    crashes: list[str] = field(default_factory=list)

    def add(self, world: World, side: str, job: Callable[[], SyncRun]) -> SyncRun:
        """Do one run; a run that raises is kept (Linx records it failed) and noted."""
        try:
            run = job()
        except Exception as error:
            self.crashes.append(f"a run crashed: {type(error).__name__}: {error}")
            kind = RunKind.IMPORT if side == "import" else RunKind.EXPORT
            run = SyncRun.objects.filter(connection=world.connection, kind=kind).latest("pk")
        self.runs.append(run)
        return run

    @property
    def rows(self) -> int:
        return sum(run.rows.count() for run in self.runs)


def settle(world: World, side: str, run: SyncRun, baseline: Baseline, out: Outcomes) -> SyncRun:
    """Re-run what is unfinished (at most MAX_RERUNS times), checking the state after each."""
    reruns = 0
    while unfinished(run, baseline.failures) and reruns < MAX_RERUNS:
        world.disarm()
        run = out.add(
            world,
            side,
            lambda previous=run: execute(rerun_failed(previous, trigger=RunTrigger.RERUN)),
        )
        reruns += 1
        out.verdict.merge(compare(baseline.state, world.state(side), final=False))
    return run


def finish(world, side, spec, baseline, out, started, fault, fault_table) -> None:
    """Settle, compare the end state, add the table's line, and assert nothing went wrong."""
    last = out.runs[-1]
    if spec.then:
        world.disarm()
        spec.then(world)
    last = settle(world, side, last, baseline, out)
    if spec.next_full_run:
        world.disarm()
        full = {"full": True} if side == "import" else {}
        last = out.add(world, side, lambda: world.run(side, **full))
    final = compare(baseline.state, world.state(side), final=True)
    out.verdict.merge(final)
    out.verdict.lost = final.lost
    fault_table(
        {
            "fault": fault,
            "side": side,
            "runs": len(out.runs),
            "rows processed": out.rows,
            "rows lost": out.verdict.lost,
            "duplicates created": out.verdict.duplicates,
            "wrong values": out.verdict.wrong,
            "seconds": f"{time.monotonic() - started:.1f}",
        }
    )
    history = "\n".join(
        f"  run #{r.pk} {r.status} {dict(r.counts)} {r.message[:300]}" for r in out.runs
    )
    problems = list(out.crashes)
    if unfinished(last, baseline.failures):
        problems.append("not finished after the re-runs")
    if out.verdict.lost or out.verdict.duplicates or out.verdict.wrong:
        problems += out.verdict.details
    if problems:
        pytest.fail("\n".join(["", *problems, "runs:", history]), pytrace=False)


@pytest.mark.parametrize(("fault", "side"), CASES)
def test_fault(fault, side, db, procore_sandbox, exaktime_sandbox, monkeypatch, fault_table):
    spec = FAULTS[fault][side]
    started = time.monotonic()
    world = World(procore_sandbox, exaktime_sandbox, monkeypatch)
    baseline = take_baseline(world, side, spec)

    parameters = start_from(world, side, spec)
    out = Outcomes()
    rng = random.Random(f"{fault}/{side}")
    world.seen.clear()
    world.timeout = spec.timeout
    spec.arm(world, rng, baseline.calls)
    run = out.add(world, side, lambda: world.run(side, **parameters))
    out.verdict.merge(compare(baseline.state, world.state(side), final=False))
    if spec.expect_message:
        assert run.status == RunStatus.FAILED, (run.status, run.message)
        assert spec.expect_message in run.message.lower(), run.message
    finish(world, side, spec, baseline, out, started, fault, fault_table)


# --- the worker process killed at random points ------------------------------------------

#: The reduced form's one seed kills the import halfway and the export late, while its
#: last bulk create is on the wire.
KILL_SEEDS = range(1, 7) if FULL else [3]
#: (side, whether the killed run is the one after a first, with changes to send).
KILL_JOBS = [("import", False), ("export", False)] + (
    [("import", True), ("export", True)] if FULL else []
)


def database_url() -> str:
    """The test database, as a URL a child process can open."""
    config = db.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(config['NAME']).resolve()}"
    user = config["USER"] or "postgres"
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    host, port = config["HOST"] or "127.0.0.1", config["PORT"] or 5432
    return f"postgres://{user}{password}@{host}:{port}/{config['NAME']}"


def command(side: str, parameters: dict) -> list[str]:
    if side == "import":
        full = ["--full"] if parameters.get("full") else []
        return [sys.executable, "manage.py", "linx_import", "sandbox", "--skip-checks", *full]
    return [
        sys.executable, "manage.py", "linx_export", "sandbox", "--skip-checks",
        "--from", EXPORT_RANGE["from"], "--to", EXPORT_RANGE["to"],
    ]  # fmt: skip


def slow_down(world: World, side: str) -> None:
    """Answers a little late while the child runs, so a kill can land anywhere: between a
    write and its answer, between two pages, while rows are being written."""
    for (service, method), seconds in SLOW[side].items():
        sandbox = world.procore if service == "procore" else world.exaktime
        path = BULK if (service, method) == ("procore", "POST") else None
        sandbox.faults.set("slow", seconds=seconds, count=None, method=method, path=path)


#: How late the sandboxes answer while the child runs, by (service, method).
SLOW = {
    "import": {("exaktime", "POST"): 0.02, ("exaktime", "PUT"): 0.02, ("procore", "GET"): 0.01},
    "export": {
        ("procore", "POST"): 0.25,
        ("procore", "PATCH"): 0.05,
        ("procore", "DELETE"): 0.05,
        ("procore", "GET"): 0.01,
    },
}


def child_waits(side: str, baseline: Baseline) -> float:
    """How long the child's run at least lasts: the sandboxes' added latency times the
    baseline's requests, shared among the requests it sends side by side (its own work
    comes on top, so a kill within this is in time)."""
    calls = baseline.calls
    return sum(
        calls.get(f"{s} {m}", 0) * seconds / side_by_side(side, s, m)
        for (s, m), seconds in SLOW[side].items()
    )


def side_by_side(side: str, service: str, method: str) -> int:
    """How many of these requests the child may have out at once (its settings)."""
    if service == "exaktime" and side == "import":
        return settings.LINX_EXAKTIME_WRITES_AT_ONCE  # ExakTime writes
    if (service, method) == ("procore", "GET"):
        return settings.LINX_PROCORE_READS_AT_ONCE  # per-project lists
    return 1


@pytest.mark.parametrize("seed", KILL_SEEDS)
@pytest.mark.parametrize(
    ("side", "updates"),
    KILL_JOBS,
    ids=[f"{side}{'-updates' if updates else ''}" for side, updates in KILL_JOBS],
)
def test_worker_killed_at_a_random_point(
    side,
    updates,
    seed,
    transactional_db,
    procore_sandbox,
    exaktime_sandbox,
    monkeypatch,
    fault_table,
):
    started = time.monotonic()
    world = World(procore_sandbox, exaktime_sandbox, monkeypatch)
    spec = Spec(now(), primed=updates, edits=EDITS[side] if updates else None)
    baseline = take_baseline(world, side, spec)
    parameters = start_from(world, side, spec)
    rng = random.Random(f"kill/{side}/{updates}/{seed}")
    # Somewhere in the run (never after its end: a kill then would prove nothing).
    delay = rng.uniform(0, 0.95 * child_waits(side, baseline))
    slow_down(world, side)

    kind = RunKind.IMPORT if side == "import" else RunKind.EXPORT
    before = set(SyncRun.objects.values_list("pk", flat=True))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "LINX_ENCRYPTION_KEYS": ",".join(settings.LINX_ENCRYPTION_KEYS),
    }
    child = subprocess.Popen(
        command(side, parameters),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        runs = SyncRun.objects.exclude(pk__in=before).filter(kind=kind)
        while not runs.filter(status=RunStatus.RUNNING).exists() and child.poll() is None:
            assert time.monotonic() < deadline, "the child never started its run"
            time.sleep(0.01)
        time.sleep(delay)
        alive = child.poll() is None
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    world.disarm()
    assert alive, f"the child was not running when killed: {err.decode()[-2000:]}"

    # The reaper finds the dead run (its heartbeat is old) and marks it failed.
    SyncRun.objects.filter(status=RunStatus.RUNNING).update(
        heartbeat_at=datetime.now(UTC) - timedelta(hours=1)
    )
    reap_dead_runs()
    killed = runs.order_by("-pk").first()
    out = Outcomes()
    if killed is None or killed.status == RunStatus.QUEUED:
        SyncRun.objects.filter(status=RunStatus.QUEUED).update(status=RunStatus.CANCELLED)
        out.add(world, side, lambda: world.run(side, **parameters))
    else:
        out.runs.append(killed)
    at_kill = world.state(side)
    out.verdict.merge(compare(baseline.state, at_kill, final=False))
    expected = baseline.state.records
    done = sum(1 for key, found in at_kill.records.items() if expected.get(key, [None])[0] in found)
    fault = f"worker killed after {delay:.2f}s (seed {seed}), {done}/{len(expected)} done"
    finish(
        world,
        side,
        spec,
        baseline,
        out,
        started,
        f"updates: {fault}" if updates else fault,
        fault_table,
    )


# --- what the matrix found, pinned down on its own ----------------------------------------


@pytest.mark.parametrize("change", [None, add_worker, deactivate_worker])
def test_a_procore_list_that_changes_between_pages_says_so(
    change, db, procore_sandbox, exaktime_sandbox, monkeypatch
):
    """Pages are offsets into the list as it is at each request: one record added or
    removed before the page being read hides or repeats another. The listing knows."""
    world = World(procore_sandbox, exaktime_sandbox, monkeypatch)
    world.fresh()
    if change:
        world.after_page("procore", USERS, lambda: change(world))
    with execute_module.procore_client(world.connection) as client:
        listing = client.workers()
        ids = [worker.id for worker in listing]
    assert len(ids) > PER_PAGE  # several pages
    assert listing.changed is (change is not None)


@pytest.mark.parametrize("change", [None, add_time_record, move_time_record_away])
def test_an_exaktime_list_that_changes_between_pages_says_so(
    change, db, procore_sandbox, exaktime_sandbox, monkeypatch
):
    world = World(procore_sandbox, exaktime_sandbox, monkeypatch)
    world.fresh()
    world.prepare("export")
    if change:
        world.after_page("exaktime", ET_TIME_RECORDS, lambda: change(world))
    told = []
    with execute_module.exaktime_client(world.connection) as client:
        records = list(
            client.time_records(
                date.fromisoformat(EXPORT_RANGE["from"]),
                date.fromisoformat(EXPORT_RANGE["to"]),
                on_changed=lambda: told.append(True),
            )
        )
    assert len(records) >= 100  # a full first page, then more
    assert told == ([True] if change else [])


def test_a_re_run_of_a_failed_project_completes_its_sub_jobs_category_and_group(
    db, procore_sandbox, exaktime_sandbox, monkeypatch
):
    """Sub-jobs written while their project's location was missing have no parent; the
    re-run that creates the location must give it to them (and the group its members)."""
    from integrations.exaktime.client import ExakTimeClient
    from integrations.exaktime.errors import ExakTimeUnavailable

    world = World(procore_sandbox, exaktime_sandbox, monkeypatch)
    world.fresh()
    project = procore_sandbox.get("project", pc.PROJECT_PJA)
    create, refused = ExakTimeClient.create_location, []

    def refuse_the_project_once(client, fields):
        if fields.get("identifier") == project["project_number"] and not refused:
            refused.append(fields)
            raise ExakTimeUnavailable("ExakTime says: Service Unavailable (503).")
        return create(client, fields)

    monkeypatch.setattr(ExakTimeClient, "create_location", refuse_the_project_once)
    first = world.run("import")
    assert refused
    assert first.rows.get(entity_type=EntityType.LOCATION, procore_id=project["id"]).outcome == (
        Outcome.FAILED
    )

    execute(rerun_failed(first, trigger=RunTrigger.RERUN))

    jobs = exaktime_sandbox.records("job", scope=ACCOUNT)
    (location,) = [j for j in jobs if j["identifier"] == project["project_number"]]
    sub_jobs = [j for j in jobs if j["identifier"].startswith(f"{project['project_number']}.")]
    (category,) = exaktime_sandbox.records("location_category", scope=ACCOUNT, name=project["name"])
    (group,) = exaktime_sandbox.records(
        "group", scope=ACCOUNT, name=project["name"], group_type="location"
    )
    assert sub_jobs
    assert {(j["parent_job_id"], j["category_id"]) for j in sub_jobs} == {
        (location["id"], category["id"])
    }
    assert sorted(group["member_ids"]) == sorted(j["id"] for j in sub_jobs)


def test_a_re_run_of_a_failed_employee_puts_them_in_their_crews_group(
    db, procore_sandbox, exaktime_sandbox, monkeypatch
):
    """A crew's group written while one of its employees could not be created lacks them;
    the re-run that creates the employee must add them to it."""
    from integrations.exaktime.client import ExakTimeClient
    from integrations.exaktime.errors import ExakTimeUnavailable

    world = World(procore_sandbox, exaktime_sandbox, monkeypatch)
    world.fresh()
    crew = procore_sandbox.records("crew")[0]
    worker = procore_sandbox.get("user", crew["employees"][-1]["id"])
    create, refused = ExakTimeClient.create_employee, []

    def refuse_the_worker_once(client, fields):
        if fields.get("identifier") == worker["employee_id"] and not refused:
            refused.append(fields)
            raise ExakTimeUnavailable("ExakTime says: Service Unavailable (503).")
        return create(client, fields)

    monkeypatch.setattr(ExakTimeClient, "create_employee", refuse_the_worker_once)
    first = world.run("import")
    assert refused
    assert first.rows.get(entity_type=EntityType.EMPLOYEE, procore_id=worker["id"]).outcome == (
        Outcome.FAILED
    )

    execute(rerun_failed(first, trigger=RunTrigger.RERUN))

    (employee,) = exaktime_sandbox.records(
        "employee", scope=ACCOUNT, identifier=worker["employee_id"]
    )
    (group,) = exaktime_sandbox.records(
        "group", scope=ACCOUNT, name=crew["name"], group_type="employee"
    )
    assert employee["id"] in group["member_ids"]
