"""Procore reference data brought in by the pre-import: fieldsets and custom fields."""

from __future__ import annotations

from django.contrib import admin

from linx.models import CustomField, Fieldset


class PreimportedAdmin(admin.ModelAdmin):
    """Read-only: these rows mirror Procore and change only through the pre-import."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Fieldset)
class FieldsetAdmin(PreimportedAdmin):
    list_display = ["name", "connection", "procore_id", "selected", "gone_from_procore"]
    list_filter = ["selected", "gone_from_procore", "connection"]
    search_fields = ["name", "procore_id"]


@admin.register(CustomField)
class CustomFieldAdmin(PreimportedAdmin):
    list_display = [
        "label",
        "connection",
        "data_type",
        "supported",
        "selected_slot",
        "exaktime_id",
        "gone_from_procore",
    ]
    list_filter = ["data_type", "gone_from_procore", "connection"]
    search_fields = ["label", "procore_id"]

    @admin.display(boolean=True)
    def supported(self, obj: CustomField) -> bool:
        return obj.supported
