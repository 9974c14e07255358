"""Procore reference data brought in by the pre-import: fieldsets and custom fields.

Read-only lists; the choice of fieldset and custom fields is made on each connection's
Custom fields page, which every row links to.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from linx.models import CustomField, Fieldset


class PreimportedAdmin(admin.ModelAdmin):
    """Read-only: these rows mirror Procore and change only through the pre-import."""

    list_select_related = ["connection"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="")
    def choose(self, obj: Fieldset | CustomField):
        url = reverse("admin:linx_connection_custom_fields", args=[obj.connection_id])
        return format_html('<a href="{}">Choose on {}…</a>', url, obj.connection)


@admin.register(Fieldset)
class FieldsetAdmin(PreimportedAdmin):
    list_display = ["name", "connection", "procore_id", "selected", "gone_from_procore", "choose"]
    list_filter = ["selected", "gone_from_procore", "connection"]
    search_fields = ["name", "procore_id"]


@admin.register(CustomField)
class CustomFieldAdmin(PreimportedAdmin):
    list_display = [
        "label",
        "connection",
        "type_shown",
        "supported",
        "selected_slot",
        "exaktime_id",
        "gone_from_procore",
        "choose",
    ]
    list_filter = ["data_type", "gone_from_procore", "connection"]
    search_fields = ["label", "procore_id"]

    @admin.display(description="type", ordering="data_type")
    def type_shown(self, obj: CustomField) -> str:
        return obj.type_in_words

    @admin.display(boolean=True)
    def supported(self, obj: CustomField) -> bool:
        return obj.supported
