"""Schedules: when each connection's runs start by themselves."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from linx.models import RunSchedule
from linx.sync.schedules import next_time


@admin.register(RunSchedule)
class RunScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "connection",
        "kind",
        "cron",
        "time_zone",
        "enabled",
        "next_run_local",
        "last_fired_at",
        "failures_in_a_row",
    ]
    list_filter = ["enabled", "kind", "connection"]
    list_select_related = ["connection"]
    search_fields = ["connection__name", "cron"]
    readonly_fields = ["next_run_local", "last_fired_at", "failures_in_a_row", "last_alert_at"]
    fieldsets = [
        (None, {"fields": ["connection", "kind", "cron", "enabled"]}),
        ("Import", {"fields": ["entities"]}),
        (
            "Export and reconciliation",
            {"fields": ["days_back_from", "days_back_to", "approved_only"]},
        ),
        (
            "State",
            {"fields": ["next_run_local", "last_fired_at", "failures_in_a_row", "last_alert_at"]},
        ),
    ]

    @admin.display(description="time zone")
    def time_zone(self, obj: RunSchedule) -> str:
        return obj.connection.time_zone

    @admin.display(description="next run (connection's time)")
    def next_run_local(self, obj: RunSchedule) -> str:
        if obj.pk is None:
            return "-"
        moment = obj.next_run_at or next_time(obj, timezone.now())
        return f"{moment.astimezone(obj.connection.zone):%Y-%m-%d %H:%M %Z}"

    def save_model(self, request, obj, form, change):
        # A changed cron or a re-enabled schedule starts counting from now.
        obj.next_run_at = next_time(obj, timezone.now()) if obj.enabled else None
        super().save_model(request, obj, form, change)
