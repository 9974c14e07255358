"""The ExakTime sandbox: ExakTime's API as Linx uses it served over loopback.

Each collection of the contract is a `Collection` below (its path, fields and limits, as
data); the same four handlers serve them all: list, get, create (POST) and whole-object
update (PUT). There is no delete, except the sandbox-only delete of a time record, which
marks it `is_deleted` as ExakTime does when a punch is removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from integrations.exaktime.sandbox import data
from integrations.sandbox import (
    Abort,
    RateState,
    Request,
    Response,
    SandboxServer,
    field_sql,
    route,
    utc_now,
)

ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 409: "duplicate", 422: "validation_failed", 429: "rate_limited",
    500: "server_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout",
}  # fmt: skip


@dataclass(frozen=True)
class Field:
    """One field of a collection and its limits, as the contract states them."""

    kind: (
        str  # text | bool | date | datetime | number | count | id | ids | choice | strings | object
    )
    max_length: int | None = None
    required: bool = False
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    ref: str | None = None  # the kind an id (or ids) points at


@dataclass(frozen=True)
class Collection:
    kind: str
    path: str
    label: str
    fields: dict[str, Field]
    unique: tuple[tuple[str, ...], ...] = ()  # each a set of fields unique together
    server_fields: tuple[str, ...] = ("id",)  # sent back on PUT, set by the server
    filters: dict[str, str] = field(default_factory=dict)


def _text(max_length: int, required: bool = False) -> Field:
    return Field("text", max_length, required)


ACTIVE = Field("bool", default=True)
COLLECTIONS = [
    Collection("employee", "/v1/Common/Persons/Employees", "Employee", {
        "identifier": _text(30, required=True), "first_name": _text(50, required=True),
        "last_name": _text(50, required=True), "email": _text(100), "address1": _text(100),
        "city": _text(50), "state": _text(2), "zip": _text(10), "phone": _text(20),
        "work_classification": _text(50), "is_active": ACTIVE,
    }, unique=(("identifier",),)),
    Collection("job", "/v1/Time/Jobs", "Job", {
        "identifier": _text(30, required=True), "name": _text(100, required=True),
        "address1": _text(100), "city": _text(50), "state": _text(2), "zip": _text(10),
        "phone": _text(20), "start_date": Field("date"),
        "latitude": Field("number", low=-90, high=90),
        "longitude": Field("number", low=-180, high=180), "is_active": ACTIVE,
        "parent_job_id": Field("id", ref="job"),
        "category_id": Field("id", ref="location_category"),
    }, unique=(("identifier",),)),
    Collection("cost_code", "/v1/Time/CostCodes", "Cost code", {
        "identifier": _text(30, required=True), "name": _text(100, required=True),
        "is_active": ACTIVE,
    }, unique=(("identifier",), ("name",))),
    Collection("group", "/v1/Time/Groups", "Group", {
        "name": _text(50, required=True),
        "group_type": Field("choice", required=True, choices=("employee", "location", "cost_code")),
        "member_ids": Field("ids", default=[]), "show_in_mobile": Field("bool", default=True),
    }, unique=(("name", "group_type"),)),
    Collection("location_category", "/v1/Time/LocationCategories", "Location category", {
        "name": _text(50, required=True),
    }, unique=(("name",),)),
    Collection("custom_field", "/v1/Time/CustomFields", "Custom field", {
        "name": _text(50, required=True),
        "field_type": Field("choice", required=True, choices=("text", "date", "checkbox", "select")),
        "max_length": Field("count", low=1, high=255), "options": Field("strings"),
        "is_active": ACTIVE,
    }, unique=(("name",),)),
    Collection("time_record", "/v1/Time/TimeRecords", "Time record", {
        "employee_id": Field("id", required=True, ref="employee"),
        "job_id": Field("id", required=True, ref="job"),
        "cost_code_id": Field("id", ref="cost_code"), "work_date": Field("date", required=True),
        "time_in": Field("datetime", required=True), "time_out": Field("datetime"),
        "lunch_minutes": Field("count", default=0, low=0, high=1440),
        "regular_hours": Field("number", low=0, high=24), "ot1_hours": Field("number", low=0, high=24),
        "ot2_hours": Field("number", low=0, high=24), "is_approved": Field("bool", default=False),
        "custom_fields": Field("object", default={}), "is_deleted": Field("bool", default=False),
    }, server_fields=("id", "modified_at", "revision")),
]  # fmt: skip
BY_KIND = {collection.kind: collection for collection in COLLECTIONS}
GROUP_MEMBERS = {"employee": "employee", "location": "job", "cost_code": "cost_code"}


def fail(status: int, message: str, details: dict | None = None) -> Abort:
    """An ExakTime error answer: {"error": {"code", "message", "details"}}."""
    return Abort(status, body=envelope(status, message, details))


def envelope(status: int, message: str, details: dict | None = None) -> dict:
    code = ERROR_CODES.get(status, "error")
    return {"error": {"code": code, "message": message, "details": details or {}}}


class ExakTimeSandbox(SandboxServer):
    """ExakTime's REST collections for the sandbox accounts (see `data`)."""

    name = "exaktime"
    id_bases = data.ID_BASES
    generate_defaults = {"seed": 1}

    def __init__(
        self,
        state_path: str | Path | None = None,
        *,
        seed: int | None = None,
        reset: bool = False,
        **server_options: Any,
    ):
        """`seed` None: whatever the state file holds (1 when empty)."""
        super().__init__(state_path, **server_options)
        for collection in COLLECTIONS:
            self.add_route("GET", collection.path, partial(self.list_records, collection))
            self.add_route("POST", collection.path, partial(self.create_record, collection))
            self.add_route("GET", collection.path + "/{id}", partial(self.show_record, collection))
            self.add_route(
                "PUT", collection.path + "/{id}", partial(self.replace_record, collection)
            )
        self.load(reset=reset, seed=seed)

    # data and hooks -----------------------------------------------------------------

    def generate(self, seed: int = 1) -> None:
        self.store.insert_many(data.generate(seed))
        self.store.kv_set("api_keys", data.API_KEYS)
        self.store.kv_set("generated", {"seed": seed})

    def generate_time_records(
        self, week_start: date | None = None, seed: int | None = None, account_id: int = 1
    ) -> int:
        """Punch a week for the active employees and jobs there are (see data); how many."""
        seed = seed if seed is not None else self.store.kv_get("generated", {}).get("seed", 1)
        return data.generate_time_records(
            self.store, week_start or data.last_week(), seed, account_id
        )

    def summary(self) -> dict:
        keys = self.store.kv_get("api_keys", {})
        return {
            **super().summary(),
            "api_keys": [
                {"key": key, "account_id": account, "read_only": read_only}
                for key, (account, read_only) in keys.items()
            ],
        }

    def touch(self, kind: str, body: dict) -> dict:
        if kind == "time_record":  # a change in ExakTime moves the record's revision
            return {**body, "revision": body.get("revision", 0) + 1, "modified_at": _now()}
        return body

    def defaults(self, kind: str) -> dict:
        return _defaults(BY_KIND[kind]) if kind in BY_KIND else {}

    def add(self, kind: str, fields: dict, *, scope: int | None = None) -> dict:
        return super().add(kind, fields, scope=scope or data.ACCOUNT_ID)

    def error_body(self, status: int, message: str) -> Any:
        return envelope(status, message)

    def rate_limited(self, state: RateState) -> Response:
        retry = {"Retry-After": str(max(state.retry_after, 1))}
        return Response(429, envelope(429, "Rate limit exceeded. Try again later."), retry)

    # who is asking ------------------------------------------------------------------

    def account(self, req: Request, *, write: bool = False) -> int:
        """The account an API key opens (401 without a valid key, 403 writing read-only)."""
        key = req.headers.get("Ocp-Apim-Subscription-Key")
        found = self.store.kv_get("api_keys", {}).get(key or "")
        if found is None:
            raise fail(401, "Access denied due to missing or invalid subscription key. Make "
                            "sure to include a valid key when making requests to the API.")  # fmt: skip
        account_id, read_only = found
        if write and read_only:
            raise fail(403, "This API key is read-only: it cannot create or change records.")
        return account_id

    # the four handlers of every collection ------------------------------------------

    def list_records(self, collection: Collection, req: Request) -> dict:
        """`page` (from 1) and `page_size` (1..100, default 50), plus time record filters."""
        account_id = self.account(req)
        page, size = req.int_arg("page", 1), req.int_arg("page_size", 50)
        if page < 1:
            raise fail(400, "page must be 1 or more", {"page": "must be 1 or more"})
        if not 1 <= size <= 100:
            raise fail(400, "page_size must be between 1 and 100",
                       {"page_size": "must be between 1 and 100"})  # fmt: skip
        where = time_record_filters(req) if collection.kind == "time_record" else []
        query = {"scope": account_id, "where": where}
        total = self.store.count(collection.kind, **query)
        records = self.store.select(collection.kind, limit=size, offset=(page - 1) * size, **query)
        return {"data": records, "page": page, "page_size": size, "total_count": total}

    def show_record(self, collection: Collection, req: Request) -> dict:
        return self.find(collection, self.account(req), req.params["id"])

    def create_record(self, collection: Collection, req: Request) -> Response:
        """201 with the stored record. Time records: the sandbox's simulated punches."""
        account_id = self.account(req, write=True)
        with self.store.transaction():
            body = self.clean(collection, account_id, req.json())
            if collection.kind == "time_record":
                body.update(revision=1, modified_at=_now())
            stored = self.store.insert(collection.kind, body, scope=account_id)
        return Response(201, stored)

    def replace_record(self, collection: Collection, req: Request) -> dict:
        """PUT takes the whole object: a field left out goes back to its default."""
        account_id = self.account(req, write=True)
        with self.store.transaction():
            current = self.find(collection, account_id, req.params["id"])
            body = self.clean(collection, account_id, req.json(), current["id"])
            if collection.kind == "time_record":
                body.update(revision=current["revision"] + 1, modified_at=_now())
            return self.store.replace(collection.kind, {"id": current["id"], **body})

    @route("DELETE", "/v1/Time/TimeRecords/{id}")
    def delete_time_record(self, req: Request) -> dict:
        """Sandbox only: a punch removed in ExakTime stays listed, marked is_deleted."""
        account_id = self.account(req, write=True)
        with self.store.transaction():
            record = self.find(BY_KIND["time_record"], account_id, req.params["id"])
            record.update(is_deleted=True, revision=record["revision"] + 1, modified_at=_now())
            return self.store.replace("time_record", record)

    @route("POST", "/_sandbox/time_records")
    def _punch_week(self, req: Request) -> dict:
        """A generated week of punches: {"week_start": "YYYY-MM-DD", "seed", "account_id"}
        (all optional: last week, the data's seed, the main account)."""
        options = req.json() or {}
        try:
            week = options.get("week_start")
            created = self.generate_time_records(
                date.fromisoformat(week) if week else None,
                options.get("seed"),
                options.get("account_id", data.ACCOUNT_ID),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise Abort(400, body={"error": str(exc)}) from None
        return {"created": created}

    def find(self, collection: Collection, account_id: int, record_id: int) -> dict:
        record = self.store.get(collection.kind, record_id, scope=account_id)
        if record is None:
            raise fail(404, f"{collection.label} {record_id} not found")
        return record

    # validation ---------------------------------------------------------------------

    def clean(self, collection: Collection, account_id: int, sent: Any, record_id=None) -> dict:
        """The record to store from a client's body: 400 not an object, 422 naming each bad
        field, 409 for a duplicate. Nothing is ever truncated or altered."""
        if not isinstance(sent, dict):
            raise fail(400, "The request body must be a JSON object")
        problems: dict[str, str] = {}
        for name in sent:
            if name not in collection.fields and name not in collection.server_fields:
                problems[name] = f"is not a field of {collection.label.lower()}s"
        if record_id is not None and sent.get("id") not in (None, record_id):
            problems["id"] = "does not match the id in the URL"
        body = {}
        for name, spec in collection.fields.items():
            value = sent.get(name)
            if value is None or (value == "" and spec.kind == "text"):
                if spec.required:
                    problems[name] = "is required"
                body[name] = _copy(spec.default) if value is None else value
                continue
            problem = check(spec, value) or self._reference(spec, account_id, value)
            if problem:
                problems[name] = problem
            body[name] = value
        problems.update(self._rules(collection, account_id, body, record_id))
        if problems:  # the details name each field and what is wrong with it
            raise fail(422, f"{collection.label} is not valid", problems)
        self._unique(collection, account_id, body, record_id)
        return body

    def _reference(self, spec: Field, account_id: int, value: Any) -> str | None:
        if spec.kind == "id" and spec.ref and not self.store.get(spec.ref, value, scope=account_id):
            return f"{BY_KIND[spec.ref].label.lower()} {value} does not exist"
        return None

    def _rules(self, collection: Collection, account_id: int, body: dict, record_id) -> dict:
        """Checks across fields of one collection."""
        problems = {}
        kind = collection.kind
        if kind == "job" and record_id is not None and body["parent_job_id"] == record_id:
            problems["parent_job_id"] = "a job cannot be its own parent"
        if kind == "group" and body["group_type"] in GROUP_MEMBERS and body["member_ids"]:
            member_kind = GROUP_MEMBERS[body["group_type"]]
            missing = [
                member for member in body["member_ids"]
                if not self.store.get(member_kind, member, scope=account_id)
            ]  # fmt: skip
            if missing:
                problems["member_ids"] = f"no {member_kind} with id {', '.join(map(str, missing))}"
        if kind == "custom_field":
            if body["field_type"] == "text":
                body["max_length"] = body["max_length"] or 255
            elif body["max_length"] is not None:
                problems["max_length"] = "is for text fields only"
            if body["field_type"] == "select" and not body["options"]:
                problems["options"] = "a select field needs at least one option"
            elif body["field_type"] != "select" and body["options"]:
                problems["options"] = "are for select fields only"
        if kind == "time_record":
            problems.update(self._time_rules(account_id, body))
        return problems

    def _time_rules(self, account_id: int, body: dict) -> dict:
        problems = {}
        for key in body["custom_fields"] if isinstance(body["custom_fields"], dict) else ():
            if not str(key).isdigit() or not self.store.get("custom_field", key, scope=account_id):
                problems["custom_fields"] = f"no custom field with id {key}"
        if body["time_out"]:
            try:
                start, stop = _moment(body["time_in"]), _moment(body["time_out"])
            except (TypeError, ValueError):
                return problems  # check() named the field already
            if start.tzinfo is None or stop.tzinfo is None:
                return problems  # likewise
            if stop <= start:
                problems["time_out"] = "must be after time_in"
            elif body["regular_hours"] is None:  # a punch: ExakTime splits the hours itself
                worked = Decimal((stop - start).total_seconds()) / 3600
                worked -= Decimal(body["lunch_minutes"] or 0) / 60
                hours = (float(round(part, 2)) for part in data.split_hours(worked))
                body["regular_hours"], body["ot1_hours"], body["ot2_hours"] = hours
        for name in ("regular_hours", "ot1_hours", "ot2_hours"):
            body[name] = body[name] or 0.0
        return problems

    def _unique(self, collection: Collection, account_id: int, body: dict, record_id) -> None:
        for names in collection.unique:
            taken = [
                other for other in self.store.select(
                    collection.kind, scope=account_id, eq={n: body[n] for n in names}
                ) if other["id"] != record_id
            ]  # fmt: skip
            if taken:
                what = " and ".join(names)
                details = {name: f"already used by {collection.label.lower()} {taken[0]['id']}"
                           for name in names}  # fmt: skip
                raise fail(409, f"{collection.label} {what} must be unique", details)


def check(spec: Field, value: Any) -> str | None:
    """What is wrong with a value for a field, or None."""
    kind = spec.kind
    if kind == "text":
        if not isinstance(value, str):
            return "must be a string"
        if len(value) > spec.max_length:
            return f"must be at most {spec.max_length} characters (got {len(value)})"
    elif kind == "bool" and not isinstance(value, bool):
        return "must be true or false"
    elif kind in ("number", "count"):
        wanted = int if kind == "count" else int | float
        if isinstance(value, bool) or not isinstance(value, wanted):
            return "must be a whole number" if kind == "count" else "must be a number"
        if (spec.low is not None and value < spec.low) or (
            spec.high is not None and value > spec.high
        ):
            return f"must be between {spec.low:g} and {spec.high:g}"
    elif kind == "date":
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return "must be a date (YYYY-MM-DD)"
    elif kind == "datetime":
        try:
            if _moment(value).tzinfo is None:
                return "must include a UTC offset"
        except (TypeError, ValueError):
            return "must be an ISO 8601 time with offset"
    elif kind == "id" and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be an id (integer)"
    elif kind == "ids" and not (
        isinstance(value, list)
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return "must be a list of ids"
    elif kind == "choice" and value not in spec.choices:
        return f"must be one of {', '.join(spec.choices)}"
    elif kind == "strings" and not (
        isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)
    ):
        return "must be a list of non-empty strings"
    elif kind == "object" and not isinstance(value, dict):
        return "must be an object"
    return None


def time_record_filters(req: Request) -> list[tuple[str, list]]:
    """start_date/end_date (work_date, inclusive), modified_since, employee_id."""
    where = []
    for name, operator in (("start_date", ">="), ("end_date", "<=")):
        if value := req.arg(name):
            if check(Field("date"), value):
                raise fail(400, f"{name} must be a date (YYYY-MM-DD)", {name: "not a date"})
            where.append((f"{field_sql('work_date')} {operator} ?", [value]))
    if since := req.arg("modified_since"):
        try:
            moment = _moment(since.replace(" ", "+"))  # a "+" left unescaped in a query
        except ValueError:
            raise fail(400, "modified_since must be an ISO 8601 time",
                       {"modified_since": "not a time"}) from None  # fmt: skip
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        where.append((f"{field_sql('modified_at')} >= ?", [data.iso_utc(moment)]))
    if (employee_id := req.int_arg("employee_id")) is not None:
        where.append((f"{field_sql('employee_id')} = ?", [employee_id]))
    return where


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _now() -> str:
    return data.iso_utc(utc_now())


def _copy(value: Any) -> Any:
    return type(value)(value) if isinstance(value, list | dict) else value


def _defaults(collection: Collection) -> dict:
    return {name: _copy(spec.default) for name, spec in collection.fields.items()}
