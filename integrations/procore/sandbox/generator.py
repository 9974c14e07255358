"""The Procore sandbox's company generator: the named cases plus seeded filler.

`generate` yields every record the sandbox starts with; the named cases and their fixed
ids live in `data`, so that tests and the demo can point at them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta

from integrations.procore.sandbox.data import (
    COMPANY_ID,
    COMPANY_NAMES,
    COST_CODE_LIST,
    CREW_CONCRETE_PJA,
    CREW_CONCRETE_RIVERSIDE,
    CREW_ELECTRICAL,
    CREW_FRAMING,
    CUSTOM_FIELDS,
    FIELDSETS,
    GENERATED_AT,
    ID_BASES,
    PJA_DELETED_CODES,
    PJA_MISSING_CODES,
    PJA_UNLINKED_CODES,
    PROJECT_ELM,
    PROJECT_HARBOR,
    PROJECT_PJA,
    PROJECT_RIVERSIDE,
    SCALES,
    SECOND_COMPANY_ID,
    SECOND_COST_CODE_LIST,
    SPECIAL_PROJECTS,
    SPECIAL_SUB_JOBS,
    SPECIAL_WORKERS,
    STANDARD_CODE_IDS,
    STANDARD_CODES,
    TIME_TYPES,
    UNCONNECTED_COMPANY_ID,
    WORK_CLASSIFICATIONS,
    WORKER_INACTIVE,
    WORKER_LINKED,
    WORKER_LONG_NAME,
    WORKER_NOT_EMPLOYEE,
    Scale,
    _ids,
)
from integrations.sandbox import iso_z

# --- Vocabulary for the filler ------------------------------------------------------------


def _words(text: str, separator: str | None = None) -> list[str]:
    return [word.strip() for word in text.split(separator)]


FIRST_NAMES = _words("""James Maria Robert Linda Michael Patricia David Jennifer Carlos
Elizabeth Daniel Susan Jose Jessica Thomas Sarah Luis Karen Miguel Nancy Anthony Lisa Mark
Ana Kevin Sandra Juan Ashley Brian Emily Ramon Donna Steven Michelle Andrew Carmen Joshua Rosa
Eric Laura Ryan Sofia Gary Angela Diego Teresa Nathan Gloria Tyler Hannah""")
LAST_NAMES = _words("""Smith Johnson Garcia Martinez Brown Davis Rodriguez Lopez Wilson
Anderson Hernandez Gonzalez Thomas Taylor Moore Jackson Perez Martin Lee Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Phillips Evans
Turner""")
STREETS = _words("""Main Oak Pine Maple Cedar Elm Washington Lake Hill Park River Sunset
Mission Broadway Highland Industrial Commerce Harbor Valley Ridge""")
CITIES = [  # (city, state, zip prefix, latitude, longitude)
    ("Sacramento", "CA", "958", 38.5816, -121.4944),
    ("Fresno", "CA", "937", 36.7378, -119.7871),
    ("Oakland", "CA", "946", 37.8044, -122.2712),
    ("San Jose", "CA", "951", 37.3382, -121.8863),
    ("Stockton", "CA", "952", 37.9577, -121.2908),
    ("Bakersfield", "CA", "933", 35.3733, -119.0187),
    ("Reno", "NV", "895", 39.5296, -119.8138),
    ("Las Vegas", "NV", "891", 36.1699, -115.1398),
    ("Phoenix", "AZ", "850", 33.4484, -112.0740),
    ("Tucson", "AZ", "857", 32.2226, -110.9747),
    ("Portland", "OR", "972", 45.5152, -122.6784),
    ("Boise", "ID", "837", 43.6150, -116.2023),
    ("Salt Lake City", "UT", "841", 40.7608, -111.8910),
    ("Spokane", "WA", "992", 47.6588, -117.4260),
]
PROJECT_KINDS = _words(
    """Medical Office|Elementary School|Parking Structure|Fire Station
|Library|Distribution Center|Apartments|Bridge Retrofit|Water Treatment Plant|Police Station
|Community Center|Hotel|Data Center|Retail Center|Transit Station|Office Tower|Senior Living
|Sports Complex|Laboratory|Courthouse""",
    "|",
)
SUB_JOB_NAMES = _words(
    """Site Work|Foundations|Structure|Envelope|Interiors|Building A
|Building B|Phase 1|Phase 2|Parking""",
    "|",
)
CREW_NAMES = _words(
    """Concrete Crew|Framing Crew|Electrical Crew|Finish Crew|Site Crew
|Steel Crew|Night Crew|Plumbing Crew""",
    "|",
)
DIVISION_NAMES = _words(
    """Existing Conditions|Masonry|Thermal and Moisture Protection
|Openings|Specialties|Equipment|Furnishings|Special Construction|Conveying Equipment
|Fire Suppression|Plumbing|HVAC|Integrated Automation|Communications
|Electronic Safety and Security|Exterior Improvements|Utilities|Transportation
|Waterway and Marine|Process Integration|Material Processing|Process Heating
|Process Gas and Liquid Handling|Pollution Control|Industry-Specific Manufacturing
|Water and Wastewater Equipment|Electrical Power Generation|Demolition|Landscaping|Signage
|Scaffolding|Safety|Quality Control|Testing and Inspection|Temporary Utilities
|Traffic Control|Dewatering|Shoring|Paving|Striping|Fencing|Roofing|Waterproofing|Glazing
|Insulation|Ceilings|Doors and Hardware|Tile|Flooring Systems|Elevators|Fire Alarm|Solar
|Irrigation|Cabinetry|Hoisting|Surveying""",
    "|",
)
WORK_ITEMS = _words(
    """Labor|Materials|Equipment|Layout|Installation|Supervision|Cleanup
|Testing|Demolition|Protection|Repairs|Coordination|Submittals|Mobilization|Punch List
|Inspection|Patching|Hauling|Overtime Premium""",
    "|",
)


# --- Generation ----------------------------------------------------------------------------

Row = tuple[str, int | None, dict]  # (kind, scope, body), as Store.insert_many takes them


def generate(scale: str = "small", seed: int = 1) -> Iterator[Row]:
    """Every record of the sandbox: the realistic company, a tiny second one, and one
    where the app is not installed."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}")
    gen = _Generator(random.Random(seed))  # noqa: S311 (sample data, not secrets)
    for company_id, name in COMPANY_NAMES.items():
        # `features` switch off what the seed's troubleshooting section describes; hidden
        # on the wire, changed with update("company", id, features={...}).
        features = {"cost_codes": True, "sub_jobs": True,
                    "app_installed": company_id != UNCONNECTED_COMPANY_ID}  # fmt: skip
        yield ("company", None, {"id": company_id, "name": name, "is_active": True,
                                 "features": features})  # fmt: skip
    yield from gen.main_company(SCALES[scale])
    yield from gen.second_company()


class _Generator:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.next_ids = {kind: base for kind, base in ID_BASES.items()}
        self.employee_numbers = iter(range(1011, 10**6))

    def new_id(self, kind: str, fixed: int | None = None) -> int:
        """The next id of a kind, or a named case's fixed id (the sequence moves past it)."""
        record_id = fixed or self.next_ids[kind]
        self.next_ids[kind] = max(self.next_ids[kind], record_id + 1)
        return record_id

    def stamp(self, body: dict) -> dict:
        updated = GENERATED_AT - timedelta(seconds=self.rng.randrange(300 * 86400))
        created = updated - timedelta(seconds=self.rng.randrange(400 * 86400))
        return {**body, "created_at": iso_z(created), "updated_at": iso_z(updated)}

    # the realistic company --------------------------------------------------------------

    def main_company(self, scale: Scale) -> Iterator[Row]:
        # Named cases first in every kind, so their fixed ids are the first ids.
        cid = COMPANY_ID
        yield from self.reference_data(cid, len(WORK_CLASSIFICATIONS))
        yield from self.custom_fields(cid)
        workers = list(self.special_workers())
        while len(workers) < scale.workers:
            workers.append(self.worker())
        yield from (("user", cid, worker) for worker in workers)
        names = {worker["id"]: worker["name"] for worker in workers}

        standard = list(self.standard_codes(cid, COST_CODE_LIST, scale.cost_codes))
        yield from standard

        projects = list(self.special_projects())
        while len(projects) < scale.projects:
            number = str(300 + len(projects))
            projects.append(self.project(cid, number, standard_cost_code_list_id=COST_CODE_LIST))
        yield from (("project", cid, project) for project in projects)
        yield from self.special_sub_jobs()
        yield from self.special_crews(names, [w["id"] for w in workers[10:20]])
        by_id = {body["id"]: body for kind, _, body in standard if kind == "standard_cost_code"}
        yield from self.pja_cost_codes(PROJECT_PJA, by_id)
        for project in projects[1:]:
            yield from self.project_cost_codes(project["id"], by_id, scale)
        active = [worker["id"] for worker in workers if worker["is_active"]]
        for project in projects[len(SPECIAL_PROJECTS) :]:
            yield from self.filler_sub_jobs(project["id"], scale.sub_jobs_per_project)
            for _ in range(self.rng.randint(0, scale.crews_per_project)):
                members = self.rng.sample(active, self.rng.randint(3, 8))
                yield self.crew(project["id"], self.rng.choice(CREW_NAMES), members, names)

    def reference_data(self, cid: int, classifications: int) -> Iterator[Row]:
        for name, abbreviation in WORK_CLASSIFICATIONS[:classifications]:
            wc_id = self.new_id("work_classification")
            yield ("work_classification", cid,
                   {"id": wc_id, "name": name, "abbreviation": abbreviation})  # fmt: skip
        for time_type, abbreviation, is_global in TIME_TYPES:
            yield ("timecard_time_type", cid, {
                "id": self.new_id("timecard_time_type"), "time_type": time_type,
                "abbreviated_time_type": abbreviation, "global": is_global,
            })  # fmt: skip

    def custom_fields(self, cid: int) -> Iterator[Row]:
        for cf_id, label, data_type, active, tool_name, entries in CUSTOM_FIELDS:
            yield ("custom_field_definition", cid, {
                "id": self.new_id("custom_field_definition", cf_id), "label": label,
                "active": active, "data_type": data_type, "description": None,
                "default_value": None, "_tool_name": tool_name,
                "custom_field_lov_entries": [
                    {"id": self.new_id("lov_entry", lov_id), "label": lov_label}
                    for lov_id, lov_label in entries
                ],
            })  # fmt: skip
        for fs_id, name, fs_type, fields in FIELDSETS:
            yield ("configurable_field_set", cid, {
                "id": self.new_id("configurable_field_set", fs_id), "name": name,
                "type": fs_type, "fields": fields,
            })  # fmt: skip

    def worker(self, **fixed) -> dict:
        rng = self.rng
        first = fixed.get("first_name") or rng.choice(FIRST_NAMES)
        last = fixed.get("last_name") or rng.choice(LAST_NAMES)
        city, state, zip_prefix, _, _ = rng.choice(CITIES)
        roll = rng.random()
        is_employee = roll >= 0.03
        body = {
            "id": self.new_id("user", fixed.get("id")),
            "employee_id": str(next(self.employee_numbers)) if is_employee else None,
            "first_name": first,
            "last_name": last,
            "email_address": f"{first}.{last[:20]}{rng.randrange(100)}@example.com".lower(),
            "address": f"{rng.randint(100, 9999)} {rng.choice(STREETS)} St",
            "city": city,
            "state_code": state,
            "zip": f"{zip_prefix}{rng.randint(10, 99)}",
            "country_code": "US",
            "mobile_phone": f"({rng.randint(200, 989)}) 555-{rng.randint(0, 9999):04d}",
            "job_title": None,
            "work_classification_id": rng.choice(_ids("work_classification", 1, 6)),
            "is_active": not 0.03 <= roll < 0.07,  # about 4% inactive
            "is_employee": is_employee,
        }
        if 0.07 <= roll < 0.075:  # the odd employee nobody gave a number
            body["employee_id"] = None
        body.update(fixed)
        body["name"] = f"{body['first_name']} {body['last_name']}"
        return self.stamp(body)

    def special_workers(self) -> Iterator[dict]:
        for worker_id, employee_id, first, last, active, employee, extra in SPECIAL_WORKERS:
            yield self.worker(id=worker_id, employee_id=employee_id, first_name=first,
                              last_name=last, is_active=active, is_employee=employee,
                              **extra)  # fmt: skip
        # Ten filler workers that the named crews use exist at every scale.
        for _ in range(10):
            yield self.worker(is_active=True, is_employee=True,
                              employee_id=str(next(self.employee_numbers)))  # fmt: skip

    def project(self, cid: int, number: str, **fixed) -> dict:
        rng = self.rng
        city, state, zip_prefix, lat, lng = rng.choice(CITIES)
        start = GENERATED_AT.date() - timedelta(days=rng.randrange(30, 900))
        body = {
            "id": self.new_id("project", fixed.get("id")),
            "project_number": number,
            "name": f"{city} {rng.choice(PROJECT_KINDS)}",
            "address": f"{rng.randint(100, 9999)} {rng.choice(STREETS)} Ave",
            "city": city,
            "state_code": state,
            "zip": f"{zip_prefix}{rng.randint(10, 99)}",
            "country_code": "US",
            "phone": f"({rng.randint(200, 989)}) 555-{rng.randint(0, 9999):04d}",
            "start_date": start.isoformat(),
            "latitude": round(lat + rng.uniform(-0.2, 0.2), 6),
            "longitude": round(lng + rng.uniform(-0.2, 0.2), 6),
            "active": rng.random() >= 0.1,
            "company": {"id": cid, "name": COMPANY_NAMES[cid]},
        }
        body.update(fixed)
        body["display_name"] = f"{body['project_number']} - {body['name']}"
        return self.stamp(body)

    def special_projects(self) -> Iterator[dict]:
        for project_id, number, name, extra in SPECIAL_PROJECTS:
            fields = {"id": project_id, "name": name, "active": True, **extra}
            yield self.project(COMPANY_ID, number, standard_cost_code_list_id=COST_CODE_LIST,
                               **fields)  # fmt: skip

    def special_sub_jobs(self) -> Iterator[Row]:
        for sub_id, project_id, code, name, active in SPECIAL_SUB_JOBS:
            yield ("sub_job", project_id, self.sub_job(code, name, active, sub_id))

    def sub_job(self, code: str, name: str, active: bool = True, fixed: int | None = None):
        body = {"id": self.new_id("sub_job", fixed), "code": code, "name": name, "active": active}
        return self.stamp(body)

    def filler_sub_jobs(self, project_id: int, most: int) -> Iterator[Row]:
        count = self.rng.randint(0, most)
        for number, name in enumerate(self.rng.sample(SUB_JOB_NAMES, count), start=1):
            yield ("sub_job", project_id, self.sub_job(f"{number:03d}", name))

    def standard_codes(self, cid: int, list_id: int, total: int) -> Iterator[Row]:
        yield ("standard_cost_code_list", cid, {"id": list_id, "name": "Standard Cost Codes"})

        def code(code: str, name: str, parent_id: int | None, full_code: str, active=True):
            body = {
                "id": self.new_id("standard_cost_code"), "code": code, "full_code": full_code,
                "name": name, "parent_id": parent_id, "origin_id": None, "active": active,
                "standard_cost_code_list_id": list_id,
            }  # fmt: skip
            return ("standard_cost_code", list_id, self.stamp(body))

        made = 0
        for division, division_name, codes in STANDARD_CODES:
            row = code(division, division_name, None, division)
            yield row
            made += 1
            for number, name, active in codes:
                yield code(number, name, row[2]["id"], f"{division}-{number}", active)
                made += 1
        # Filler divisions of 19 codes each, numbered past the named ones, names unique.
        for division_number, division_name in enumerate(DIVISION_NAMES, start=40):
            if made >= total:
                break
            row = code(str(division_number), division_name, None, str(division_number))
            yield row
            made += 1
            for item_number, item in enumerate(WORK_ITEMS, start=1):
                if made >= total:
                    break
                number = str(division_number * 1000 + item_number * 10)
                name = f"{division_name} - {item}"
                yield code(number, name, row[2]["id"], f"{division_number}-{number}")
                made += 1

    def project_code(self, project_id: int, standard: dict, parent_id: int | None, **extra):
        body = {
            "id": self.new_id("cost_code"),
            "code": standard["code"],
            "full_code": standard["full_code"],
            "name": standard["name"],
            "parent": {"id": parent_id} if parent_id else None,
            "standard_cost_code_id": standard["id"],
            "standard_cost_code_list_id": standard["standard_cost_code_list_id"],
            "biller_id": project_id,
            "biller_type": "Project",
            "deleted_at": None,
            **extra,
        }
        return ("cost_code", project_id, self.stamp(body))

    def copy_codes(self, project_id: int, chosen: list[dict], by_id: dict[int, dict], extra=None):
        """Project cost codes for these standard codes, their divisions first."""
        divisions = {}
        for standard in chosen:
            parent = by_id[standard["parent_id"]]
            if parent["id"] not in divisions:
                row = self.project_code(project_id, parent, None)
                divisions[parent["id"]] = row[2]["id"]
                yield row
            fields = extra(standard) if extra else {}
            yield self.project_code(project_id, standard, divisions[parent["id"]], **fields)

    def pja_cost_codes(self, project_id: int, by_id: dict[int, dict]) -> Iterator[Row]:
        """PJA's codes: the named ones in STANDARD_CODES order (see PJA_COST_CODE_IDS)."""
        named = [by_id[STANDARD_CODE_IDS[code]] for _, _, codes in STANDARD_CODES
                 for code, _, _ in codes if code not in PJA_MISSING_CODES]  # fmt: skip

        def extra(std: dict) -> dict:
            if std["code"] in PJA_UNLINKED_CODES:
                return {"standard_cost_code_id": None}
            if std["code"] in PJA_DELETED_CODES:
                return {"deleted_at": iso_z(GENERATED_AT - timedelta(days=3))}
            return {}

        yield from self.copy_codes(project_id, named, by_id, extra)

    def project_cost_codes(self, project_id: int, by_id: dict[int, dict], scale: Scale):
        codes = [body for body in by_id.values() if body["parent_id"] is not None]
        common = [STANDARD_CODE_IDS["1010"], STANDARD_CODE_IDS["3010"]]  # on every project
        others = [code for code in codes if code["id"] not in common]
        if scale.codes_per_project is None:  # small: every code but a couple
            gaps = self.rng.sample(others, 2)
            chosen = [code for code in codes if code not in gaps]
        else:
            chosen = [by_id[i] for i in common] + self.rng.sample(others, scale.codes_per_project)
            chosen.sort(key=lambda code: code["id"])
        # About one in seven is linked by full_code only, as codes added by hand are.
        unlinked = {code["id"] for code in chosen if self.rng.random() < 0.15}

        def extra(std: dict) -> dict:
            return {"standard_cost_code_id": None} if std["id"] in unlinked else {}

        yield from self.copy_codes(project_id, chosen, by_id, extra)

    def crew(self, project_id: int, name: str, members: list[int], names: dict, fixed=None):
        body = {
            "id": self.new_id("crew", fixed),
            "name": name,
            "project_id": project_id,
            "employees": [{"id": member, "name": names[member]} for member in members],
        }
        return ("crew", project_id, self.stamp(body))

    def special_crews(self, names: dict[int, str], filler: list[int]) -> Iterator[Row]:
        """The named crews; `filler` are the ten filler workers every scale has."""
        yield self.crew(PROJECT_PJA, "Concrete Crew",
                        [WORKER_LINKED, WORKER_LONG_NAME, WORKER_NOT_EMPLOYEE, *filler[:2]],
                        names, CREW_CONCRETE_PJA)  # fmt: skip
        yield self.crew(PROJECT_RIVERSIDE, "Concrete Crew", [WORKER_LINKED, *filler[2:4]],
                        names, CREW_CONCRETE_RIVERSIDE)  # fmt: skip
        yield self.crew(PROJECT_HARBOR, "Electrical Crew", [*filler[4:6], WORKER_INACTIVE],
                        names, CREW_ELECTRICAL)  # fmt: skip
        yield self.crew(PROJECT_ELM, "Framing Crew", filler[6:9], names, CREW_FRAMING)

    # the second company ----------------------------------------------------------------

    def second_company(self) -> Iterator[Row]:
        cid = SECOND_COMPANY_ID
        reference = list(self.reference_data(cid, 2))
        yield from reference
        # Its workers hold its own work classifications, not the first company's.
        classifications = [
            body["id"] for kind, _, body in reference if kind == "work_classification"
        ]
        workers = [
            self.worker(
                is_active=True,
                is_employee=True,
                employee_id=f"S-{n}",
                work_classification_id=classifications[n % len(classifications)],
            )
            for n in range(1, 6)
        ]
        yield from (("user", cid, worker) for worker in workers)
        yield ("standard_cost_code_list", cid, {"id": SECOND_COST_CODE_LIST, "name": "Codes"})
        division = self.stamp({
            "id": self.new_id("standard_cost_code"), "code": "01", "full_code": "01",
            "name": "General", "parent_id": None, "origin_id": None, "active": True,
            "standard_cost_code_list_id": SECOND_COST_CODE_LIST,
        })  # fmt: skip
        codes = [
            self.stamp({**division, "id": self.new_id("standard_cost_code"), "code": code,
                        "full_code": f"01-{code}", "name": name, "parent_id": division["id"]})
            for code, name in [("100", "Labor"), ("200", "Equipment"), ("300", "Materials")]
        ]  # fmt: skip
        yield from (("standard_cost_code", SECOND_COST_CODE_LIST, c) for c in [division, *codes])
        by_id = {c["id"]: c for c in [division, *codes]}
        for number, name in [("100", "Second HQ Remodel"), ("110", "Second Parking Deck")]:
            project = self.project(cid, number, name=name, active=True,
                                   standard_cost_code_list_id=SECOND_COST_CODE_LIST)  # fmt: skip
            yield ("project", cid, project)
            yield from self.copy_codes(project["id"], codes, by_id)
        names = {worker["id"]: worker["name"] for worker in workers}
        yield self.crew(project["id"], "Concrete Crew", list(names)[:3], names)
