"""The Procore sandbox's named cases: what its generated company always holds.

The company is deterministic, at a chosen scale (`generator.generate`). Every case the import and export rules name is a record with a fixed id (the constants
below), the same at every scale and seed, so tests and the demo can point at it. The
seed only varies the filler records around them. Ids all exceed 32 bits, as Procore's can.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

# Demo credentials: sandbox-only values, fine to print.
CLIENT_ID = "linx-sandbox-client"
CLIENT_SECRET = "linx-sandbox-secret"  # noqa: S105 (not a secret: the sandbox's demo value)

COMPANY_ID = 5_000_000_001  # the realistic company, at the chosen scale
SECOND_COMPANY_ID = 5_000_000_002  # a tiny second company, to prove nothing leaks across
UNCONNECTED_COMPANY_ID = 5_000_000_003  # the app is not installed there: 403
COMPANY_NAMES = {
    COMPANY_ID: "Sandbox Construction Co.",
    SECOND_COMPANY_ID: "Second Builders LLC",
    UNCONNECTED_COMPANY_ID: "Unconnected Holdings Inc.",
}

ID_BASES = {
    "company": 5_000_000_001,
    "user": 6_000_000_001,
    "project": 7_000_000_001,
    "sub_job": 7_100_000_001,
    "standard_cost_code_list": 8_000_000_001,
    "standard_cost_code": 8_100_000_001,
    "cost_code": 8_200_000_001,
    "crew": 9_000_000_001,
    "work_classification": 9_100_000_001,
    "timecard_time_type": 9_200_000_001,
    "configurable_field_set": 9_300_000_001,
    "custom_field_definition": 9_400_000_001,
    "lov_entry": 9_500_000_001,
    "timecard_entry": 9_900_000_001,
}

# When generated records were last touched: fixed, so the same seed gives the same data.
GENERATED_AT = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scale:
    workers: int
    projects: int
    cost_codes: int  # standard cost codes, divisions included
    sub_jobs_per_project: int  # the most a filler project gets
    crews_per_project: int
    codes_per_project: int | None  # None: every code but a couple


SCALES = {
    "small": Scale(workers=25, projects=8, cost_codes=31, sub_jobs_per_project=0,
                   crews_per_project=0, codes_per_project=None),
    "large": Scale(workers=5000, projects=500, cost_codes=1000, sub_jobs_per_project=4,
                   crews_per_project=2, codes_per_project=20),
}  # fmt: skip


def _ids(kind: str, first: int, last: int | None = None) -> range:
    base = ID_BASES[kind]
    return range(base + first - 1, base + (last or first))


# --- The named cases ----------------------------------------------------------------------
# Workers
WORKER_LINKED = 6_000_000_001  # employee_id "1001": ExakTime already has an employee "1001"
WORKER_NO_EMPLOYEE_ID = 6_000_000_002  # fails import: no Employee ID in Procore's Directory
WORKER_NOT_EMPLOYEE = 6_000_000_003  # is_employee false (a consultant), in a crew
WORKER_NOT_EMPLOYEE_WITH_ID = 6_000_000_004  # is_employee false although it has an employee_id
WORKER_INACTIVE = 6_000_000_005  # users/inactive, in a crew
WORKER_INACTIVE_2 = 6_000_000_006  # users/inactive
WORKER_LONG_NAME = 6_000_000_007  # last name longer than ExakTime's 50
WORKER_DUPLICATE_ID_A = 6_000_000_008  # employee_id "1008" ...
WORKER_DUPLICATE_ID_B = 6_000_000_009  # ... and "1008" again: ExakTime answers 409
WORKER_NO_CLASSIFICATION = 6_000_000_010  # work_classification_id null
# Projects and sub-jobs
PROJECT_PJA = 7_000_000_001  # "PJA", number "200": the SPEC's sub-job example
SUB_JOB_SJB = 7_100_000_001  # "SJB" code "005": location "PJA.SJB", ID "200.005"
SUB_JOB_SJC = 7_100_000_002  # "SJC" code "010"
SUB_JOB_INACTIVE = 7_100_000_003  # "SJX" code "099", active false
PROJECT_RIVERSIDE = 7_000_000_002  # two sub-jobs, a "Concrete Crew" like PJA's
PROJECT_HARBOR = 7_000_000_003  # no start date, no coordinates
PROJECT_ELM = 7_000_000_004  # number "230"
PROJECT_INACTIVE = 7_000_000_005  # active false
PROJECT_LONG_NAME = 7_000_000_006  # name longer than ExakTime's 100
PROJECT_BAD_LATITUDE = 7_000_000_007  # latitude 123.4
PROJECT_DUPLICATE_NUMBER = 7_000_000_008  # number "230" again
# Cost codes
COST_CODE_LIST = 8_000_000_001
SECOND_COST_CODE_LIST = 8_000_000_002  # the second company's
# Work classifications, time types
WORK_CLASSIFICATIONS = [  # (name, abbreviation)
    ("Carpenter", "CARP"),
    ("Electrician", "ELEC"),
    ("Laborer", "LAB"),
    ("Equipment Operator", "OPR"),
    ("Foreman", "FORE"),
    ("Plumber", "PLMB"),
]
WC_CARPENTER, WC_ELECTRICIAN, WC_LABORER, WC_OPERATOR, WC_FOREMAN, WC_PLUMBER = _ids(
    "work_classification", 1, 6
)
TIME_TYPES = [  # (time_type, abbreviated_time_type, global)
    ("Regular Time", "REG", True),
    ("Overtime", "OT", True),
    ("Double Time", "DT", True),
    ("Vacation", "VAC", False),
]
TIME_TYPE_REG, TIME_TYPE_OT, TIME_TYPE_DT, TIME_TYPE_VAC = _ids("timecard_time_type", 1, 4)
# Crews: two projects have a crew named "Concrete Crew"
CREW_CONCRETE_PJA, CREW_CONCRETE_RIVERSIDE, CREW_ELECTRICAL, CREW_FRAMING = _ids("crew", 1, 4)
# Fieldsets and custom field definitions
FIELDSET_TIMESHEET, FIELDSET_EXTRAS, FIELDSET_PROJECT = _ids("configurable_field_set", 1, 3)
(
    CF_EQUIPMENT,  # string
    CF_INSPECTION_DATE,  # date
    CF_PER_DIEM,  # boolean
    CF_WEATHER,  # lov_entry
    CF_MILEAGE,  # number: unsupported
    CF_FOREMAN_NOTES,  # string
    CF_SAFETY_GEAR,  # lov_entries: unsupported
    CF_RETIRED,  # string, active false
    CF_LONG_LABEL,  # string whose label is longer than ExakTime's 50
    CF_PERMIT,  # string of the Project fieldset (tool_name admin)
) = _ids("custom_field_definition", 1, 10)
LOV_SUNNY, LOV_RAIN, LOV_SNOW, LOV_WIND = _ids("lov_entry", 1, 4)

CUSTOM_FIELDS = [  # (id, label, data_type, active, tool_name, lov entries)
    (CF_EQUIPMENT, "Equipment Used", "string", True, "timesheets", []),
    (CF_INSPECTION_DATE, "Inspection Date", "date", True, "timesheets", []),
    (CF_PER_DIEM, "Per Diem", "boolean", True, "timesheets", []),
    (CF_WEATHER, "Weather", "lov_entry", True, "timesheets",
     [(LOV_SUNNY, "Sunny"), (LOV_RAIN, "Rain"), (LOV_SNOW, "Snow"), (LOV_WIND, "Wind")]),
    (CF_MILEAGE, "Mileage", "number", True, "timesheets", []),
    (CF_FOREMAN_NOTES, "Foreman Notes", "string", True, "timesheets", []),
    (CF_SAFETY_GEAR, "Safety Gear", "lov_entries", True, "timesheets",
     [(LOV_WIND + 1, "Hard Hat"), (LOV_WIND + 2, "Harness"), (LOV_WIND + 3, "Respirator")]),
    (CF_RETIRED, "Old Job Phase", "string", False, "timesheets", []),
    (CF_LONG_LABEL, "Supervisor confirmation of end-of-shift site walkthrough", "string",
     True, "timesheets", []),
    (CF_PERMIT, "Permit Number", "string", True, "admin", []),
]  # fmt: skip
FIELDSETS = [  # (id, name, type, fields)
    (FIELDSET_TIMESHEET, "Daily Timesheet Fields", "TimecardEntry",
     [CF_EQUIPMENT, CF_INSPECTION_DATE, CF_PER_DIEM, CF_WEATHER, CF_MILEAGE]),
    (FIELDSET_EXTRAS, "Crew Timesheet Extras", "TimecardEntry",
     [CF_FOREMAN_NOTES, CF_SAFETY_GEAR, CF_RETIRED, CF_LONG_LABEL]),
    (FIELDSET_PROJECT, "Project Information", "Project", [CF_PERMIT]),
]  # fmt: skip

# The standard cost codes every scale starts with: (division, name, [(code, name, active)]).
# A code's `code` is unique company-wide here (real Procore repeats codes under different
# divisions: see the sandbox report); `full_code` is "<division>-<code>".
STANDARD_CODES = [
    ("01", "General Requirements", [
        ("1010", "Supervision", True), ("1020", "Project Management", True),
        ("1030", "Temporary Facilities", True), ("1040", "Final Cleanup", True),
        ("1050", "Winter Protection (retired)", False),  # inactive: never imported
    ]),
    ("03", "Concrete", [
        ("3010", "Concrete Labor", True), ("3020", "Formwork", True),
        ("3030", "Reinforcing Steel", True), ("3040", "Concrete Finishing", True),
        ("3050", "Labor", True),  # same name as 5030: ExakTime answers 409 for the second
    ]),
    ("05", "Metals", [
        ("5010", "Structural Steel", True), ("5020", "Miscellaneous Metals", True),
        ("5030", "Labor", True),
    ]),
    ("06", "Wood and Plastics", [
        ("6010", "Rough Carpentry", True), ("6020", "Finish Carpentry", True),
        ("6030", "Millwork", True),
    ]),
    ("09", "Finishes", [
        ("9010", "Drywall", True), ("9020", "Painting", True), ("9030", "Flooring", True),
    ]),
    ("26", "Electrical", [
        ("26010", "Electrical Labor", True), ("26020", "Lighting", True),
        ("26030", "Low Voltage", True),
    ]),
    ("31", "Earthwork", [("31010", "Excavation", True), ("31020", "Grading", True)]),
]  # fmt: skip


def _standard_ids() -> dict[str, int]:
    ids, next_id = {}, ID_BASES["standard_cost_code"]
    for division, _, codes in STANDARD_CODES:
        ids[division], next_id = next_id, next_id + 1
        for code, _, _ in codes:
            ids[code], next_id = next_id, next_id + 1
    return ids


STANDARD_CODE_IDS = _standard_ids()  # code (or division code) -> standard cost code id
DIVISION_CONCRETE = STANDARD_CODE_IDS["03"]
STANDARD_CONCRETE_LABOR = STANDARD_CODE_IDS["3010"]
STANDARD_INACTIVE = STANDARD_CODE_IDS["1050"]
STANDARD_DUPLICATE_NAME_A = STANDARD_CODE_IDS["3050"]
STANDARD_DUPLICATE_NAME_B = STANDARD_CODE_IDS["5030"]
STANDARD_ROUGH_CARPENTRY = STANDARD_CODE_IDS["6010"]
STANDARD_DRYWALL = STANDARD_CODE_IDS["9010"]
STANDARD_ELECTRICAL_LABOR = STANDARD_CODE_IDS["26010"]

# PJA's project cost codes come first, in STANDARD_CODES order, without Electrical Labor.
PJA_MISSING_CODES = {"26010"}  # not set up on PJA: an export with it fails its row
PJA_UNLINKED_CODES = {"6010"}  # standard_cost_code_id null: found by full_code only
PJA_DELETED_CODES = {"9010"}  # deleted_at set: counts as not set up


def _pja_code_ids() -> dict[str, int]:
    ids, next_id = {}, ID_BASES["cost_code"]
    for division, _, codes in STANDARD_CODES:
        ids[division], next_id = next_id, next_id + 1
        for code, _, _ in codes:
            if code not in PJA_MISSING_CODES:
                ids[code], next_id = next_id, next_id + 1
    return ids


PJA_COST_CODE_IDS = _pja_code_ids()  # code -> PJA's project cost code id
PJA_COST_CODE_CONCRETE_LABOR = PJA_COST_CODE_IDS["3010"]
PJA_COST_CODE_ROUGH_CARPENTRY = PJA_COST_CODE_IDS["6010"]  # unlinked
PJA_COST_CODE_DRYWALL = PJA_COST_CODE_IDS["9010"]  # deleted

# What a record added by a test (`sandbox.add(kind, fields, scope=...)`) starts with.
DEFAULTS = {
    "user": {"employee_id": None, "first_name": "New", "last_name": "Worker",
             "email_address": None, "address": None, "city": None, "state_code": None,
             "zip": None, "country_code": "US", "mobile_phone": None, "job_title": None,
             "work_classification_id": None, "is_active": True, "is_employee": True},
    "project": {"project_number": None, "name": "New Project", "address": None, "city": None,
                "state_code": None, "zip": None, "country_code": "US", "phone": None,
                "start_date": None, "latitude": None, "longitude": None, "active": True,
                "standard_cost_code_list_id": COST_CODE_LIST},
    "sub_job": {"code": None, "name": None, "active": True},
    "standard_cost_code": {"code": None, "full_code": None, "name": None, "parent_id": None,
                           "origin_id": None, "active": True,
                           "standard_cost_code_list_id": COST_CODE_LIST},
    "cost_code": {"code": None, "full_code": None, "name": None, "parent": None,
                  "standard_cost_code_id": None, "biller_type": "Project", "deleted_at": None},
    "crew": {"name": None, "employees": []},
    "work_classification": {"name": None, "abbreviation": None},
    "timecard_time_type": {"time_type": None, "abbreviated_time_type": None, "global": False},
}  # fmt: skip


SPECIAL_WORKERS = [  # (id, employee_id, first name, last name, active, employee, other fields)
    (WORKER_LINKED, "1001", "Alex", "Rivera", True, True,
     {"work_classification_id": WC_CARPENTER}),
    (WORKER_NO_EMPLOYEE_ID, None, "Jordan", "Blake", True, True, {}),
    (WORKER_NOT_EMPLOYEE, None, "Priya", "Shah", True, False,
     {"job_title": "Architect (consultant)"}),
    (WORKER_NOT_EMPLOYEE_WITH_ID, "V-204", "Morgan", "Lee", True, False,
     {"job_title": "Vendor contact"}),
    (WORKER_INACTIVE, "1005", "Casey", "Moreno", False, True, {}),
    (WORKER_INACTIVE_2, "1006", "Riley", "Chen", False, True, {}),
    (WORKER_LONG_NAME, "1007", "Anneliese",
     "Wolfeschlegelsteinhausenbergerdorff-Vanderhoeven-Smith", True, True, {}),
    (WORKER_DUPLICATE_ID_A, "1008", "Sam", "Ortiz", True, True, {}),
    (WORKER_DUPLICATE_ID_B, "1008", "Sam", "Ortega", True, True, {}),
    (WORKER_NO_CLASSIFICATION, "1010", "Jamie", "Fox", True, True,
     {"work_classification_id": None}),
]  # fmt: skip
SPECIAL_PROJECTS = [  # (id, project_number, name, other fields)
    (PROJECT_PJA, "200", "PJA", {"city": "Sacramento", "state_code": "CA"}),
    (PROJECT_RIVERSIDE, "210", "Riverside Medical Office", {}),
    (PROJECT_HARBOR, "220", "Harbor Bridge Retrofit",
     {"start_date": None, "latitude": None, "longitude": None}),
    (PROJECT_ELM, "230", "Elm Street Apartments", {}),
    (PROJECT_INACTIVE, "150", "Old Warehouse Demolition", {"active": False}),
    (PROJECT_LONG_NAME, "240",
     "Municipal Water Treatment Plant Expansion, Phase Two: Clarifiers, Filtration Galleries "
     "and Pump Station", {}),
    (PROJECT_BAD_LATITUDE, "250", "Hilltop Survey Station", {"latitude": 123.4}),
    (PROJECT_DUPLICATE_NUMBER, "230", "Elm Street Apartments Annex", {}),
]  # fmt: skip
SPECIAL_SUB_JOBS = [  # (id, project, code, name, active)
    (SUB_JOB_SJB, PROJECT_PJA, "005", "SJB", True),
    (SUB_JOB_SJC, PROJECT_PJA, "010", "SJC", True),
    (SUB_JOB_INACTIVE, PROJECT_PJA, "099", "SJX", False),
    (SUB_JOB_SJB + 3, PROJECT_RIVERSIDE, "001", "Phase 1", True),
    (SUB_JOB_SJB + 4, PROJECT_RIVERSIDE, "002", "Phase 2", True),
]
