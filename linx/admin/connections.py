"""Connections: one Procore company linked to one ExakTime account."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.template.response import TemplateResponse
from django.utils import timezone

from linx.admin.secrets import WriteOnlySecretsForm, secret_status
from linx.models import Connection, CustomField, Fieldset, RunKind, RunTrigger
from linx.sync.imports import ENTITIES
from linx.sync.requests import request_runs

ENTITY_LABELS = {
    "employees": "Employees",
    "locations": "Locations (projects, sub-jobs, project groups and categories)",
    "cost_codes": "Cost codes",
    "crews": "Crews (as employee groups)",
}


class ExportForm(forms.Form):
    first_day = forms.DateField(
        label="From (work date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    last_day = forms.DateField(
        label="To (work date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    approved_only = forms.BooleanField(required=False, label="Approved time records only")
    dry_run = forms.BooleanField(
        required=False, initial=True, label="Preview first: show what would be sent, send nothing"
    )

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first and last and last < first:
            raise forms.ValidationError("The range ends before it starts.")
        return cleaned


class ImportChoiceForm(forms.Form):
    entities = forms.MultipleChoiceField(
        choices=[(e, ENTITY_LABELS[e]) for e in ENTITIES],
        initial=list(ENTITIES),
        widget=forms.CheckboxSelectMultiple,
        label="What to import",
    )
    dry_run = forms.BooleanField(
        required=False, label="Dry run: show what would change, write nothing"
    )


class ConnectionForm(WriteOnlySecretsForm):
    secret_fields = ("procore_client_secret", "exaktime_api_key")

    class Meta:
        model = Connection
        fields = "__all__"


class FieldsetInline(admin.TabularInline):
    model = Fieldset
    extra = 0
    fields = ["name", "procore_id", "selected", "gone_from_procore"]
    readonly_fields = ["name", "procore_id", "selected", "gone_from_procore"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # fieldsets come from Procore through the pre-import


class CustomFieldInline(admin.TabularInline):
    model = CustomField
    extra = 0
    fields = [
        "label",
        "data_type",
        "supported",
        "selected_slot",
        "exaktime_id",
        "gone_from_procore",
    ]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(boolean=True)
    def supported(self, obj: CustomField) -> bool:
        return obj.supported


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ["name", "procore_company_id", "procore_company_name", "is_active", "updated_at"]
    list_filter = ["is_active", "procore_auth_mode"]
    search_fields = ["name", "procore_company_name", "procore_company_id"]
    readonly_fields = [
        "client_secret_status",
        "api_key_status",
        "procore_token_expires_at",
        "preimported_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        ("Connection", {"fields": ["name", "is_active"]}),
        (
            "Procore",
            {
                "fields": [
                    "procore_login_url",
                    "procore_api_url",
                    "procore_auth_mode",
                    "procore_client_id",
                    "procore_client_secret",
                    "client_secret_status",
                    "procore_company_id",
                    "procore_company_name",
                    "procore_token_expires_at",
                ]
            },
        ),
        ("ExakTime", {"fields": ["exaktime_api_url", "exaktime_api_key", "api_key_status"]}),
        ("Employee import", {"fields": ["crews_as_groups"]}),
        (
            "Sub-jobs import",
            {"fields": ["import_sub_jobs", "projects_as_groups", "projects_as_categories"]},
        ),
        ("Custom fields import", {"fields": ["preimport_max_age", "preimported_at"]}),
        (
            "Export",
            {
                "fields": [
                    "time_type_regular",
                    "time_type_ot1",
                    "time_type_ot2",
                    "time_entry_mode",
                    "export_approved_only",
                ]
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [FieldsetInline, CustomFieldInline]
    actions = ["preimport", "import_everything", "import_chosen", "dry_run_import", "export_time"]

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("linx.run_sync")

    def _queued(self, request, runs, what: str) -> None:
        numbers = ", ".join(f"#{run.pk}" for run in runs)
        self.message_user(
            request,
            f"Queued {what} for {len(runs)} connection(s): run {numbers}. "
            "Follow them under Sync runs.",
            messages.SUCCESS,
        )

    @admin.action(description="Pre-import reference data and custom fields", permissions=["run"])
    def preimport(self, request, queryset):
        runs = request_runs(
            queryset, RunKind.PREIMPORT, trigger=RunTrigger.ADMIN, started_by=request.user
        )
        self._queued(request, runs, "a pre-import")

    @admin.action(description="Import everything from Procore", permissions=["run"])
    def import_everything(self, request, queryset):
        runs = request_runs(
            queryset, RunKind.IMPORT, trigger=RunTrigger.ADMIN, started_by=request.user
        )
        self._queued(request, runs, "an import")

    @admin.action(description="Dry run an import (preview, writes nothing)", permissions=["run"])
    def dry_run_import(self, request, queryset):
        runs = request_runs(
            queryset,
            RunKind.IMPORT,
            trigger=RunTrigger.ADMIN,
            started_by=request.user,
            dry_run=True,
        )
        self._queued(request, runs, "a dry-run import")

    @admin.action(description="Export time to Procore…", permissions=["run"])
    def export_time(self, request, queryset):
        if "apply" in request.POST:
            form = ExportForm(request.POST)
        else:
            yesterday = timezone.localdate() - timedelta(days=1)
            form = ExportForm(
                initial={
                    "first_day": yesterday - timedelta(days=yesterday.weekday()),
                    "last_day": yesterday,
                    "approved_only": all(c.export_approved_only for c in queryset),
                }
            )
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            runs = request_runs(
                queryset,
                RunKind.EXPORT,
                trigger=RunTrigger.ADMIN,
                started_by=request.user,
                dry_run=data["dry_run"],
                parameters={
                    "from": data["first_day"].isoformat(),
                    "to": data["last_day"].isoformat(),
                    "approved_only": data["approved_only"],
                },
            )
            self._queued(
                request, runs, "a preview of the export" if data["dry_run"] else "an export"
            )
            return None
        return self._ask(request, queryset, form, "export_time", "Export time to Procore")

    def _ask(self, request, queryset, form, action: str, title: str):
        """The intermediate page of an action that needs a few choices first."""
        return TemplateResponse(
            request,
            "admin/linx/connection/action_form.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "connections": queryset,
                "action": action,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Import chosen entities…", permissions=["run"])
    def import_chosen(self, request, queryset):
        form = ImportChoiceForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            runs = request_runs(
                queryset,
                RunKind.IMPORT,
                trigger=RunTrigger.ADMIN,
                started_by=request.user,
                dry_run=form.cleaned_data["dry_run"],
                parameters={
                    "entities": [e for e in ENTITIES if e in form.cleaned_data["entities"]]
                },
            )
            self._queued(
                request, runs, "a dry-run import" if form.cleaned_data["dry_run"] else "an import"
            )
            return None
        return self._ask(request, queryset, form, "import_chosen", "Import chosen entities")

    @admin.display(description="Procore client secret")
    def client_secret_status(self, obj: Connection) -> str:
        return secret_status(obj.procore_client_secret)

    @admin.display(description="ExakTime API key")
    def api_key_status(self, obj: Connection) -> str:
        return secret_status(obj.exaktime_api_key)
