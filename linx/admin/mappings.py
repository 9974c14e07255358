"""Mappings: which Procore record is which ExakTime record."""

from __future__ import annotations

from django.contrib import admin

from linx.models import EntityMapping


@admin.register(EntityMapping)
class EntityMappingAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "entity_type",
        "connection",
        "procore_id",
        "exaktime_id",
        "ignored",
        "synced_at",
    ]
    list_filter = ["entity_type", "ignored", "connection"]
    search_fields = ["name", "procore_id", "exaktime_id"]
    readonly_fields = ["fingerprint", "revision", "data", "synced_at", "created_at", "updated_at"]
    list_select_related = ["connection"]
