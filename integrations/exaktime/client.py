"""Linx's ExakTime client: the collections import writes and the time records export reads.

Lists are generators that fetch one page at a time, stopping on the page where
`page * page_size >= total_count` (or an empty page). ExakTime has no delete: a record
is retired with `is_active=false`. An update sends the whole object (PUT); `change_*`
reads, merges and writes in one go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar, Unpack

from integrations.exaktime.errors import (
    ExakTimeError,
    ExakTimeOutcomeUnknown,
    ExakTimeUnavailable,
    error_from_response,
    exaktime_says,
)
from integrations.exaktime.records import (
    CostCode,
    CustomField,
    Employee,
    Group,
    Location,
    LocationCategory,
    TimeRecord,
    wire_value,
)
from integrations.http import HttpClient, HttpOptions, ServiceClient
from integrations.values import Reader, iso_utc

R = TypeVar("R")

#: Where each collection lives (contract).
EMPLOYEES = "/v1/Common/Persons/Employees"
LOCATIONS = "/v1/Time/Jobs"
COST_CODES = "/v1/Time/CostCodes"
GROUPS = "/v1/Time/Groups"
LOCATION_CATEGORIES = "/v1/Time/LocationCategories"
CUSTOM_FIELDS = "/v1/Time/CustomFields"
TIME_RECORDS = "/v1/Time/TimeRecords"
#: The largest page the contract allows.
PAGE_SIZE = 100

Body = Mapping[str, Any]


class ExakTimeClient(ServiceClient):
    """One ExakTime account, reached with one API key."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        **http_options: Unpack[HttpOptions],
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = HttpClient(
            "ExakTime",
            unavailable=ExakTimeUnavailable,
            outcome_unknown=ExakTimeOutcomeUnknown,
            **http_options,
        )
        self.http.add_secret(api_key)
        # Sent only to our own host: the HTTP layer never follows redirects.
        self.http.session.headers["Ocp-Apim-Subscription-Key"] = api_key

    def __repr__(self) -> str:
        return f"ExakTimeClient(api_url={self.api_url!r})"

    # Transport ----------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        response = self.http.request(method, f"{self.api_url}{path}", params=params, json=json)
        if response.status_code >= 300:
            raise error_from_response(response, self.http.clock(), self.http.secrets)
        try:
            return response.json()
        except ValueError:
            pass
        if method in ("POST", "PUT"):
            # Accepted, but we cannot tell what was stored.
            raise ExakTimeOutcomeUnknown(
                f"ExakTime accepted {method} {path} ({response.status_code}) but its answer "
                "could not be read. Linx checks what is there before sending it again.",
                status=response.status_code,
            )
        raise ExakTimeUnavailable(
            exaktime_says(f"an answer to {path} that is not JSON", response.status_code),
            status=response.status_code,
        )

    def _object(self, method: str, path: str, json: Any = None) -> Body:
        body = self._call(method, path, json=json)
        # Tolerate a {"data": {...}} envelope around a single object.
        if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping):
            body = body["data"]
        if not isinstance(body, Mapping):
            raise ExakTimeError(exaktime_says(f"{path} did not answer with an object", 200))
        return body

    def _list(
        self,
        path: str,
        parse: Callable[[Body], R],
        params: Mapping[str, Any] | None = None,
        on_changed: Callable[[], None] | None = None,
    ) -> Iterator[R]:
        """Every record of a collection, one page in memory at a time.

        Pages are offsets into the list as it is at each request: a record added or
        removed before the page being read hides the one at the seam of two pages, or
        shows it twice. ``on_changed`` is called (once) when ``total_count`` moved
        between pages, or the records read do not add up to it.
        """
        page = 1
        first_total: int | None = None
        read = 0
        while True:
            body = self._call(
                "GET", path, params={**(params or {}), "page": page, "page_size": PAGE_SIZE}
            )
            if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
                raise ExakTimeError(exaktime_says(f"{path} did not answer with a page", 200))
            items = body["data"]
            for item in items:
                read += 1
                yield parse(item)
            page_of = Reader(body, "ExakTime")
            total = page_of.count("total_count")
            if page == 1:
                first_total = total
            # The server may grant a smaller page than asked: count with what it used.
            size = page_of.count("page_size") or PAGE_SIZE
            last = not items or total is None or page * size >= total
            if on_changed is not None and (
                total != first_total or (last and first_total is not None and read != first_total)
            ):
                on_changed()
                on_changed = None
            if last:
                return
            page += 1

    @staticmethod
    def _body(record: Body | Any) -> dict[str, Any]:
        if hasattr(record, "to_api"):
            return record.to_api()
        # Plain mappings may hold dates, decimals and tuples: send them as JSON does.
        return {key: wire_value(value) for key, value in dict(record).items()}

    def _create(self, path: str, parse: Callable[[Body], R], fields: Body | Any) -> R:
        return parse(self._object("POST", path, self._body(fields)))

    def _update(self, path: str, parse: Callable[[Body], R], record_id: int, whole: Any) -> R:
        return parse(self._object("PUT", f"{path}/{int(record_id)}", self._body(whole)))

    def _change(self, path: str, parse: Callable[[Body], R], record_id: int, changes: Body) -> R:
        stored = self._object("GET", f"{path}/{int(record_id)}")
        whole = {k: v for k, v in stored.items() if k != "id"}
        whole.update(changes)
        return parse(self._object("PUT", f"{path}/{int(record_id)}", whole))

    # Employees ----------------------------------------------------------------------

    def list_employees(self) -> Iterator[Employee]:
        return self._list(EMPLOYEES, Employee.from_api)

    def get_employee(self, employee_id: int) -> Employee:
        return Employee.from_api(self._object("GET", f"{EMPLOYEES}/{int(employee_id)}"))

    def create_employee(self, fields: Employee | Body) -> Employee:
        return self._create(EMPLOYEES, Employee.from_api, fields)

    def update_employee(self, employee_id: int, whole: Employee | Body) -> Employee:
        """Replace the whole employee (PUT)."""
        return self._update(EMPLOYEES, Employee.from_api, employee_id, whole)

    def change_employee(self, employee_id: int, changes: Body) -> Employee:
        """Read the employee, apply `changes`, write it back whole."""
        return self._change(EMPLOYEES, Employee.from_api, employee_id, changes)

    # Locations (jobs) ---------------------------------------------------------------

    def list_locations(self) -> Iterator[Location]:
        return self._list(LOCATIONS, Location.from_api)

    def get_location(self, location_id: int) -> Location:
        return Location.from_api(self._object("GET", f"{LOCATIONS}/{int(location_id)}"))

    def create_location(self, fields: Location | Body) -> Location:
        return self._create(LOCATIONS, Location.from_api, fields)

    def update_location(self, location_id: int, whole: Location | Body) -> Location:
        """Replace the whole location (PUT)."""
        return self._update(LOCATIONS, Location.from_api, location_id, whole)

    def change_location(self, location_id: int, changes: Body) -> Location:
        """Read the location, apply `changes`, write it back whole."""
        return self._change(LOCATIONS, Location.from_api, location_id, changes)

    # Cost codes ---------------------------------------------------------------------

    def list_cost_codes(self) -> Iterator[CostCode]:
        return self._list(COST_CODES, CostCode.from_api)

    def get_cost_code(self, cost_code_id: int) -> CostCode:
        return CostCode.from_api(self._object("GET", f"{COST_CODES}/{int(cost_code_id)}"))

    def create_cost_code(self, fields: CostCode | Body) -> CostCode:
        return self._create(COST_CODES, CostCode.from_api, fields)

    def update_cost_code(self, cost_code_id: int, whole: CostCode | Body) -> CostCode:
        """Replace the whole cost code (PUT)."""
        return self._update(COST_CODES, CostCode.from_api, cost_code_id, whole)

    def change_cost_code(self, cost_code_id: int, changes: Body) -> CostCode:
        """Read the cost code, apply `changes`, write it back whole."""
        return self._change(COST_CODES, CostCode.from_api, cost_code_id, changes)

    # Mobile groups ------------------------------------------------------------------

    def list_groups(self) -> Iterator[Group]:
        return self._list(GROUPS, Group.from_api)

    def get_group(self, group_id: int) -> Group:
        return Group.from_api(self._object("GET", f"{GROUPS}/{int(group_id)}"))

    def create_group(self, fields: Group | Body) -> Group:
        return self._create(GROUPS, Group.from_api, fields)

    def update_group(self, group_id: int, whole: Group | Body) -> Group:
        """Replace the whole group (PUT)."""
        return self._update(GROUPS, Group.from_api, group_id, whole)

    def change_group(self, group_id: int, changes: Body) -> Group:
        """Read the group, apply `changes`, write it back whole."""
        return self._change(GROUPS, Group.from_api, group_id, changes)

    # Location categories ------------------------------------------------------------

    def list_location_categories(self) -> Iterator[LocationCategory]:
        return self._list(LOCATION_CATEGORIES, LocationCategory.from_api)

    def get_location_category(self, category_id: int) -> LocationCategory:
        path = f"{LOCATION_CATEGORIES}/{int(category_id)}"
        return LocationCategory.from_api(self._object("GET", path))

    def create_location_category(self, fields: LocationCategory | Body) -> LocationCategory:
        return self._create(LOCATION_CATEGORIES, LocationCategory.from_api, fields)

    def update_location_category(
        self, category_id: int, whole: LocationCategory | Body
    ) -> LocationCategory:
        """Replace the whole location category (PUT)."""
        return self._update(LOCATION_CATEGORIES, LocationCategory.from_api, category_id, whole)

    def change_location_category(self, category_id: int, changes: Body) -> LocationCategory:
        """Read the location category, apply `changes`, write it back whole."""
        return self._change(LOCATION_CATEGORIES, LocationCategory.from_api, category_id, changes)

    # Custom fields ------------------------------------------------------------------

    def list_custom_fields(self) -> Iterator[CustomField]:
        return self._list(CUSTOM_FIELDS, CustomField.from_api)

    def get_custom_field(self, custom_field_id: int) -> CustomField:
        path = f"{CUSTOM_FIELDS}/{int(custom_field_id)}"
        return CustomField.from_api(self._object("GET", path))

    def create_custom_field(self, fields: CustomField | Body) -> CustomField:
        return self._create(CUSTOM_FIELDS, CustomField.from_api, fields)

    def update_custom_field(self, custom_field_id: int, whole: CustomField | Body) -> CustomField:
        """Replace the whole custom field (PUT)."""
        return self._update(CUSTOM_FIELDS, CustomField.from_api, custom_field_id, whole)

    def change_custom_field(self, custom_field_id: int, changes: Body) -> CustomField:
        """Read the custom field, apply `changes`, write it back whole."""
        return self._change(CUSTOM_FIELDS, CustomField.from_api, custom_field_id, changes)

    # Time records -------------------------------------------------------------------

    def time_records(
        self,
        start_date: date,
        end_date: date,
        modified_since: datetime | None = None,
        employee_id: int | None = None,
        *,
        on_changed: Callable[[], None] | None = None,
    ) -> Iterator[TimeRecord]:
        """Time records whose work date is within [start_date, end_date], deleted ones too.

        ``on_changed``: told when the list changed while it was read (see ``_list``).
        """
        params: dict[str, Any] = {
            "start_date": start_date.isoformat(),
            "end_date": end_date.isoformat(),
        }
        if modified_since is not None:
            params["modified_since"] = iso_utc(modified_since)
        if employee_id is not None:
            params["employee_id"] = int(employee_id)
        return self._list(TIME_RECORDS, TimeRecord.from_api, params, on_changed)

    def create_time_record(self, fields: Body) -> TimeRecord:
        """Simulate a punch from the field (sandboxes only; Linx never writes these)."""
        return TimeRecord.from_api(self._object("POST", TIME_RECORDS, dict(fields)))
