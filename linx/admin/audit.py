"""The audit trail: who linked, unlinked, ignored, cancelled or moved what, read-only.

The actions write it themselves (``linx.audit``), whoever called them; nobody edits or
deletes a row here.
"""

from __future__ import annotations

from django.contrib import admin

from linx.admin import run_views
from linx.admin.runs import ConnectionFilter, ReadOnlyAdmin
from linx.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "action", "target", "connection"]
    list_filter = ["action", ("connection", ConnectionFilter)]
    search_fields = ["actor_name", "target"]
    list_select_related = ["connection"]
    list_per_page = 100
    fields = ["at", "actor_name", "actor", "action", "target", "connection", "details"]
    readonly_fields = fields

    def get_queryset(self, request):
        # The connection's name is all this screen shows of it: its secrets stay unread.
        return super().get_queryset(request).defer(*run_views.without_secrets("connection__"))
