"""Runs and their row results: a read-only history."""

from __future__ import annotations

from django.contrib import admin, messages

from linx.models import RowResult, SyncRun
from linx.sync.requests import request_reruns
from linx.sync.runs import cancel, reap_dead_runs


class RowResultInline(admin.TabularInline):
    model = RowResult
    extra = 0
    fields = ["entity_type", "outcome", "procore_id", "exaktime_id", "name", "message", "retryable"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    max_num = 0


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "connection",
        "status",
        "trigger",
        "started_by",
        "dry_run",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind", "trigger", "dry_run", "connection", "created_at"]
    search_fields = ["id", "connection__name", "message"]
    date_hierarchy = "created_at"
    list_select_related = ["connection", "started_by"]
    inlines = [RowResultInline]
    actions = ["rerun_failed_rows", "cancel_runs"]

    def changelist_view(self, request, extra_context=None):
        # Whoever looks at the runs sees dead ones as failed, not "running" for ever.
        reap_dead_runs()
        return super().changelist_view(request, extra_context)

    @admin.action(description="Re-run failed rows", permissions=["rerun"])
    def rerun_failed_rows(self, request, queryset):
        queued, left_out = request_reruns(queryset, started_by=request.user)
        if queued:
            self.message_user(
                request,
                f"Queued {len(queued)} re-run(s) of failed rows: "
                + ", ".join(f"#{run.pk} (of #{run.rerun_of_id})" for run in queued)
                + ".",
                messages.SUCCESS,
            )
        if left_out:
            self.message_user(
                request,
                "Nothing to re-run for "
                + ", ".join(f"#{run.pk}" for run in left_out)
                + ": not finished, or no failed rows.",
                messages.WARNING,
            )

    @admin.action(description="Cancel", permissions=["rerun"])
    def cancel_runs(self, request, queryset):
        stopped = [run.pk for run in queryset if cancel(run)]
        self.message_user(
            request,
            f"Asked {len(stopped)} run(s) to stop; a running one stops at its next batch of rows."
            if stopped
            else "None of those runs was queued or running.",
            messages.SUCCESS if stopped else messages.WARNING,
        )

    def has_rerun_permission(self, request) -> bool:
        return request.user.has_perm("linx.run_sync")


@admin.register(RowResult)
class RowResultAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "entity_type",
        "outcome",
        "procore_id",
        "exaktime_id",
        "name",
        "retryable",
    ]
    list_filter = ["outcome", "entity_type", "retryable"]
    search_fields = ["name", "procore_id", "exaktime_id", "message"]
    list_select_related = ["run", "run__connection"]
