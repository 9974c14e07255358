"""Bad input from Procore, fed to imports through the sandbox (issue 8's bad-input corpus).

Each case puts one Procore record holding one bad or unusual value into the sandbox,
imports its entity, and holds Linx to SPEC.md's rule. The case ends either

- **written**: ExakTime holds the value exactly as Procore gave it (compared with ``==``
  and the same type: the same code points, hence the same UTF-8 bytes; nothing trimmed,
  normalised or escaped: escaping is the admin's job when it shows a name), or
- **failed**: the record's own row failed with a message naming the field and the
  value, and nothing was written to ExakTime for it (or **skipped** / **not created**
  where Procore's own data says the record is not to be imported);

never a crashed run (it succeeds or partly fails, never stops on an unexpected error),
and every other row of the run ends exactly as it does without the bad record (a clean
run of the same entity on another connection is the reference).

The expected outcome is the decision for that input; the case's id says it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations.procore.sandbox import data as pc
from linx.models import (
    Connection,
    EntityMapping,
    EntityType,
    Outcome,
    RunKind,
    RunStatus,
    RunTrigger,
)
from linx.sync.execute import execute
from linx.sync.runs import create_run

#: A failed record of these kinds (with a Procore id) is still listed in Mappings.
LISTED = (EntityType.EMPLOYEE, EntityType.LOCATION, EntityType.COST_CODE)

# --- what a case expects ---------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    outcome: str  # "written" | "failed" | "skipped" | "not created"
    values: dict[str, Any] = field(default_factory=dict)  # written: ExakTime field -> value
    says: tuple[str, ...] = ()  # failed/skipped: what the row's message must contain


def written(**values: Any) -> Expect:
    return Expect("written", values=values)


def failed(*says: str) -> Expect:
    return Expect("failed", says=says)


def skipped(*says: str) -> Expect:
    return Expect("skipped", says=says)


NOT_CREATED = Expect("not created")
MISSING = object()  # the key is left out of the record Procore sends


@dataclass(frozen=True)
class Kind:
    """A Procore record kind: where a case's record lives and what it becomes."""

    sandbox_kind: str
    scope: int
    base: dict[str, Any]  # a valid record; a case changes some of its fields
    entity: str  # the import entity that reads it
    row_type: str
    exaktime_kind: str


KINDS = {
    "worker": Kind(
        "user",
        pc.COMPANY_ID,
        {"employee_id": "BI-100", "first_name": "Dana", "last_name": "Okafor",
         "is_employee": True},
        "employees",
        EntityType.EMPLOYEE,
        "employee",
    ),
    "project": Kind(
        "project",
        pc.COMPANY_ID,
        {"project_number": "BI-200", "name": "Corpus Tower"},
        "locations",
        EntityType.LOCATION,
        "job",
    ),
    "sub_job": Kind(
        "sub_job",
        pc.PROJECT_PJA,  # project "PJA", number "200"
        {"code": "BI7", "name": "Corpus Wing"},
        "locations",
        EntityType.SUB_JOB,
        "job",
    ),
    "cost_code": Kind(
        "standard_cost_code",
        pc.COST_CODE_LIST,
        {"code": "3099", "full_code": "03-3099", "name": "Corpus Pour",
         "parent_id": pc.DIVISION_CONCRETE},
        "cost_codes",
        EntityType.COST_CODE,
        "cost_code",
    ),
    "crew": Kind(
        "crew",
        pc.PROJECT_PJA,
        {"name": "Corpus Crew", "employees": []},
        "crews",
        EntityType.CREW,
        "group",
    ),
}  # fmt: skip

# --- the inputs ------------------------------------------------------------------------

ARABIC_FIRST, ARABIC_LAST = "محمد", "العلي"
HEBREW = "שָׁלוֹם"  # with niqqud: combining points over the letters
DECOMPOSED = "Jose\u0301"  # "José" as e + COMBINING ACUTE ACCENT (NFD), kept so
EMOJI = "Nguyễn 👷🏽\u200d♀️"  # skin tone and a zero-width joiner sequence
RTL_OVERRIDE = "Dana\u202eakafO"  # RIGHT-TO-LEFT OVERRIDE inside a name
SCRIPT = "<script>alert(1)</script>"
LONE_SURROGATE = "Dana\ud83d"  # half of an emoji: not valid Unicode text
BIG = 10_000
NOT_A_DATE = "31/12/2026"


def case(kind: str, fields: dict[str, Any], expected: Expect, name: str):
    return pytest.param(kind, fields, expected, id=f"{kind}-{name}--{expected.outcome}")


CASES = [
    # --- workers → employees ---------------------------------------------------------
    case("worker", {"first_name": ARABIC_FIRST, "last_name": ARABIC_LAST},
         written(first_name=ARABIC_FIRST, last_name=ARABIC_LAST), "arabic-name"),
    case("worker", {"first_name": HEBREW}, written(first_name=HEBREW), "hebrew-with-niqqud"),
    case("worker", {"first_name": DECOMPOSED}, written(first_name=DECOMPOSED),
         "combining-accent-not-normalised"),
    case("worker", {"last_name": EMOJI}, written(last_name=EMOJI), "emoji-zwj-sequence"),
    case("worker", {"last_name": RTL_OVERRIDE}, written(last_name=RTL_OVERRIDE),
         "right-to-left-override"),
    case("worker", {"first_name": SCRIPT}, written(first_name=SCRIPT), "script-tag-stored-as-is"),
    case("worker", {"address": "1 Main St\nSuite 2"}, written(address1="1 Main St\nSuite 2"),
         "newline-in-address"),
    case("worker", {"email_address": "dana@bücher.example"},
         written(email="dana@bücher.example"), "unicode-email"),
    case("worker", {"first_name": "Ann\x00e"}, failed("first_name", r"'Ann\x00e'", "null character"),
         "null-byte-in-name"),
    case("worker", {"employee_id": "BI\x00100"}, failed("employee_id", r"'BI\x00100'", "null character"),
         "null-byte-in-employee-id"),
    case("worker", {"first_name": LONE_SURROGATE},
         failed("first_name", r"'Dana\ud83d'", "not valid Unicode"), "lone-surrogate"),
    case("worker", {"first_name": "A" * 50}, written(first_name="A" * 50), "name-at-limit-50"),
    case("worker", {"first_name": "ب" * 50}, written(first_name="ب" * 50),
         "arabic-name-at-limit-counts-characters-not-bytes"),
    case("worker", {"first_name": "A" * 51},
         failed("first name", repr("A" * 51), "51 characters", "at most 50"), "name-over-limit"),
    case("worker", {"first_name": "👷" * 51}, failed("first name", "51 characters", "at most 50"),
         "emoji-name-over-limit"),
    case("worker", {"last_name": "x" * BIG}, failed("last name", f"{BIG} characters"),
         "name-of-10000-characters"),
    case("worker", {"employee_id": "E" * 31}, failed("Employee ID", "31 characters", "at most 30"),
         "employee-id-over-limit"),
    case("worker", {"state_code": "CAL"}, failed("state", "'CAL'", "at most 2"), "state-over-limit"),
    case("worker", {"employee_id": None}, failed("has no Employee ID"), "employee-id-missing"),
    case("worker", {"employee_id": "   "}, failed("has no Employee ID"), "employee-id-blank"),
    case("worker", {"first_name": None}, failed("first_name", "required"),
         "first-name-missing-exaktime-requires-it"),
    case("worker", {"employee_id": 4242}, written(identifier="4242"),
         "employee-id-as-number-kept-as-its-digits"),
    case("worker", {"employee_id": 42.5}, failed("employee_id", "42.5", "not text"),
         "employee-id-as-decimal"),
    case("worker", {"employee_id": True}, failed("employee_id", "True", "not text"),
         "employee-id-as-boolean"),
    case("worker", {"first_name": ["Dana"]}, failed("first_name", "['Dana']", "not text"),
         "name-as-list"),
    case("worker", {"first_name": 123}, written(first_name="123"), "name-as-number"),
    case("worker", {"zip": 95814}, written(zip="95814"), "zip-as-number"),
    case("worker", {"is_employee": "false"}, skipped("Not an employee"), "is-employee-false-as-text"),
    case("worker", {"is_employee": "maybe"}, failed("is_employee", "'maybe'", "true or false"),
         "is-employee-not-a-boolean"),
    case("worker", {"id": "<string id>"}, written(identifier="BI-100"), "id-as-string"),
    case("worker", {"id": "abc"}, failed("Procore's id 'abc' is not an id"), "id-not-a-number"),
    case("worker", {"id": MISSING}, failed("has no id"), "id-missing"),
    case("worker", {"work_classification_id": str(pc.WC_CARPENTER)},
         written(work_classification="Carpenter"), "classification-id-as-string"),
    case("worker", {"work_classification_id": "carpenter"},
         failed("work_classification_id", "'carpenter'", "not an id"),
         "classification-id-not-a-number"),
    case("worker", {"employee_id": "1008"},
         failed("'1008' is also the Employee ID of", str(pc.WORKER_DUPLICATE_ID_A)),
         "duplicate-employee-id-in-company"),
    # --- projects → locations --------------------------------------------------------
    case("project", {"name": "برج المشروع"}, written(name="برج المشروع"), "arabic-name"),
    case("project", {"name": "Tower 🏗️"}, written(name="Tower 🏗️"), "emoji"),
    case("project", {"name": SCRIPT}, written(name=SCRIPT), "script-tag-stored-as-is"),
    case("project", {"name": "Corpus\x00Tower"},
         failed("name", r"'Corpus\x00Tower'", "null character"), "null-byte-in-name"),
    case("project", {"name": "P" * 100}, written(name="P" * 100), "name-at-limit-100"),
    case("project", {"name": "P" * 101}, failed("project name", "101 characters", "at most 100"),
         "name-over-limit"),
    case("project", {"name": None}, failed("project name is empty"), "name-missing"),
    case("project", {"project_number": None}, failed("project number is empty"),
         "number-missing"),
    case("project", {"project_number": 4711}, written(identifier="4711"), "number-as-number"),
    case("project", {"project_number": "200"},
         failed("'200' is also the project number of", "PJA"), "duplicate-project-number"),
    case("project", {"latitude": 90.0, "longitude": -180.0},
         written(latitude=90.0, longitude=-180.0), "coordinates-at-limits"),
    case("project", {"latitude": 90.0001}, failed("latitude 90.0001 is outside -90 to 90"),
         "latitude-out-of-range"),
    case("project", {"longitude": -180.5}, failed("longitude -180.5 is outside -180 to 180"),
         "longitude-out-of-range"),
    case("project", {"latitude": "38.5816", "longitude": "-121.4944"},
         written(latitude=38.5816, longitude=-121.4944), "coordinates-as-text"),
    case("project", {"latitude": "north"}, failed("latitude", "'north'", "not a number"),
         "latitude-not-a-number"),
    case("project", {"latitude": True}, failed("latitude", "True", "not a number"),
         "latitude-as-boolean"),
    case("project", {"longitude": "NaN"}, failed("longitude", "'NaN'", "not a number"),
         "longitude-nan"),
    case("project", {"start_date": "1900-01-01"}, written(start_date="1900-01-01"),
         "start-date-1900"),
    case("project", {"start_date": "2999-12-31"}, written(start_date="2999-12-31"),
         "start-date-2999"),
    case("project", {"start_date": "2026-11-18T07:00:00-08:00"}, written(start_date="2026-11-18"),
         "start-date-as-timestamp-keeps-its-date"),
    case("project", {"start_date": "2026-02-30"}, failed("start_date", "'2026-02-30'", "not a date"),
         "start-date-impossible"),
    case("project", {"start_date": NOT_A_DATE}, failed("start_date", repr(NOT_A_DATE), "not a date"),
         "start-date-malformed"),
    case("project", {"start_date": "2026-11-18junk"},
         failed("start_date", "'2026-11-18junk'", "not a date"), "start-date-trailing-junk"),
    case("project", {"start_date": 20261118}, failed("start_date", "20261118", "not a date"),
         "start-date-as-number"),
    case("project", {"state_code": "California"}, failed("state", "'California'", "at most 2"),
         "state-over-limit"),
    case("project", {"zip": 95814, "phone": 9165550100}, written(zip="95814", phone="9165550100"),
         "zip-and-phone-as-numbers"),
    # --- sub-jobs → locations "<project>.<sub-job>" ------------------------------------
    case("sub_job", {"name": "الجناح الشرقي"}, written(name="PJA.الجناح الشرقي"), "arabic-name"),
    case("sub_job", {"name": "Wing 🚧"}, written(name="PJA.Wing 🚧", identifier="200.BI7"),
         "emoji"),
    case("sub_job", {"code": 7}, written(identifier="200.7"), "code-as-number"),
    case("sub_job", {"code": None}, failed("project number and sub-job code is empty"),
         "code-missing-no-made-up-id"),
    case("sub_job", {"name": None}, failed("project and sub-job name is empty"),
         "name-missing-no-made-up-name"),
    case("sub_job", {"code": "B\x007"}, failed("code", r"'B\x007'", "null character"),
         "null-byte-in-code"),
    case("sub_job", {"name": "W" * 97},
         failed("project and sub-job name", "101 characters", "at most 100"),
         "combined-name-over-limit"),
    case("sub_job", {"code": "005"},
         failed("'200.005' is also the project number and sub-job code of", "PJA.SJB"),
         "duplicate-code-on-project"),
    # --- company cost codes → cost codes ---------------------------------------------
    case("cost_code", {"name": "صب الخرسانة"}, written(name="صب الخرسانة"), "arabic-name"),
    case("cost_code", {"name": SCRIPT}, written(name=SCRIPT), "script-tag-stored-as-is"),
    case("cost_code", {"code": 3099}, written(identifier="3099"), "code-as-number"),
    case("cost_code", {"parent_id": str(pc.DIVISION_CONCRETE)}, written(identifier="3099"),
         "division-id-as-string"),
    case("cost_code", {"parent_id": 8_199_999_999},
         failed("belongs to division id 8199999999", "does not list"), "under-missing-division"),
    case("cost_code", {"parent_id": "concrete"}, failed("parent_id", "'concrete'"),
         "division-id-not-a-number"),
    case("cost_code", {"code": None}, failed("cost code is empty"), "code-missing"),
    case("cost_code", {"name": None}, failed("cost code name is empty"), "name-missing"),
    case("cost_code", {"name": "N" * 101}, failed("cost code name", "101 characters"),
         "name-over-limit"),
    case("cost_code", {"code": "3\x00099"}, failed("code", r"'3\x00099'", "null character"),
         "null-byte-in-code"),
    case("cost_code", {"full_code": "03-3\x00099"}, failed("full_code", r"'03-3\x00099'", "null character"),
         "null-byte-in-full-code"),
    case("cost_code", {"code": "3010"}, failed("'3010' is also the cost code of"),
         "duplicate-code-in-company"),
    case("cost_code", {"name": "Concrete Labor"},
         failed("'Concrete Labor' is also the cost code name of"), "duplicate-name-in-company"),
    case("cost_code", {"active": "false"}, NOT_CREATED, "inactive-as-text-never-created"),
    case("cost_code", {"active": "maybe"}, failed("active", "'maybe'", "true or false"),
         "active-not-a-boolean"),
    # --- crews → employee groups -----------------------------------------------------
    case("crew", {"name": "Crew 🦺"}, written(name="Crew 🦺"), "emoji"),
    case("crew", {"name": SCRIPT}, written(name=SCRIPT), "script-tag-stored-as-is"),
    case("crew", {"name": 42}, written(name="42"), "name-as-number"),
    case("crew", {"name": "C" * 51}, failed("crew name", "51 characters", "at most 50"),
         "name-over-limit"),
    case("crew", {"name": None}, failed("crew name is empty"), "name-missing"),
    case("crew", {"name": ["Crew"]}, failed("name", "['Crew']", "not text"), "name-as-list"),
    case("crew", {"employees": ["abc"]}, failed("employees", "'abc'", "not an id"),
         "member-id-not-a-number"),
]  # fmt: skip


# --- running a case --------------------------------------------------------------------


def run_import(connection: Connection, entity: str):
    run = create_run(connection, RunKind.IMPORT, trigger=RunTrigger.COMMAND,
                parameters={"entities": [entity]})  # fmt: skip
    return execute(run)


@dataclass(frozen=True)
class Baseline:
    outcomes: dict[tuple[str, int | None], str]  # (entity type, Procore id) -> outcome
    stored: int  # how many records of the case's ExakTime kind there are afterwards


_BASELINES: dict[tuple[str, str], Baseline] = {}


@pytest.fixture
def baseline(sandbox_connection, procore_sandbox, exaktime_sandbox):
    """The rows of a clean import of an entity, made once per session on a connection of
    its own; the sandboxes are reset afterwards so the case starts from the same data."""

    def get(kind: Kind) -> Baseline:
        key = (kind.entity, kind.exaktime_kind)
        if key not in _BASELINES:
            reference = Connection.objects.get(pk=sandbox_connection.pk)
            reference.pk, reference.name = None, "bad-input-reference"
            reference.save()
            run = run_import(reference, kind.entity)
            _BASELINES[key] = Baseline(
                {(r.entity_type, r.procore_id): r.outcome for r in run.rows.all()},
                len(exaktime_sandbox.records(kind.exaktime_kind, scope=1)),
            )
            procore_sandbox.reset(scale="small", seed=1)
            exaktime_sandbox.reset(seed=1)
        return _BASELINES[key]

    return get


def put(procore_sandbox, kind: Kind, fields: dict[str, Any]) -> int:
    """Add the case's record to Procore's sandbox; an ``id`` is written into its body raw."""
    wanted = {k: v for k, v in fields.items() if k != "id"}
    body = procore_sandbox.add(kind.sandbox_kind, {**kind.base, **wanted}, scope=kind.scope)
    record_id = body["id"]
    if "id" in fields:
        raw = dict(body)
        if fields["id"] is MISSING:
            del raw["id"]
        else:
            raw["id"] = str(record_id) if fields["id"] == "<string id>" else fields["id"]
        procore_sandbox.store.execute(
            "UPDATE records SET body = ? WHERE kind = ? AND id = ?",
            (json.dumps(raw), kind.sandbox_kind, record_id),
        )
    return record_id


BAD_INPUT = "bad-input corpus: each case's own row (the run itself never crashed)"
BAD_INPUT_COLUMNS = ("side", "case", "outcome", "run")


@pytest.mark.parametrize(("kind_name", "fields", "expected"), CASES)
def test_bad_procore_input(
    kind_name,
    fields,
    expected,
    sandbox_connection,
    procore_sandbox,
    exaktime_sandbox,
    baseline,
    request,
    resilience_table,
):
    kind = KINDS[kind_name]
    reference = baseline(kind)
    record_id = put(procore_sandbox, kind, fields)

    run = run_import(sandbox_connection, kind.entity)

    # Never a crashed run.
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.message
    rows = list(run.rows.all())
    mine_outcome = next(
        (r.outcome for r in rows if r.procore_id == record_id and r.entity_type == kind.row_type),
        "not created",
    )
    resilience_table(
        BAD_INPUT,
        BAD_INPUT_COLUMNS,
        {"side": "import", "case": request.node.callspec.id, "outcome": mine_outcome,
         "run": run.status},
    )  # fmt: skip
    mine = [r for r in rows if r.procore_id in (record_id, None) and r.entity_type == kind.row_type]
    others = {(r.entity_type, r.procore_id): r.outcome for r in rows if r not in mine}
    # Every other row of the run ends as it does without the bad record.
    assert others == reference.outcomes
    stored = exaktime_sandbox.records(kind.exaktime_kind, scope=1)
    mapping = EntityMapping.objects.filter(
        connection=sandbox_connection, entity_type=kind.row_type, procore_id=record_id
    ).first()

    if expected.outcome == "not created":
        assert mine == []
        assert mapping is None and len(stored) == reference.stored
        return
    (row,) = mine
    if expected.outcome == "written":
        assert (row.outcome, row.message) == (Outcome.CREATED, "")
        assert mapping is not None and len(stored) == reference.stored + 1
        record = exaktime_sandbox.get(kind.exaktime_kind, int(mapping.exaktime_id))
        for name, value in expected.values.items():
            # The value exactly as given: equal and of the same type (no float for a
            # text, no "True" for a boolean, no normalised or trimmed text).
            assert (type(record[name]), record[name]) == (type(value), value), name
        return
    wanted = Outcome.FAILED if expected.outcome == "failed" else Outcome.SKIPPED
    assert row.outcome == wanted, row.message
    for fragment in expected.says:
        assert fragment in row.message
    assert row.exaktime_id == ""
    if wanted == Outcome.FAILED and row.procore_id is not None and kind.row_type in LISTED:
        # Listed in Mappings as only in Procore, linked to nothing, to link or ignore.
        assert mapping is not None and mapping.exaktime_id is None
    else:
        assert mapping is None or mapping.exaktime_id is None  # never linked
    assert len(stored) == reference.stored  # nothing was written for it
