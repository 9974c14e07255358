"""ExakTime's collections as the import writes them: one `Target` per entity type.

Each says how its records are listed, read, created and written back, by explicit
calls on the ExakTime client (so a search for a client method finds every caller),
and which fields ExakTime refuses twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from integrations.exaktime.client import ExakTimeClient
from linx.models import EntityType

#: A collection's client methods: (list, get, create, update), bound to a client.
Methods = Callable[[ExakTimeClient], tuple[Callable[..., Any], ...]]


@dataclass(frozen=True)
class Target:
    """An ExakTime collection: how its records are listed, read, created and written."""

    plural: str
    key: str  # the field an existing record is matched on when linking
    methods: Methods
    group_type: str | None = None
    unique: tuple[str, ...] = ()  # fields ExakTime refuses twice (besides `key`)

    def list(self, client: ExakTimeClient) -> Iterable[Any]:
        records = self.methods(client)[0]()
        if self.group_type:
            return (r for r in records if r.group_type == self.group_type)
        return records

    def get(self, client: ExakTimeClient, record_id: int) -> Any:
        return self.methods(client)[1](record_id)

    def create(self, client: ExakTimeClient, fields: Mapping[str, Any]) -> Any:
        return self.methods(client)[2](dict(fields))

    def update(self, client: ExakTimeClient, record_id: int, whole: Mapping[str, Any]) -> Any:
        return self.methods(client)[3](record_id, dict(whole))


def _groups(c: ExakTimeClient) -> tuple[Callable[..., Any], ...]:
    return c.list_groups, c.get_group, c.create_group, c.update_group


def _locations(c: ExakTimeClient) -> tuple[Callable[..., Any], ...]:
    return c.list_locations, c.get_location, c.create_location, c.update_location


TARGETS: dict[str, Target] = {
    EntityType.EMPLOYEE: Target(
        "employees",
        "identifier",
        lambda c: (c.list_employees, c.get_employee, c.create_employee, c.update_employee),
    ),
    EntityType.LOCATION: Target("locations", "identifier", _locations),
    EntityType.SUB_JOB: Target("locations", "identifier", _locations),
    EntityType.COST_CODE: Target(
        "cost_codes",
        "identifier",
        lambda c: (c.list_cost_codes, c.get_cost_code, c.create_cost_code, c.update_cost_code),
        unique=("name",),
    ),
    EntityType.CREW: Target("groups", "name", _groups, group_type="employee"),
    EntityType.LOCATION_GROUP: Target("groups", "name", _groups, group_type="location"),
    EntityType.LOCATION_CATEGORY: Target(
        "location_categories",
        "name",
        lambda c: (
            c.list_location_categories,
            c.get_location_category,
            c.create_location_category,
            c.update_location_category,
        ),
    ),
    EntityType.CUSTOM_FIELD: Target(
        "custom_fields",
        "name",
        lambda c: (
            c.list_custom_fields,
            c.get_custom_field,
            c.create_custom_field,
            c.update_custom_field,
        ),
    ),
}

#: The users' name for each entity in messages.
NOUNS = {
    EntityType.EMPLOYEE: "Employee",
    EntityType.LOCATION: "Location",
    EntityType.SUB_JOB: "Sub-job location",
    EntityType.COST_CODE: "Cost code",
    EntityType.CREW: "Crew",
    EntityType.LOCATION_GROUP: "Project group",
    EntityType.LOCATION_CATEGORY: "Project category",
    EntityType.CUSTOM_FIELD: "Custom field",
}
