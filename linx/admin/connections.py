"""Connections: one Procore company linked to one ExakTime account."""

from __future__ import annotations

from django.contrib import admin

from linx.admin.secrets import WriteOnlySecretsForm, secret_status
from linx.models import Connection, CustomField, Fieldset


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

    @admin.display(description="Procore client secret")
    def client_secret_status(self, obj: Connection) -> str:
        return secret_status(obj.procore_client_secret)

    @admin.display(description="ExakTime API key")
    def api_key_status(self, obj: Connection) -> str:
        return secret_status(obj.exaktime_api_key)
