"""Where a record a failure names has its place in Mappings, already filtered.

A failed row whose message says a link is missing carries what it is about
(`RowResult.needs`); the pages turn that into a link here, and the message itself stays
plain text (in the failed-rows CSV and ``--json`` too).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from linx.models import EntityType
from linx.sync.mappings import MappingStatus

#: The query parameter Mappings reads: the ExakTime record an operator came to link.
EXAKTIME_PARAMETER = "exaktime"


def place_in_mappings(connection_id: int, needs: dict | None) -> str | None:
    """The Mappings list for the record ``needs`` names, or None when it names none.

    An unlinked ExakTime record leads to the Procore records of its kind still waiting
    for a link, the ExakTime record shown above them to pick; a cost code a project
    lacks leads to that project.
    """
    if not needs or needs.get("entity_type") not in EntityType.values:
        return None
    query = {"connection__id__exact": connection_id}
    if needs.get("project") is not None:
        query |= {"entity_type__exact": EntityType.LOCATION, "q": needs["project"]}
    elif needs.get("exaktime_id"):
        query |= {
            "entity_type__exact": needs["entity_type"],
            "status": MappingStatus.NOT_IN_EXAKTIME.value,
            EXAKTIME_PARAMETER: needs["exaktime_id"],
        }
    else:
        return None
    return reverse("admin:linx_entitymapping_changelist") + "?" + urlencode(query)
