"""Open failures: the records each connection still fails on, read-only.

The dashboard's and the connection list's failure counts link here, filtered by
connection and kind. Rows come and go with the runs (``linx.sync.failures``): an
operator fixes the record in Procore or ExakTime and the next run closes it, or ignores
the record on the mappings screen.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from linx.admin import run_views
from linx.admin.badges import fix_or_retry
from linx.admin.runs import ConnectionFilter, ReadOnlyAdmin
from linx.models import OpenFailure


@admin.register(OpenFailure)
class OpenFailureAdmin(ReadOnlyAdmin):
    list_display = [
        "name_shown",
        "connection",
        "kind",
        "entity_type",
        "source_id",
        "message",
        "fix_or_retry",
        "first_seen_at",
        "last_seen_at",
        "last_run_shown",
    ]
    list_filter = [("connection", ConnectionFilter), "kind", "entity_type", "retryable"]
    search_fields = ["name", "source_id", "message"]
    list_select_related = ["connection"]
    list_per_page = 100
    exclude = ["procore_record"]  # Linx's own copy of the record, for plain imports

    class Media:
        css = {"all": ["linx/console.css"]}

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .defer("procore_record", *run_views.without_secrets("connection__"))
        )

    @admin.display(description="Record", ordering="name")
    def name_shown(self, failure: OpenFailure):
        return failure.name or failure.source_id

    @admin.display(description="Needs")
    def fix_or_retry(self, failure: OpenFailure):
        return fix_or_retry(failure.retryable)

    @admin.display(description="Last failed in", ordering="last_run")
    def last_run_shown(self, failure: OpenFailure):
        if failure.last_run_id is None:
            return "—"
        return format_html(
            '<a href="{}">run #{}</a>', run_views.run_url(failure.last_run_id), failure.last_run_id
        )
