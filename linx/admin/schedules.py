"""Schedules: when each connection's runs start by themselves."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils import timezone

from linx.models import ExportRange, RunKind, RunSchedule
from linx.sync.schedules import next_time


class ScheduleForm(forms.ModelForm):
    """An export's dates in words (yesterday, last week, the last N days); the two
    "days back" numbers only for a range none of those says."""

    last_days = forms.IntegerField(
        label="N (for the last N days)",
        required=False,
        min_value=1,
        max_value=366,
        help_text="How many days, ending yesterday, with “the last N days”.",
    )

    class Meta:
        model = RunSchedule
        fields = [
            "connection", "kind", "cron", "enabled", "entities", "export_range",
            "approved_only", "days_back_from", "days_back_to",
        ]  # fmt: skip
        widgets = {"export_range": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A form from before the choice existed (a script) keeps the schedule's range.
        self.fields["export_range"].required = False
        if self.instance.export_range == ExportRange.LAST_DAYS:
            self.fields["last_days"].initial = self.instance.days_back_from

    def clean(self):
        cleaned = super().clean()
        choice = cleaned.get("export_range") or self.instance.export_range
        cleaned["export_range"] = choice
        if choice == ExportRange.LAST_DAYS:
            days = cleaned.get("last_days")
            if not days:
                self.add_error("last_days", "Say how many days: “the last N days” needs N.")
                return cleaned
            cleaned["days_back_from"], cleaned["days_back_to"] = days, 1
        elif choice == ExportRange.YESTERDAY:
            cleaned["days_back_from"], cleaned["days_back_to"] = 1, 1
        elif choice == ExportRange.LAST_WEEK:
            cleaned["days_back_from"], cleaned["days_back_to"] = 7, 1  # shown as "last week"
        for name in ("days_back_from", "days_back_to"):
            setattr(self.instance, name, cleaned.get(name, getattr(self.instance, name)))
        return cleaned


@admin.register(RunSchedule)
class RunScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = [
        "connection",
        "kind",
        "cron",
        "time_zone",
        "export_dates",
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
        ("Export and reconciliation", {"fields": ["export_range", "last_days", "approved_only"]}),
        (
            "Export and reconciliation: days back",
            {
                "description": "Only with “From … to … days back”: 1 is yesterday.",
                "fields": ["days_back_from", "days_back_to"],
                "classes": ["collapse"],
            },
        ),
        (
            "State",
            {"fields": ["next_run_local", "last_fired_at", "failures_in_a_row", "last_alert_at"]},
        ),
    ]

    @admin.display(description="time zone")
    def time_zone(self, obj: RunSchedule) -> str:
        return obj.connection.time_zone

    @admin.display(description="exports")
    def export_dates(self, obj: RunSchedule) -> str:
        return obj.range_in_words() if obj.kind == RunKind.EXPORT else "-"

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
