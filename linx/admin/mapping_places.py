"""Where the record a failure names can be fixed: its place in Mappings, already filtered,
or the codes set up on the project a cost code is missing from.

A failed row whose message says a link is missing carries what it is about
(`RowResult.needs`); the pages turn that into a link here, and the message itself stays
plain text (in the failed-rows CSV and ``--json`` too).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from linx.models import EntityType
from linx.sync.mappings import MappingStatus

#: The query parameter Mappings reads: the ExakTime record an operator came to link.
EXAKTIME_PARAMETER = "exaktime"


def place_to_fix(connection_id: int, needs: dict | None) -> str | None:
    """The page that fixes what ``needs`` names, or None when it names nothing.

    An unlinked ExakTime record leads to the Procore records of its kind still waiting
    for a link in Mappings, the ExakTime record shown above them to pick; a cost code a
    project lacks leads to the cost codes Linx knows are set up on that project.
    """
    if not needs or needs.get("entity_type") not in EntityType.values:
        return None
    if needs.get("project") is not None:
        return reverse("admin:linx_projectreference_codes", args=[connection_id, needs["project"]])
    if not needs.get("exaktime_id"):
        return None
    query = {
        "connection__id__exact": connection_id,
        "entity_type__exact": needs["entity_type"],
        "status": MappingStatus.NOT_IN_EXAKTIME.value,
        EXAKTIME_PARAMETER: needs["exaktime_id"],
    }
    return reverse("admin:linx_entitymapping_changelist") + "?" + urlencode(query)


def message_to_fix(connection_id: int, needs: dict | None, message: str) -> SafeString | str:
    """``message``, as a link to the place that fixes it when there is one."""
    place = place_to_fix(connection_id, needs)
    if place is None:
        return message
    return format_html('<a href="{}" class="linx-fix-link">{}</a>', place, message)
