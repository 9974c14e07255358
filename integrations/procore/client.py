"""Linx's Procore client: the reads import needs and the timecard writes export needs.

Lists are generators that fetch one page at a time (memory does not grow with the
company) and follow Procore's `Link rel="next"` until it is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar, Unpack
from urllib.parse import urljoin, urlsplit

import requests

from integrations.early_send import EarlySend
from integrations.http import HttpClient, HttpOptions, ServiceClient
from integrations.procore.auth import AuthMode, ProcoreAuth, Token, TokenStore
from integrations.procore.errors import (
    RECONNECT,
    ProcoreAuthError,
    ProcoreError,
    ProcoreOutcomeUnknown,
    ProcoreUnavailable,
    error_from_response,
    procore_says,
)
from integrations.procore.hooks import HookCalls
from integrations.procore.records import (
    Company,
    Crew,
    CustomFieldDefinition,
    Fieldset,
    Project,
    ProjectCostCode,
    StandardCostCode,
    StandardCostCodeList,
    SubJob,
    TimecardEntry,
    TimecardTimeType,
    WorkClassification,
    Worker,
    created_id,
)
from integrations.procore.sent_now import SentNow, same
from integrations.values import iso_utc, whole

R = TypeVar("R")

#: The page size each list asks for. Contract (modelled): the largest documented size,
#: projects 300 and everything else 1000; a server that sends fewer is followed anyway.
PER_PAGE: dict[str, int] = {
    "companies": 1000,
    "users": 1000,
    "users_inactive": 1000,
    "projects": 300,
    "sub_jobs": 1000,
    "standard_cost_code_lists": 1000,
    "standard_cost_codes": 1000,
    "cost_codes": 1000,
    "crews": 1000,
    "work_classifications": 1000,
    "timecard_time_types": 1000,
    "configurable_field_sets": 1000,
    "custom_field_definitions": 1000,
    "timecard_entries": 1000,
}
#: Most entries one bulk create may carry (contract, modelled).
MAX_BULK_ENTRIES = 100
#: The timesheet fieldset type (contract, modelled).
TIMESHEET_FIELDSET_TYPE = "TimecardEntry"
PROJECT_STATUSES = ("Active", "Inactive", "All")
#: How far past "now" an updated_at window reaches, so clock skew never hides a change.
UPDATED_WINDOW_SLACK = timedelta(days=1)


def _updated_filter(since: datetime, until: datetime) -> str:
    return f"{iso_utc(since)}...{iso_utc(until)}"


class Listing(Iterator[R]):
    """The records of one Procore list, fetched a page at a time as they are iterated.

    ``total`` is Procore's count of them (its ``Total`` header), known once the first
    page has been read: callers use it to show progress.

    ``changed`` is set, once the last page is read, when the list changed while its
    pages were read: a later page's ``Total`` differs from the first's, or the records
    read do not add up to it. Pages are offsets into the list as it is at each request,
    so a record added or removed before the current page, or one that moved in the
    order, makes a record at the seam of two pages go unseen or come twice.
    """

    def __init__(self) -> None:
        self.total: int | None = None
        self.changed = False
        self._records: Iterator[R] = iter(())
        self._send_first: Callable[[], SentNow] | None = None
        self._first: SentNow | None = None

    def __next__(self) -> R:
        return next(self._records)

    def send_now(self) -> None:
        """Ask for the first page now, on this thread, before the list is gone through
        (its answer is read then): Procore works on it while the caller does something
        else (see `integrations.early_send`)."""
        if self._send_first is not None and self._first is None:
            self._first = self._send_first()

    def drop_sent(self) -> None:
        """Not to be gone through after all: a first page asked for is not read."""
        if self._first is not None:
            self._first.drop()


class ProcoreClient(HookCalls, ServiceClient):
    """One Procore company, reached with one connection's credentials."""

    def __init__(
        self,
        api_url: str,
        login_url: str,
        client_id: str,
        client_secret: str,
        company_id: int | None,
        token_store: TokenStore,
        auth_mode: AuthMode = "client_credentials",
        **http_options: Unpack[HttpOptions],
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.company_id = company_id
        self.token_store = token_store
        self.http = HttpClient(
            "Procore",
            unavailable=ProcoreUnavailable,
            outcome_unknown=ProcoreOutcomeUnknown,
            **http_options,
        )
        self.auth = ProcoreAuth(login_url, client_id, client_secret, http=self.http, mode=auth_mode)

    def __repr__(self) -> str:
        return f"ProcoreClient(api_url={self.api_url!r}, company_id={self.company_id!r})"

    # Transport ----------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.http.clock(), tz=UTC)

    def _cid(self) -> int:
        if self.company_id is None:
            raise ProcoreError(
                "No Procore company is chosen on this connection. Choose one, then retry."
            )
        return self.company_id

    def _headers(self, token: Token) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token.access_token}"}
        if self.company_id is not None:
            headers["Procore-Company-Id"] = str(self.company_id)
        return headers

    def _url(self, path: str) -> str:
        return f"{self.api_url}{path}"

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: Sequence[int] = (),
        token: Token | None = None,
        early: EarlySend | None = None,
    ) -> requests.Response:
        """One API call with a valid token (``token``: this one, read already; ``early``:
        its first try, written already); a 401 earns one renewal and one retry."""
        if token is None:
            token = self.auth.valid_token(self.token_store, self._now())
        response = self.http.request(
            method, url, params=params, json=json, headers=self._headers(token), early=early
        )
        return self._answered(method, url, params, json, accept, token, response)

    def _answered(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        accept: Sequence[int],
        token: Token,
        response: requests.Response,
    ) -> requests.Response:
        """`_call`'s answer, sent with ``token``: renewed and sent again after a 401; an
        error raised for a refusal."""
        if response.status_code == 401:
            # The call was refused unprocessed, so even a POST may be sent again.
            token = self.auth.renew(self.token_store, stale=token)
            response = self.http.request(
                method, url, params=params, json=json, headers=self._headers(token)
            )
            if response.status_code == 401:
                error = error_from_response(response, self.http.clock(), self.http.secrets)
                message = error.message
                if RECONNECT not in message:
                    message = f"{message} {RECONNECT}"
                raise ProcoreAuthError(message, status=401)
        if response.status_code >= 300 and response.status_code not in accept:
            raise error_from_response(response, self.http.clock(), self.http.secrets)
        return response

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            path = urlsplit(response.url or "").path
            raise ProcoreUnavailable(
                procore_says(f"an answer to {path} that is not JSON", response.status_code),
                status=response.status_code,
            ) from None

    def _written(self, response: requests.Response) -> Any:
        """A write's answer; unreadable means Linx cannot tell what was stored."""
        try:
            return response.json()
        except ValueError:
            pass
        path = urlsplit(response.url or "").path
        raise ProcoreOutcomeUnknown(
            f"Procore accepted {response.request.method} {path} ({response.status_code}) but "
            "its answer could not be read. Linx checks what is there before sending it again.",
            status=response.status_code,
        )

    def _get_ahead(self, url: str) -> Callable[[], requests.Response]:
        """Send a GET of ``url`` from a thread of its own now, with the token read here;
        the returned call waits for its answer (a 401 is renewed on the caller's thread,
        as `_call` does, and an error raised there)."""
        token = self.auth.valid_token(self.token_store, self._now())
        executor = ThreadPoolExecutor(1, thread_name_prefix="linx-procore-page")
        sent = executor.submit(self.http.request, "GET", url, headers=self._headers(token))
        executor.shutdown(wait=False)
        return lambda: self._answered("GET", url, None, None, (), token, sent.result())

    def _sent_now(
        self, method: str, url: str, then: Callable[[requests.Response], Any] = same, **call
    ) -> SentNow:
        """A call written now on this thread, with the token read now (see
        `HttpClient.send_now`); calling what is returned reads its answer as `_call`
        would (a 401 renewed, an error raised) and hands back ``then`` of it."""
        token = self.auth.valid_token(self.token_store, self._now())
        return SentNow(self, method, url, token, then, **call)

    def _list(
        self,
        name: str,
        path: str,
        parse: Callable[[Mapping[str, Any]], R],
        params: Mapping[str, Any] | None = None,
        pages_ahead: bool = False,
    ) -> Listing[R]:
        """Every record of a list, one page in memory at a time (``pages_ahead``: and the
        next one asked for while this one is gone through, for a list read to its end)."""
        listing: Listing[R] = Listing()
        url = self._url(path)
        query = {**(params or {}), "page": 1, "per_page": PER_PAGE[name]}
        listing._records = self._walk(listing, path, url, query, parse, pages_ahead)
        listing._send_first = lambda: self._sent_now("GET", url, params=query)
        return listing

    def _walk(
        self,
        listing: Listing[R],
        path: str,
        url: str | None,
        query: Mapping[str, Any] | None,
        parse: Callable[[Mapping[str, Any]], R],
        pages_ahead: bool = False,
    ) -> Iterator[R]:
        api = urlsplit(self.api_url)
        seen: set[str] = set()
        expected: int | None = None  # the first page's Total
        read = 0
        # The next page, asked for already (the first: when `Listing.send_now` did).
        ahead: Callable[[], requests.Response] | None = listing._first
        while url is not None:
            response = ahead() if ahead else self._call("GET", url, params=query)
            page = self._json(response)
            total = whole(response.headers.get("Total"))
            if not seen:
                expected = total
            elif total != expected:
                listing.changed = True  # records were added or removed meanwhile
            if listing.total is None:
                listing.total = total
            if not isinstance(page, list):
                raise ProcoreError(
                    procore_says(f"a list was expected from {path}", response.status_code)
                )
            # requests reads the RFC 8288 `Link` header: {rel: {"url": ...}}.
            following = response.links.get("next", {}).get("url")
            # The next URL is used as given; it already carries page and filters.
            following_url = urljoin(response.url or url, following) if following else None
            target = urlsplit(following_url or "")
            same_host = (target.scheme, target.netloc) == (api.scheme, api.netloc)
            seen.add(response.url or url)
            ahead = None
            if pages_ahead and following_url and same_host and following_url not in seen:
                ahead = self._get_ahead(following_url)
            del response  # its body is read: only the page is held while it is gone through
            for item in page:
                read += 1
                yield parse(item)
            del page  # dropped before the next page is asked for, not after
            if following_url is None:
                if expected is not None and read != expected:
                    listing.changed = True  # some were missed, or read twice
                return
            url, query = following_url, None
            if not same_host:
                # Following it would hand our token to another host.
                raise ProcoreError(
                    f"Procore's next-page link for {path} points to another host "
                    f"({target.netloc}); Linx will not send its token there."
                )
            if url in seen:
                raise ProcoreError(f"Procore's next-page link for {path} repeats a page.")

    def _window(self, since: datetime) -> str:
        return _updated_filter(since, self._now() + UPDATED_WINDOW_SLACK)

    # Reads --------------------------------------------------------------------------

    def companies(self) -> Listing[Company]:
        """The companies the token can reach (the company picker)."""
        return self._list("companies", "/rest/v1.0/companies", Company.from_api)

    def workers(
        self, updated_since: datetime | None = None, *, pages_ahead: bool = False
    ) -> Listing[Worker]:
        """Active company users, optionally only those changed since a time
        (``pages_ahead``: see `_list`)."""
        params = (
            {} if updated_since is None else {"filters[updated_at]": self._window(updated_since)}
        )
        return self._list(
            "users",
            f"/rest/v1.3/companies/{self._cid()}/users",
            Worker.from_api,
            params,
            pages_ahead,
        )

    def inactive_workers(self) -> Listing[Worker]:
        """Inactive company users."""
        return self._list(
            "users_inactive",
            f"/rest/v1.0/companies/{self._cid()}/users/inactive",
            lambda data: Worker.from_api(data, is_active=False),
        )

    def projects(
        self,
        status: Literal["Active", "Inactive", "All"] = "Active",
        updated_since: datetime | None = None,
    ) -> Listing[Project]:
        """Projects by status, optionally only those changed since a time."""
        if status not in PROJECT_STATUSES:
            raise ValueError(f"status must be one of {PROJECT_STATUSES}, not {status!r}")
        params: dict[str, Any] = {"company_id": self._cid(), "filters[by_status]": status}
        if updated_since is not None:
            params["filters[updated_at]"] = self._window(updated_since)
        return self._list("projects", "/rest/v1.1/projects", Project.from_api, params)

    def sub_jobs(self, project_id: int) -> Listing[SubJob]:
        return self._list(
            "sub_jobs",
            "/rest/v1.0/sub_jobs",
            lambda data: SubJob.from_api(data, project_id=project_id),
            {"project_id": project_id},
        )

    def standard_cost_code_lists(self) -> Listing[StandardCostCodeList]:
        return self._list(
            "standard_cost_code_lists",
            "/rest/v1.0/standard_cost_code_lists",
            StandardCostCodeList.from_api,
            {"company_id": self._cid()},
        )

    def standard_cost_codes(self, list_id: int) -> Listing[StandardCostCode]:
        """The company cost codes of one list (divisions included)."""
        return self._list(
            "standard_cost_codes",
            "/rest/v1.0/standard_cost_codes",
            lambda data: StandardCostCode.from_api(data, list_id=list_id),
            {"company_id": self._cid(), "standard_cost_code_list_id": list_id, "view": "extended"},
        )

    # Single-record reads (webhook-driven imports): None when Procore says 404, gone.

    def _one(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = self._call("GET", self._url(path), params=params, accept=(404,))
        return None if response.status_code == 404 else self._json(response)

    def worker(self, worker_id: int) -> Worker | None:
        """One company user, active or inactive; None when gone."""
        data = self._one(f"/rest/v1.3/companies/{self._cid()}/users/{worker_id}")
        return None if data is None else Worker.from_api(data, is_active=True)

    def project(self, project_id: int) -> Project | None:
        """One project of any status; None when gone."""
        data = self._one(f"/rest/v1.1/projects/{project_id}", {"company_id": self._cid()})
        return None if data is None else Project.from_api(data)

    def sub_job(self, project_id: int, sub_job_id: int) -> SubJob | None:
        """One sub-job of a project (any status); None when gone."""
        data = self._one(f"/rest/v1.0/sub_jobs/{sub_job_id}", {"project_id": project_id})
        return None if data is None else SubJob.from_api(data, project_id=project_id)

    def crew(self, project_id: int, crew_id: int) -> Crew | None:
        """One crew of a project; None when gone."""
        data = self._one(f"/rest/v1.0/projects/{project_id}/crews/{crew_id}")
        return None if data is None else Crew.from_api(data, project_id=project_id)

    def standard_cost_code(self, code_id: int) -> StandardCostCode | None:
        """One company cost code (a division too: no parent); None when gone."""
        data = self._one(f"/rest/v1.0/standard_cost_codes/{code_id}", {"company_id": self._cid()})
        return None if data is None else StandardCostCode.from_api(data)

    def project_cost_codes(self, project_id: int) -> Listing[ProjectCostCode]:
        """The cost codes set up on a project (deleted ones too, marked)."""
        return self._list(
            "cost_codes",
            "/rest/v1.0/cost_codes",
            lambda data: ProjectCostCode.from_api(data, project_id=project_id),
            {"project_id": project_id},
        )

    def crews(self, project_id: int, updated_since: datetime | None = None) -> Listing[Crew]:
        params = (
            {} if updated_since is None else {"filters[updated_at]": self._window(updated_since)}
        )
        return self._list(
            "crews",
            f"/rest/v1.0/projects/{project_id}/crews",
            lambda data: Crew.from_api(data, project_id=project_id),
            params,
        )

    def work_classifications(self) -> Listing[WorkClassification]:
        return self._list(
            "work_classifications",
            f"/rest/v1.0/companies/{self._cid()}/work_classifications",
            WorkClassification.from_api,
        )

    def timecard_time_types(self) -> Listing[TimecardTimeType]:
        return self._list(
            "timecard_time_types",
            f"/rest/v1.0/companies/{self._cid()}/timecard_time_types",
            TimecardTimeType.from_api,
        )

    def fieldsets(self, fieldset_type: str | None = TIMESHEET_FIELDSET_TYPE) -> Iterator[Fieldset]:
        """Configurable fieldsets, by default only the timesheet ones (None: all)."""
        every = self._list(
            "configurable_field_sets",
            f"/rest/v1.0/companies/{self._cid()}/configurable_field_sets",
            Fieldset.from_api,
        )
        return (f for f in every if fieldset_type is None or f.type == fieldset_type)

    def custom_field_definitions(self) -> Listing[CustomFieldDefinition]:
        """The timesheet tool's custom field definitions."""
        return self._list(
            "custom_field_definitions",
            f"/rest/v1.1/companies/{self._cid()}/custom_field_definitions",
            CustomFieldDefinition.from_api,
            {"tool_name": "timesheets"},
        )

    def timecard_entries(
        self,
        start_date: date,
        end_date: date,
        party_ids: Sequence[int] | None = None,
        updated_since: datetime | None = None,
    ) -> Listing[TimecardEntry]:
        """Entries dated within [start_date, end_date] (for reconciling exports)."""
        params: dict[str, Any] = {
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
        }
        if party_ids:
            params["filters[party_id][]"] = [int(p) for p in party_ids]
        if updated_since is not None:
            params["filters[updated_at]"] = self._window(updated_since)
        return self._list(
            "timecard_entries",
            f"/rest/v1.0/companies/{self._cid()}/timecard_entries",
            TimecardEntry.from_api,
            params,
        )

    # Writes -------------------------------------------------------------------------
    # POST and PATCH are never re-sent after a failure that may have reached Procore:
    # they raise ProcoreOutcomeUnknown and the caller reconciles by origin_id.

    def create_timecard_entries(self, entries: Sequence[Mapping[str, Any]]) -> list[TimecardEntry]:
        """Bulk create (≤ 100, all or nothing); the created entries in request order.

        A 422 raises ProcoreValidationError whose `index_errors` maps entry index →
        messages.
        """
        return [TimecardEntry.from_api(item) for item in self._bulk_create(entries)]

    def create_timecard_entry_ids(self, entries: Sequence[Mapping[str, Any]]) -> list[int]:
        """`create_timecard_entries`, answered with the created entries' ids only (in
        request order): reading each answered entry whole was an eighth of the time a big
        export's creates took (profiled), and the export keeps nothing else of them."""
        return [created_id(item) for item in self._bulk_create(entries)]

    def send_timecard_entries(
        self, entries: Sequence[Mapping[str, Any]]
    ) -> Callable[[], list[int]]:
        """`create_timecard_entry_ids`, written now on this thread and answered when the
        returned call is made (see `integrations.early_send`; it has ``drop`` too):
        Procore creates them while the caller does something else."""
        body = self._bulk_body(entries)
        if body is None:
            return list

        def ids(response: requests.Response) -> list[int]:
            return [created_id(item) for item in self._bulk_answer(response, len(entries))]

        return self._sent_now("POST", self._bulk_url(), ids, json=body)

    def _bulk_url(self) -> str:
        return self._url(f"/rest/v1.0/companies/{self._cid()}/timesheets")

    @staticmethod
    def _bulk_body(entries: Sequence[Mapping[str, Any]]) -> dict | None:
        """A bulk create's body (None for no entries)."""
        if len(entries) > MAX_BULK_ENTRIES:
            raise ValueError(
                f"at most {MAX_BULK_ENTRIES} timecard entries per bulk create, got {len(entries)}"
            )
        return {"timecard_entries": [dict(e) for e in entries]} if entries else None

    def _bulk_create(self, entries: Sequence[Mapping[str, Any]]) -> list:
        body = self._bulk_body(entries)
        if body is None:
            return []
        return self._bulk_answer(self._call("POST", self._bulk_url(), json=body), len(entries))

    def _bulk_answer(self, response: requests.Response, count: int) -> list:
        """The entries a bulk create of ``count`` answered with, in request order."""
        body = self._written(response)
        if isinstance(body, Mapping):
            body = body.get("timecard_entries", body.get("data"))
        if not isinstance(body, list) or len(body) != count:
            raise ProcoreOutcomeUnknown(
                f"Procore accepted a bulk create of {count} timecard entries but did "
                "not answer with them. Linx checks what is there before sending it again.",
                status=response.status_code,
            )
        return body

    def create_timecard_entry(self, project_id: int, entry: Mapping[str, Any]) -> TimecardEntry:
        response = self._call(
            "POST",
            self._url(f"/rest/v1.0/companies/{self._cid()}/timecard_entries"),
            json={"project_id": project_id, "timecard_entry": dict(entry)},
        )
        return TimecardEntry.from_api(self._written(response))

    def update_timecard_entry(self, entry_id: int, fields: Mapping[str, Any]) -> TimecardEntry:
        response = self._call(
            "PATCH",
            self._url(f"/rest/v1.0/companies/{self._cid()}/timecard_entries/{entry_id}"),
            json={"timecard_entry": dict(fields)},
        )
        return TimecardEntry.from_api(self._written(response))

    def delete_timecard_entry(self, entry_id: int) -> bool:
        """Delete an entry; False when Procore no longer has it (already gone)."""
        response = self._call(
            "DELETE",
            self._url(f"/rest/v1.0/companies/{self._cid()}/timecard_entries/{entry_id}"),
            accept=(404,),
        )
        return response.status_code != 404
