"""The Procore sandbox: Procore's API as Linx uses it served over loopback.

One server answers for both hosts of a connection, the login host (`/oauth/...`) and the
API host (`/rest/...`): point both URLs at it. Endpoints appear below in the contract's
order: OAuth, the company picker, the reads import uses, the timecard writes export uses.
"""

from __future__ import annotations

import math
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from integrations.procore.sandbox import data, generator
from integrations.procore.sandbox.entries import (
    Invalid,
    build_entry,
    entry_inputs,
    parse_date,
    public,
)
from integrations.procore.sandbox.webhooks import Webhooks
from integrations.sandbox import (
    Abort,
    Request,
    Response,
    SandboxServer,
    field_sql,
    iso_z,
    route,
    utc_now,
)

RATE_LIMIT_TEXT = (  # Procore's 429 body is plain text
    "You have surpassed the max number of requests for an hour. "
    "Please wait until your limit resets."
)
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
COST_CODES_OFF = "You have insufficient rights to access the CostCode (PM209500) form."
SUB_JOBS_OFF = (
    "Sub Jobs are not enabled for this company. Enable them in Admin > Work Breakdown "
    "Structure > Enable the usage of Sub Jobs on projects."
)
MAX_BULK = 100  # modelled: entries per bulk create
CODE_LIFETIME = 600  # authorization codes, as Procore's


class ProcoreSandbox(Webhooks, SandboxServer):
    """Procore's OAuth and REST endpoints for the generated companies (see `data`)."""

    name = "procore"
    id_bases = data.ID_BASES
    rate_limit_headers = True
    generate_defaults = {"scale": "small", "seed": 1}
    schema = """
        CREATE TABLE IF NOT EXISTS tokens (
            token TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL,
            expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0, redirect_uri TEXT);
    """
    clients = {data.CLIENT_ID: data.CLIENT_SECRET}

    def __init__(
        self,
        state_path: str | Path | None = None,
        *,
        scale: str | None = None,
        seed: int | None = None,
        reset: bool = False,
        token_lifetime: int = 5400,
        max_per_page: int | None = None,
        **server_options: Any,
    ):
        """`scale`/`seed` None: whatever the state file holds (small, 1 when empty).
        `token_lifetime`: access tokens' seconds; `max_per_page`: a server cap below
        Procore's documented ones, to prove clients cope with short pages."""
        self._start_deliveries()
        super().__init__(state_path, **server_options)
        self.token_lifetime = token_lifetime
        self.max_per_page = max_per_page
        self.load(reset=reset, scale=scale, seed=seed)

    # data and hooks -----------------------------------------------------------------

    def generate(self, scale: str = "small", seed: int = 1) -> None:
        self.store.insert_many(generator.generate(scale, seed))
        self.store.kv_set("generated", {"scale": scale, "seed": seed})

    def summary(self) -> dict:
        companies = self.store.select("company")
        live = self.store.execute(
            "SELECT count(*) FROM tokens WHERE kind = 'access' AND expires_at > ?", (time.time(),)
        )[0][0]
        return {
            **super().summary(),
            "credentials": {"client_id": data.CLIENT_ID, "client_secret": data.CLIENT_SECRET},
            "companies": [
                {"id": c["id"], "name": c["name"], "features": c["features"]} for c in companies
            ],
            "live_access_tokens": live,
            "token_lifetime": self.token_lifetime,
            "max_per_page": self.max_per_page,
        }

    def defaults(self, kind: str) -> dict:
        return dict(data.DEFAULTS.get(kind, {}))

    def touch(self, kind: str, body: dict) -> dict:
        now = iso_z(utc_now())
        if kind == "user":
            body["name"] = f"{body.get('first_name') or ''} {body.get('last_name') or ''}".strip()
        return {**body, "created_at": body.get("created_at") or now, "updated_at": now}

    def add(self, kind: str, fields: dict, *, scope: int | None = None) -> dict:
        if scope is None and kind != "company":
            raise ValueError(f"say which company or project the {kind} lives in (scope=...)")
        return super().add(kind, fields, scope=scope)

    def expire_tokens(self) -> None:
        self.store.execute("UPDATE tokens SET expires_at = 0 WHERE kind = 'access'")

    def error_body(self, status: int, message: str) -> Any:
        return RATE_LIMIT_TEXT if status == 429 else {"message": message}

    # OAuth: the login host ------------------------------------------------------------

    def _issue(self, kind: str, client_id: str, lifetime: float, redirect_uri=None) -> str:
        token = secrets.token_urlsafe(32)
        self.store.execute(
            "INSERT INTO tokens (token, kind, client_id, expires_at, redirect_uri) "
            "VALUES (?, ?, ?, ?, ?)",
            (token, kind, client_id, time.time() + lifetime, redirect_uri),
        )
        return token

    def _consume(self, kind: str, token: str, client_id: str) -> tuple | None:
        """Use a single-use token (code or refresh token) once; None if it is not usable."""
        with self.store.transaction():
            rows = self.store.execute(
                "SELECT expires_at, used, redirect_uri FROM tokens "
                "WHERE token = ? AND kind = ? AND client_id = ?",
                (token, kind, client_id),
            )
            if not rows or rows[0][1]:
                return None
            # Dead from now on, whatever happens to the answer (a dropped connection too).
            self.store.execute("UPDATE tokens SET used = 1 WHERE token = ?", (token,))
        expires_at, _, redirect_uri = rows[0]
        return None if expires_at <= time.time() else (redirect_uri,)

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> Abort:
        return Abort(status, body={"error": error, "error_description": description})

    @route("POST", "/oauth/token")
    def token(self, req: Request) -> Response:
        """Grants: client_credentials, authorization_code, refresh_token (single-use)."""
        form = req.form()
        grant, client_id = form.get("grant_type"), form.get("client_id", "")
        if grant not in ("client_credentials", "authorization_code", "refresh_token"):
            raise self._oauth_error(
                400, "unsupported_grant_type",
                "The authorization grant type is not supported by the authorization server.",
            )  # fmt: skip
        secret = self.clients.get(client_id)
        if secret is None or not secrets.compare_digest(secret, form.get("client_secret", "")):
            raise self._oauth_error(
                401, "invalid_client",
                "Client authentication failed due to unknown client, no client "
                "authentication included, or unsupported authentication method.",
            )  # fmt: skip
        refresh = True
        if grant == "client_credentials":
            refresh = False  # ask for a new access token when this one expires
        elif grant == "authorization_code":
            used = self._consume("code", form.get("code", ""), client_id)
            if used is None or (used[0] and used[0] != form.get("redirect_uri")):
                raise self._oauth_error(400, "invalid_grant", INVALID_GRANT)
        elif self._consume("refresh", form.get("refresh_token", ""), client_id) is None:
            raise self._oauth_error(400, "invalid_grant", "The refresh token is invalid")
        answer = {
            "access_token": self._issue("access", client_id, self.token_lifetime),
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "created_at": int(time.time()),
        }
        if refresh:
            # Refresh tokens last until used (a year here, to keep the table finite).
            answer["refresh_token"] = self._issue("refresh", client_id, 365 * 86400)
        return Response(200, answer, {"Cache-Control": "no-store"})

    @route("GET", "/oauth/authorize")
    def authorize(self, req: Request) -> Response:
        """The browser step of the authorization-code grant: approved at once, no login."""
        client_id, redirect_uri = req.arg("client_id"), req.arg("redirect_uri")
        if client_id not in self.clients or not redirect_uri:
            raise self._oauth_error(400, "invalid_request", "Unknown client_id or no redirect_uri")
        answer = {"state": req.arg("state")} if req.arg("state") is not None else {}
        if req.arg("response_type") != "code":
            answer = {"error": "unsupported_response_type", **answer}
        else:
            code = self._issue("code", client_id, CODE_LIFETIME, redirect_uri)
            if redirect_uri == "urn:ietf:wg:oauth:2.0:oob":  # the installed-app variant
                page = f"<html><body><p>Authorization code: <code>{code}</code></p></body></html>"
                return Response(200, page, content_type="text/html; charset=utf-8")
            answer = {"code": code, **answer}
        joiner = "&" if "?" in redirect_uri else "?"
        return Response(302, None, {"Location": redirect_uri + joiner + urlencode(answer)})

    # who may ask what: token, company header, features ------------------------------

    def company(self, req: Request, company_id: int | None = None) -> dict:
        """The company a call acts in, after checking the token and Procore-Company-Id."""
        self._authenticate(req)
        header = (req.headers.get("Procore-Company-Id") or "").strip()
        if not header:
            raise Abort(400, "Missing Procore-Company-Id header! Send the id of the company "
                             "you are working in with every request.")  # fmt: skip
        if not header.isdigit():
            raise Abort(400, f"Invalid Procore-Company-Id header: {header!r}")
        if company_id is not None and company_id != int(header):
            # modelled: Procore's answer to a mismatch is undocumented
            raise Abort(400, f"Procore-Company-Id header {header} does not match company "
                             f"{company_id} of the request")  # fmt: skip
        company = self.store.get("company", int(header))
        if company is None or not company["features"]["app_installed"]:
            raise Abort(403, "App is not connected to this company")
        return company

    def _authenticate(self, req: Request) -> None:
        scheme, _, token = (req.headers.get("Authorization") or "").partition(" ")
        rows = self.store.execute(
            "SELECT expires_at FROM tokens WHERE token = ? AND kind = 'access'", (token.strip(),)
        )
        if scheme.lower() != "bearer" or not rows or rows[0][0] <= time.time():
            raise Abort(401, "The access token is invalid",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip

    def project(self, req: Request, project_id: int | None) -> tuple[dict, dict]:
        """The company and one of its projects (404 for a project elsewhere, as Procore)."""
        company = self.company(req)
        if project_id is None:
            raise Abort(400, "project_id is required")
        project = self.store.get("project", project_id, scope=company["id"])
        if project is None:
            raise Abort(404, f"Project {project_id} not found")
        return company, project

    @staticmethod
    def need(company: dict, feature: str) -> None:
        if company["features"][feature]:
            return
        if feature == "cost_codes":
            raise Abort(403, body={"errors": {"base": [COST_CODES_OFF]}})
        raise Abort(403, body={"error": SUB_JOBS_OFF})

    # pages --------------------------------------------------------------------------

    def page(
        self, req: Request, kind: str, *, scope: int, cap: int = 1000, shape=None, **query
    ) -> Response:
        """One page of a list: `page`/`per_page`, headers Total, Per-Page and Link."""
        wanted = req.int_arg("per_page", 100)
        per_page = min(wanted if wanted > 0 else 100, cap, self.max_per_page or cap)
        number = max(req.int_arg("page", 1), 1)
        total = self.store.count(kind, scope=scope, **query)
        rows = self.store.select(
            kind, scope=scope, limit=per_page, offset=(number - 1) * per_page, **query
        )
        last = max(1, math.ceil(total / per_page))
        links = [("first", 1)] + ([("prev", number - 1)] if number > 1 else [])
        links += ([("next", number + 1)] if number < last else []) + [("last", last)]
        others = [(k, v) for k, values in req.query.items() if k != "page" for v in values]
        link = ", ".join(
            f'<{req.base_url}{req.path}?{urlencode([*others, ("page", n)])}>; rel="{rel}"'
            for rel, n in links
        )
        headers = {"Total": str(total), "Per-Page": str(per_page), "Link": link}
        return Response(200, [(shape or public)(row) for row in rows], headers)

    # the company picker -------------------------------------------------------------

    @route("GET", "/rest/v1.0/companies")
    def companies(self, req: Request) -> list[dict]:
        """The companies the token reaches (no company header needed, as on Procore)."""
        self._authenticate(req)
        return [
            {"id": c["id"], "name": c["name"], "is_active": c["is_active"]}
            for c in self.store.select("company")
            if c["features"]["app_installed"]
        ]

    # reads used by import -----------------------------------------------------------

    @route("GET", "/rest/v1.3/companies/{cid}/users")
    def users(self, req: Request) -> Response:
        """Active workers; `filters[updated_at]=A...B`."""
        company = self.company(req, req.params["cid"])
        return self.page(req, "user", scope=company["id"], eq={"is_active": True},
                         where=updated_between(req))  # fmt: skip

    @route("GET", "/rest/v1.0/companies/{cid}/users/inactive")
    def inactive_users(self, req: Request) -> Response:
        company = self.company(req, req.params["cid"])
        return self.page(req, "user", scope=company["id"], eq={"is_active": False})

    @route("GET", "/rest/v1.1/projects")
    def projects(self, req: Request) -> Response:
        """`?company_id=`; `filters[by_status]=Active|Inactive|All` (Active by default)."""
        company = self.company(req, company_query(req))
        status = (req.arg("filters[by_status]") or "Active").capitalize()
        if status not in ("Active", "Inactive", "All"):
            raise Abort(400, "filters[by_status] must be Active, Inactive or All")
        eq = {} if status == "All" else {"active": status == "Active"}
        return self.page(req, "project", scope=company["id"], cap=300, eq=eq,
                         where=updated_between(req))  # fmt: skip

    @route("GET", "/rest/v1.0/sub_jobs")
    def sub_jobs(self, req: Request) -> Response:
        company, project = self.project(req, req.int_arg("project_id"))
        self.need(company, "sub_jobs")
        return self.page(req, "sub_job", scope=project["id"])

    @route("GET", "/rest/v1.0/standard_cost_code_lists")
    def standard_cost_code_lists(self, req: Request) -> Response:
        company = self.company(req, company_query(req))
        self.need(company, "cost_codes")
        return self.page(req, "standard_cost_code_list", scope=company["id"])

    @route("GET", "/rest/v1.0/standard_cost_codes")
    def standard_cost_codes(self, req: Request) -> Response:
        """Without `view=extended` (or normal/compact) only ids come back, as on Procore."""
        company = self.company(req, company_query(req))
        self.need(company, "cost_codes")
        list_id = req.int_arg("standard_cost_code_list_id")
        owner = list_id and self.store.scope_of("standard_cost_code_list", list_id)
        if owner != company["id"]:
            raise Abort(404, f"Standard cost code list {list_id} not found")
        shape = public
        if req.arg("view") not in ("extended", "normal", "compact"):

            def shape(code):
                return {"id": code["id"], "standard_cost_code_list_id": list_id}

        return self.page(req, "standard_cost_code", scope=list_id, shape=shape)

    @route("GET", "/rest/v1.0/cost_codes")
    def cost_codes(self, req: Request) -> Response:
        """A project's cost codes, deleted ones included (with `deleted_at`)."""
        company, project = self.project(req, req.int_arg("project_id"))
        self.need(company, "cost_codes")
        return self.page(req, "cost_code", scope=project["id"])

    @route("GET", "/rest/v1.0/projects/{pid}/crews")
    def crews(self, req: Request) -> Response:
        _, project = self.project(req, req.params["pid"])
        return self.page(req, "crew", scope=project["id"], where=updated_between(req))

    @route("GET", "/rest/v1.0/companies/{cid}/work_classifications")
    def work_classifications(self, req: Request) -> Response:
        company = self.company(req, req.params["cid"])
        return self.page(req, "work_classification", scope=company["id"])

    @route("GET", "/rest/v1.0/companies/{cid}/timecard_time_types")
    def timecard_time_types(self, req: Request) -> Response:
        company = self.company(req, req.params["cid"])
        return self.page(req, "timecard_time_type", scope=company["id"])

    @route("GET", "/rest/v1.0/companies/{cid}/configurable_field_sets")
    def configurable_field_sets(self, req: Request) -> Response:
        company = self.company(req, req.params["cid"])
        return self.page(req, "configurable_field_set", scope=company["id"])

    @route("GET", "/rest/v1.1/companies/{cid}/custom_field_definitions")
    def custom_field_definitions(self, req: Request) -> Response:
        """`tool_name=timesheets|admin`; at most 100 a page, as Procore documents."""
        company = self.company(req, req.params["cid"])
        eq = {"_tool_name": req.arg("tool_name")} if req.arg("tool_name") else {}
        return self.page(req, "custom_field_definition", scope=company["id"], cap=100, eq=eq)

    # writes used by export: timecard entries ----------------------------------------

    @route("POST", "/rest/v1.0/companies/{cid}/timesheets")
    def bulk_create_entries(self, req: Request) -> Response:
        """All or nothing: any invalid entry makes a 422 listing each by index."""
        company = self.company(req, req.params["cid"])
        payload = req.json()
        entries = payload.get("timecard_entries") if isinstance(payload, dict) else None
        if not isinstance(entries, list) or not entries:
            raise Abort(400, "param is missing or the value is empty: timecard_entries")
        if len(entries) > MAX_BULK:
            message = f"At most {MAX_BULK} timecard entries per request, got {len(entries)}"
            raise Abort(422, body={"errors": [{"index": MAX_BULK, "message": message}]})
        with self.store.transaction():
            built, errors = [], []
            for index, fields in enumerate(entries):
                try:
                    built.append(build_entry(self.store, company, fields))
                except Invalid as problem:
                    errors.append({"index": index, "message": problem.message})
            if errors:
                raise Abort(422, body={"errors": errors})
            created = [self.store.insert("timecard_entry", e, scope=company["id"]) for e in built]
        return Response(201, [public(entry) for entry in created])

    @route("POST", "/rest/v1.0/companies/{cid}/timecard_entries")
    def create_entry(self, req: Request) -> Response:
        """`{"project_id": pid, "timecard_entry": {...}}`."""
        company = self.company(req, req.params["cid"])
        payload = req.json()
        fields = payload.get("timecard_entry") if isinstance(payload, dict) else None
        if not isinstance(fields, dict):
            raise Abort(400, "param is missing or the value is empty: timecard_entry")
        fields = {"project_id": payload.get("project_id"), **fields}
        with self.store.transaction():
            entry = self.store.insert(
                "timecard_entry", self.entry_or_422(company, fields), scope=company["id"]
            )
        return Response(201, public(entry))

    @route("GET", "/rest/v1.0/companies/{cid}/timecard_entries/{id}")
    def show_entry(self, req: Request) -> dict:
        company = self.company(req, req.params["cid"])
        return public(self.live_entry(company, req.params["id"]))

    @route("PATCH", "/rest/v1.0/companies/{cid}/timecard_entries/{id}")
    def update_entry(self, req: Request) -> dict:
        """`{"timecard_entry": {...}}`: the fields given change, the rest stay."""
        company = self.company(req, req.params["cid"])
        payload = req.json()
        fields = payload.get("timecard_entry") if isinstance(payload, dict) else None
        if not isinstance(fields, dict):
            raise Abort(400, "param is missing or the value is empty: timecard_entry")
        with self.store.transaction():
            entry = self.live_entry(company, req.params["id"])
            changed = self.entry_or_422(company, {**entry_inputs(entry), **fields}, entry)
            return public(self.store.replace("timecard_entry", changed))

    @route("DELETE", "/rest/v1.0/companies/{cid}/timecard_entries/{id}")
    def delete_entry(self, req: Request) -> Response:
        company = self.company(req, req.params["cid"])
        with self.store.transaction():
            entry = self.live_entry(company, req.params["id"])
            now = iso_z(utc_now())
            self.store.replace("timecard_entry", {**entry, "deleted_at": now, "updated_at": now})
        return Response(204)

    @route("GET", "/rest/v1.0/companies/{cid}/timecard_entries")
    def list_entries(self, req: Request) -> Response:
        """`start_date`/`end_date` (the current week without them), `filters[party_id][]`,
        `filters[updated_at]`. Deleted entries are not listed."""
        company = self.company(req, req.params["cid"])
        today = utc_now().date()
        start = parse_date(req.arg("start_date"), "start_date") or today - timedelta(
            days=today.weekday()
        )
        end = parse_date(req.arg("end_date"), "end_date") or start + timedelta(days=6)
        where = [(f"{field_sql('date')} BETWEEN ? AND ?", [start.isoformat(), end.isoformat()])]
        parties = req.query.get("filters[party_id][]", []) + req.query.get("filters[party_id]", [])
        if parties:
            if not all(p.isdigit() for p in parties):
                raise Abort(400, "filters[party_id] must be ids")
            marks = ", ".join("?" * len(parties))
            where.append((f"{field_sql('party_id')} IN ({marks})", [int(p) for p in parties]))
        return self.page(req, "timecard_entry", scope=company["id"], eq={"deleted_at": None},
                         where=where + updated_between(req))  # fmt: skip

    def live_entry(self, company: dict, entry_id: int) -> dict:
        entry = self.store.get("timecard_entry", entry_id, scope=company["id"])
        if entry is None or entry["deleted_at"]:
            raise Abort(404, f"Timecard entry {entry_id} not found")
        return entry

    # a person at Procore's own screens (reconciliation demos and tests) ---------------

    @route("POST", "/_sandbox/companies/{cid}/hand_made_entries")
    def _hand_made_entry(self, req: Request) -> Response:
        """An entry typed in Procore by hand: checked like any other, with no origin."""
        company = self._sandbox_company(req.params["cid"])
        fields = req.json()
        if not isinstance(fields, dict):
            raise Abort(400, body={"error": "send the entry's fields as a JSON object"})
        fields = {k: v for k, v in fields.items() if k not in ("origin_id", "origin_data")}
        with self.store.transaction():
            entry = self.store.insert(
                "timecard_entry", self.entry_or_422(company, fields), scope=company["id"]
            )
        return Response(201, public(entry))

    @route("PATCH", "/_sandbox/companies/{cid}/timecard_entries/{id}")
    def _edit_entry_by_hand(self, req: Request) -> dict:
        """An entry edited in Procore by hand after export (hours, cost code...)."""
        company = self._sandbox_company(req.params["cid"])
        fields = req.json()
        if not isinstance(fields, dict):
            raise Abort(400, body={"error": "send the fields to change as a JSON object"})
        with self.store.transaction():
            entry = self.live_entry(company, req.params["id"])
            changed = self.entry_or_422(company, {**entry_inputs(entry), **fields}, entry)
            return public(self.store.replace("timecard_entry", changed))

    def _sandbox_company(self, company_id: int) -> dict:
        company = self.store.get("company", company_id)
        if company is None:
            raise Abort(404, body={"error": f"no company {company_id}"})
        return company

    def entry_or_422(self, company: dict, fields: Any, existing: dict | None = None) -> dict:
        try:
            return build_entry(self.store, company, fields, existing)
        except Invalid as problem:
            raise Abort(422, body={"errors": {problem.field: [problem.message]}}) from None


# --- helpers ------------------------------------------------------------------------------


def company_query(req: Request) -> int:
    """The `company_id` query parameter the project and cost code lists require."""
    company_id = req.int_arg("company_id")
    if company_id is None:
        raise Abort(400, "company_id is required")
    return company_id


def updated_between(req: Request) -> list[tuple[str, list]]:
    """The `filters[updated_at]=A...B` condition (dates or ISO times; both ends included)."""
    value = req.arg("filters[updated_at]")
    if not value:
        return []
    start, dots, end = value.partition("...")
    try:
        if not dots:
            raise ValueError
        low, high = _range_end(start, False), _range_end(end, True)
    except ValueError:
        raise Abort(400, f"filters[updated_at] must be start...end in ISO 8601, "
                         f"got {value!r}") from None  # fmt: skip
    return [(f"{field_sql('updated_at')} BETWEEN ? AND ?", [iso_z(low), iso_z(high)])]


def _range_end(text: str, upper: bool) -> datetime:
    text = text.strip().replace(" ", "+")  # a "+" left unescaped in a query string
    if len(text) == 10:  # a date: the whole day
        day = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        return day + timedelta(days=1, seconds=-1) if upper else day
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
