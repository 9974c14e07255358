"""ExakTime records: the snapshot of each connection's ExakTime employees, locations and
cost codes, linked or only in ExakTime.

Part of Mappings (whoever may see mappings may see it): a record no Procore record is
linked to is listed here, and leads back to Mappings to link it with the picker.
Read-only: the snapshot changes only by reading ExakTime, and as Linx writes its twins.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from linx.admin.mapping_places import place_to_fix
from linx.models import EntityMapping, ExakTimeRecord
from linx.sync.snapshot import KIND_OF

#: The entity type a snapshot kind's records are linked as, for the way back to Mappings.
ENTITY_OF_KIND = {kind: entity_type for entity_type, kind in reversed(KIND_OF.items())}


class LinkedFilter(admin.SimpleListFilter):
    title = "linked"
    parameter_name = "linked"

    def lookups(self, request, model_admin):
        return [("yes", "Linked"), ("no", "Only in ExakTime")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(linked=self.value() == "yes")
        return queryset


@admin.register(ExakTimeRecord)
class ExakTimeRecordAdmin(admin.ModelAdmin):
    list_display = ["name", "identifier", "exaktime_id", "kind", "active", "linked_to",
                    "connection", "read_at"]  # fmt: skip
    list_filter = [LinkedFilter, "kind", "active", "connection"]
    search_fields = ["name", "identifier", "=exaktime_id"]
    list_select_related = ["connection"]
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        linked = EntityMapping.objects.filter(
            connection=OuterRef("connection"),
            exaktime_id=OuterRef("exaktime_id"),
            entity_type__in=list(KIND_OF),
        )
        return super().get_queryset(request).annotate(linked=Exists(linked))

    # Seen by whoever sees mappings; changed by nobody.
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("linx.view_entitymapping")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Linked", boolean=False)
    def linked_to(self, record: ExakTimeRecord):
        if record.linked:
            url = (
                reverse("admin:linx_entitymapping_changelist")
                + "?"
                + urlencode(
                    {"connection__id__exact": record.connection_id, "q": record.exaktime_id}
                )
            )
            return format_html('<a href="{}">Linked: see Mappings</a>', url)
        url = place_to_fix(
            record.connection_id,
            {"entity_type": ENTITY_OF_KIND[record.kind], "exaktime_id": record.exaktime_id},
        )
        return format_html('Only in ExakTime · <a href="{}">Link to a Procore record…</a>', url)
