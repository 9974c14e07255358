"""Open failures: the records each connection still fails on, read-only.

The dashboard's and the connection list's failure counts link here, filtered by
connection and kind. Rows come and go with the runs (``linx.sync.failures``): an
operator fixes the record in Procore or ExakTime and the next run closes it, or ignores
the record on the mappings screen. A message that names a missing link leads to the place
that fixes it, as the run's row does (the row of the run it last failed in says where).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.contrib.admin.utils import display_for_field
from django.db.models import Q
from django.utils.html import format_html

from linx.admin import run_views
from linx.admin.badges import fix_or_retry
from linx.admin.mapping_places import message_to_fix
from linx.admin.runs import ConnectionFilter, ReadOnlyAdmin
from linx.models import OpenFailure, Outcome, RowResult
from linx.sync.failures import source_of


def attach_needs(failures: Iterable[OpenFailure]) -> None:
    """Give each failure the ``needs`` of its row in the run it last failed in (None when
    that row names no missing link or is no longer kept): one query for a page."""
    failures = list(failures)
    for failure in failures:
        failure.needs = None
    runs = {f.last_run_id for f in failures if f.last_run_id is not None}
    if not runs:
        return
    rows = RowResult.objects.filter(
        run_id__in=runs, outcome=Outcome.FAILED, needs__isnull=False
    ).filter(
        Q(exaktime_id__in={f.exaktime_id for f in failures if f.exaktime_id})
        | Q(procore_id__in={f.procore_id for f in failures if f.procore_id is not None})
    )
    needs = {}
    for row in rows.only("run_id", "entity_type", "procore_id", "exaktime_id", "name", "needs"):
        source = source_of(row.entity_type, row.procore_id, row.exaktime_id, row.name)
        needs[row.run_id, row.entity_type, source] = row.needs
    for failure in failures:
        failure.needs = needs.get((failure.last_run_id, failure.entity_type, failure.source_id))


def _when(moment) -> str:
    return display_for_field(moment, OpenFailure._meta.get_field("first_seen_at"), "—")


@admin.register(OpenFailure)
class OpenFailureAdmin(ReadOnlyAdmin):
    list_display = [
        "name_shown",
        "connection",
        "what",
        "message_shown",
        "fix_or_retry",
        "failing_since",
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

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        attach_needs(changelist.result_list)  # the page's rows, as the list shows them
        return changelist

    @admin.display(description="Message", ordering="message")
    def message_shown(self, failure: OpenFailure):
        message = message_to_fix(
            failure.connection_id, getattr(failure, "needs", None), failure.message
        )
        return format_html('<span class="linx-breakable">{}</span>', message)

    @admin.display(description="Record", ordering="name")
    def name_shown(self, failure: OpenFailure):
        if not failure.name:
            return format_html('<span class="linx-breakable">{}</span>', failure.source_id)
        return format_html(
            '<span class="linx-breakable">{}</span><br><span class="linx-quiet">{}</span>',
            failure.name,
            failure.source_id,
        )

    @admin.display(description="Failing in", ordering="kind")
    def what(self, failure: OpenFailure):
        return f"{failure.get_kind_display()}: {failure.get_entity_type_display().lower()}"

    @admin.display(description="Failing since", ordering="first_seen_at")
    def failing_since(self, failure: OpenFailure):
        # Not the fields themselves: the admin never wraps a date field's cell.
        return format_html(
            '{}<br><span class="linx-quiet">last {}</span>',
            _when(failure.first_seen_at),
            _when(failure.last_seen_at),
        )

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
