"""Runs and their row results: a read-only history, as django-q2's admin keeps its tasks.

The list shows each run's status, starter, counts and duration, with a live progress bar
for running runs; a run's own page (``run_views``) shows its rows. Actions and buttons
call ``linx.sync``; this module only shows.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html

from linx.admin import run_views
from linx.admin.mapping_places import message_to_fix
from linx.admin.readable import Names, change_groups
from linx.models import Connection, Outcome, RowResult, SyncRun
from linx.sync.execute import RETRIED_ONCE_FIXED
from linx.sync.queueing import queue_reruns
from linx.sync.runs import cancel, reap_dead_runs

CONSOLE_MEDIA = {"css": {"all": ["linx/console.css"]}, "js": ["linx/run_progress.js"]}


class ConnectionFilter(admin.RelatedFieldListFilter):
    """Connections by name, read without their (encrypted) settings."""

    def field_choices(self, field, request, model_admin):
        return list(Connection.objects.order_by("name").values_list("pk", "name"))


class ReadOnlyAdmin(admin.ModelAdmin):
    """History is written by runs, never edited or deleted by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind_shown",
        "connection",
        "status_shown",
        "started",
        "counts_shown",
        "duration_shown",
        "created_at",
    ]
    # A date filter, not date_hierarchy: its month links cost a pass over every run.
    list_filter = [
        "status",
        "kind",
        ("connection", ConnectionFilter),
        "trigger",
        "dry_run",
        "created_at",
    ]
    search_fields = ["=id", "connection__name", "message"]
    list_select_related = ["connection", "started_by"]
    list_per_page = 50
    # Counting every run again beside the filtered count doubles the cost of each page.
    show_full_result_count = False
    actions = ["rerun_failed_rows", "cancel_runs"]

    class Media:
        css = CONSOLE_MEDIA["css"]
        js = CONSOLE_MEDIA["js"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*run_views.without_secrets("connection__"))

    def changelist_view(self, request, extra_context=None):
        # Whoever looks at the runs sees dead ones as failed, not "running" for ever.
        reap_dead_runs()
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The run's page shows a page of its rows, not a form with every row inline.
        return run_views.run_page(request, self, object_id)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:run_id>/progress/",
                wrap(self.progress_view),
                name="{}_{}_progress".format(*info),
            ),
            path(
                "<int:run_id>/failed-rows.csv",
                wrap(self.failed_rows_csv_view),
                name="{}_{}_failed_csv".format(*info),
            ),
            path("<int:run_id>/rerun/", wrap(self.rerun_view), name="{}_{}_rerun".format(*info)),
            path("<int:run_id>/cancel/", wrap(self.cancel_view), name="{}_{}_cancel".format(*info)),
            path("<int:run_id>/apply/", wrap(self.apply_view), name="{}_{}_apply".format(*info)),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, run_id: int):
        return run_views.progress(request, self, run_id)

    def failed_rows_csv_view(self, request: HttpRequest, run_id: int):
        return run_views.failed_rows_csv(request, self, run_id)

    def rerun_view(self, request: HttpRequest, run_id: int):
        return run_views.rerun(request, self, run_id)

    def cancel_view(self, request: HttpRequest, run_id: int):
        return run_views.cancel_run(request, self, run_id)

    def apply_view(self, request: HttpRequest, run_id: int):
        return run_views.apply_preview(request, self, run_id)

    # --- columns -------------------------------------------------------------------

    @admin.display(description="Kind", ordering="kind")
    def kind_shown(self, run: SyncRun):
        if run.dry_run:
            return format_html(
                '{} <span class="linx-tag linx-tag--dry" title="{}">dry run</span>',
                run.get_kind_display(),
                "A preview: nothing was written.",
            )
        return run.get_kind_display()

    @admin.display(description="Status", ordering="status")
    def status_shown(self, run: SyncRun):
        if run.status not in run_views.ACTIVE_STATUSES:
            return run_views.status_badge(run)
        return render_to_string(
            "admin/linx/syncrun/progress.html",
            {
                "run": run,
                "compact": True,
                "status_badge": run_views.status_badge(run),
                "overall": run_views.overall_progress(run_views.progress_entries(run.progress)),
                "url": reverse("admin:linx_syncrun_progress", args=[run.pk]),
            },
        )

    @admin.display(description="Started by", ordering="trigger")
    def started(self, run: SyncRun):
        return run_views.starter(run)

    @admin.display(description="Rows")
    def counts_shown(self, run: SyncRun):
        return format_html(
            '<span data-linx-counts="{}">{}</span>', run.pk, run_views.counts_html(run.counts)
        )

    @admin.display(description="Duration")
    def duration_shown(self, run: SyncRun):
        return format_html(
            '<span class="linx-nowrap">{}</span>', run_views.format_duration(run.duration)
        )

    # --- actions -------------------------------------------------------------------

    @admin.action(description="Re-run failed rows", permissions=["rerun"])
    def rerun_failed_rows(self, request, queryset):
        queued, left_out = queue_reruns(queryset, started_by=request.user)
        if queued:
            self.message_user(
                request,
                f"Queued {len(queued)} re-run(s) of failed rows: "
                + ", ".join(f"#{run.pk} (of #{run.rerun_of_id})" for run in queued)
                + ".",
                messages.SUCCESS,
            )
        for run, reason in left_out:
            self.message_user(
                request, f"Nothing to re-run for #{run.pk} yet: {reason}", messages.WARNING
            )

    @admin.action(description="Cancel", permissions=["rerun"])
    def cancel_runs(self, request, queryset):
        stopped = [run.pk for run in queryset if cancel(run, acting_user=request.user)]
        self.message_user(
            request,
            f"Asked {len(stopped)} run(s) to stop; a running one stops at its next batch of rows."
            if stopped
            else "None of those runs was queued or running.",
            messages.SUCCESS if stopped else messages.WARNING,
        )

    def has_rerun_permission(self, request) -> bool:
        return request.user.has_perm("linx.run_sync")


#: What a row is: shown in the list and on its page.
ROW_COLUMNS = ["run_link", "entity_type", "outcome_shown", "procore_id", "exaktime_id", "name"]


@admin.register(RowResult)
class RowResultAdmin(ReadOnlyAdmin):
    list_display = ["id", *ROW_COLUMNS, "failure"]
    list_filter = ["outcome", "entity_type", "retryable"]
    search_fields = ["name", "=procore_id", "=exaktime_id"]
    list_select_related = ["run", "run__connection"]
    show_full_result_count = False
    fields = [*ROW_COLUMNS, "message_shown", "changes_shown", "created_at"]
    readonly_fields = fields

    class Media:
        css = CONSOLE_MEDIA["css"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*run_views.without_secrets("run__connection__"))

    @admin.display(description="Run", ordering="run")
    def run_link(self, row: RowResult):
        return format_html('<a href="{}">{}</a>', run_views.run_url(row.run_id), row.run)

    @admin.display(description="Outcome", ordering="outcome")
    def outcome_shown(self, row: RowResult):
        return run_views.outcome_badge(row)

    @admin.display(description="Failure")
    def failure(self, row: RowResult):
        return run_views.failure_label(row)

    @admin.display(description="Message")
    def message_shown(self, row: RowResult):
        if row.outcome != Outcome.FAILED:
            return row.message or "—"
        advice = (
            "A passing fault: re-run the failed rows of the run, and this one may succeed."
            if row.retryable
            else "An operator must fix this first (the message says what); "
            f"{RETRIED_ONCE_FIXED.get(row.run.kind, 'the next run retries it once fixed')}."
        )
        message = message_to_fix(row.run.connection_id, row.needs, row.message)
        return format_html(
            '<div class="linx-row-message linx-row-message--{}">{} {}</div>'
            '<div class="linx-quiet">{}</div>',
            "retry" if row.retryable else "fix",
            run_views.failure_label(row),
            message,
            advice,
        )

    @admin.display(description="Changes (before → after)")
    def changes_shown(self, row: RowResult):
        groups = change_groups(row.changes, Names(row.run.connection, [row.changes or {}]))
        if not groups:
            return "—"
        return render_to_string("admin/linx/rowresult/changes.html", {"groups": groups})
