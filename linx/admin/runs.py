"""Runs and their row results: a read-only history."""

from __future__ import annotations

from django.contrib import admin

from linx.models import RowResult, SyncRun


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
