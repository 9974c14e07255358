"""Mappings: which Procore record is which ExakTime record, and each one's status.

Per entity type, every record Linx knows with its status (synced, unlinked, orphaned in
one system, ignored; see `linx.sync.mappings`), its ids on both sides, and the actions
that change it: link (to an ExakTime record picked by searching the snapshot of
ExakTime's records), unlink, ignore and un-ignore, plus ignoring a Procore record Linx
never imported. The list is one query for the page, whatever the number of mappings.
Records only in ExakTime are listed from the snapshot (`linx.admin.exaktime_records`);
the picker, "Refresh from ExakTime" and auto-link are in `linx.admin.mapping_tools`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import display_for_field
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from integrations.exaktime.errors import ExakTimeError
from linx.admin import mapping_tools
from linx.admin.badges import badge
from linx.admin.mapping_places import EXAKTIME_PARAMETER
from linx.admin.mapping_tools import exaktime as _exaktime
from linx.models import Connection, EntityMapping, EntityType, ExakTimeRecord
from linx.sync import mappings as operations
from linx.sync import snapshot
from linx.sync.labels import exaktime_name
from linx.sync.mappings import LINKABLE, MappingStatus

TONES = {
    MappingStatus.SYNCED: "ok",
    MappingStatus.NOT_IN_EXAKTIME: "info",
    MappingStatus.NOT_IN_PROCORE: "info",
    MappingStatus.GONE_FROM_PROCORE: "warn",
    MappingStatus.GONE_FROM_EXAKTIME: "bad",
    MappingStatus.IGNORED: "quiet",
    MappingStatus.REFERENCE: "quiet",
}
EXPLAINED = {
    MappingStatus.SYNCED: "Linked on both sides; imports keep the ExakTime record in step.",
    MappingStatus.NOT_IN_EXAKTIME: "No ExakTime record yet: the next import links the one "
    "with the same ID, or creates one.",
    MappingStatus.NOT_IN_PROCORE: "Linx knows this ExakTime record but no Procore record for it.",
    MappingStatus.GONE_FROM_PROCORE: "Inactive or gone in Procore, so Linx deactivated the "
    "ExakTime record.",
    MappingStatus.GONE_FROM_EXAKTIME: "ExakTime no longer has the linked record. Unlink it: "
    "the next import creates it again.",
    MappingStatus.IGNORED: "Ignored on import: every import skips this Procore record.",
    MappingStatus.REFERENCE: "Procore reference data; it has no ExakTime record.",
}


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return MappingStatus.choices

    def queryset(self, request, queryset):
        if self.value() in MappingStatus.values:
            return queryset.filter(status=self.value())
        return queryset


class LinkForm(forms.Form):
    # Filled by the picker (a search of the snapshot), never typed.
    exaktime_id = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "Search for the ExakTime record and pick it first."},
    )


class IgnoreRecordForm(forms.Form):
    connection = forms.ModelChoiceField(queryset=Connection.objects.all())
    entity_type = forms.ChoiceField(
        label="Kind of record",
        choices=[(value, label) for value, label in EntityType.choices if value in LINKABLE],
    )
    procore_id = forms.IntegerField(label="Procore ID", min_value=1)
    name = forms.CharField(
        required=False, max_length=255, help_text="Optional: to recognise it in the list."
    )


@admin.register(EntityMapping)
class EntityMappingAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "entity_type",
        "status_badge",
        "procore_id",
        "exaktime_id",
        "connection",
        "synced",
        "link_button",
    ]
    list_display_links = ["name"]
    list_filter = [StatusFilter, "entity_type", "connection"]
    search_fields = ["name", "=procore_id", "=exaktime_id"]
    list_select_related = ["connection", "ignored_by"]
    list_per_page = 100
    show_full_result_count = False  # a filtered list counts once, not twice
    actions = ["unlink_mappings", "ignore_mappings", "unignore_mappings", "check_in_exaktime"]
    readonly_fields = [
        "connection",
        "entity_type",
        "procore_id",
        "exaktime_id",
        "name",
        "status_badge",
        "ignored",
        "ignored_by",
        "ignored_at",
        "fingerprint",
        "revision",
        "data",
        "synced_at",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields

    def get_queryset(self, request):
        return operations.with_status(super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False  # imports make mappings; "Ignore a Procore record" makes ignored ones

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if not self.has_change_permission(request):
            return [name for name in shown if name != "link_button"]
        wanted = getattr(request, "linx_wanted", None)

        @admin.display(description="")
        def link_button(obj: EntityMapping):
            return self.link_button(obj, wanted)

        return [link_button if name == "link_button" else name for name in shown]

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path("<int:pk>/link/", view(self.link_view), name="linx_entitymapping_link"),
            path(
                "<int:pk>/candidates/",
                view(lambda request, pk: mapping_tools.candidates(self, request, pk)),
                name="linx_entitymapping_candidates",
            ),
            path(
                "refresh/",
                view(lambda request: mapping_tools.refresh(self, request)),
                name="linx_entitymapping_refresh",
            ),
            path(
                "auto-link/",
                view(lambda request: mapping_tools.auto_link(self, request)),
                name="linx_entitymapping_auto_link",
            ),
            path(
                "ignore-procore-record/",
                view(self.ignore_record_view),
                name="linx_entitymapping_ignore_record",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Everything here is read-only: links change through the list's actions.
        context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, context)

    def changelist_view(self, request, extra_context=None):
        # A failure's link names the ExakTime record it is about; the list is not
        # filtered on it (it has no Procore record yet), the page shows it above.
        wanted = None
        if EXAKTIME_PARAMETER in request.GET:
            request.GET = request.GET.copy()
            wanted = self._wanted(request, request.GET.pop(EXAKTIME_PARAMETER)[-1])
        connection_id = request.GET.get("connection__id__exact", "")
        entity_type = request.GET.get("entity_type__exact", "")
        context = {
            "can_change_mappings": self.has_change_permission(request),
            "statuses": [(s, EXPLAINED[s]) for s in MappingStatus],
            "wanted": wanted,
            "connection_id": connection_id,
            "entity_type": entity_type if entity_type in snapshot.KIND_OF else "",
            "only_in_exaktime_url": reverse("admin:linx_exaktimerecord_changelist")
            + "?"
            + urlencode(
                {
                    "linked": "no",
                    **({"connection__id__exact": connection_id} if connection_id else {}),
                }
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    def _wanted(self, request, exaktime_id: str) -> dict:
        """The ExakTime record a failure led here for, as the snapshot knows it."""
        entity_type = request.GET.get("entity_type__exact", "")
        connection_id = request.GET.get("connection__id__exact", "")
        record = ExakTimeRecord.objects.filter(
            connection_id=int(connection_id) if connection_id.isdigit() else None,
            kind=snapshot.KIND_OF.get(entity_type, ""),
            exaktime_id=exaktime_id,
        ).first()
        request.linx_wanted = exaktime_id  # the Link… buttons carry it to the picker
        known = entity_type in EntityType.values
        noun = EntityType(entity_type).label.lower() if known else "record"
        return {"id": exaktime_id, "record": record, "noun": noun}

    # Columns -------------------------------------------------------------------------

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: EntityMapping):
        status = MappingStatus(obj.status)
        shown = badge(status.label, TONES[status], EXPLAINED[status])
        if not obj.ignored:
            return shown
        return format_html(
            '{}<br><span class="linx-when">by {}{}</span>',
            shown,
            obj.ignored_by or "an operator",
            obj.ignored_at.strftime(", %Y-%m-%d %H:%M") if obj.ignored_at else "",
        )

    @admin.display(description="Synced at", ordering="synced_at")
    def synced(self, obj: EntityMapping):
        # Not the field itself: the admin never wraps a date field's cell, and the list
        # must fit a laptop's screen.
        return display_for_field(obj.synced_at, EntityMapping._meta.get_field("synced_at"), "—")

    @admin.display(description="")
    def link_button(self, obj: EntityMapping, wanted: str | None = None):
        if not operations.linkable(obj) or obj.ignored:
            return ""
        url = reverse("admin:linx_entitymapping_link", args=[obj.pk])
        if wanted:
            url += "?" + urlencode({EXAKTIME_PARAMETER: wanted})
        return format_html(
            '<a href="{}">{}</a>', url, "Link…" if not obj.exaktime_id else "Relink…"
        )

    # Pages ---------------------------------------------------------------------------

    def _log(self, request, queryset, message: str) -> None:
        LogEntry.objects.log_actions(
            request.user.pk, list(queryset), CHANGE, message, single_object=False
        )

    def link_view(self, request, pk: int):
        """Link a Procore record to the ExakTime record an operator names by id."""
        mapping = get_object_or_404(self.get_queryset(request).select_related("connection"), pk=pk)
        if not self.has_change_permission(request, mapping):
            raise PermissionDenied
        # Bound on any POST, even an empty one: "nothing picked" must say so.
        form = LinkForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            exaktime_id = form.cleaned_data["exaktime_id"]
            try:
                with _exaktime(mapping.connection) as client:
                    record = operations.link(
                        mapping, exaktime_id, exaktime=client, acting_user=request.user
                    )
            except ValidationError as refusal:
                form.add_error("exaktime_id", refusal.messages)
            else:
                self.log_change(request, mapping, f"Linked to ExakTime {exaktime_id}.")
                self.message_user(
                    request,
                    f"{mapping} is linked to ExakTime {exaktime_id} ({exaktime_name(record)}). "
                    "The next import "
                    "writes Procore's values over what differs.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._list_url(mapping))
        return TemplateResponse(
            request,
            "admin/linx/entitymapping/link.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Link {mapping}",
                "opts": self.model._meta,
                "original": mapping,
                "status": MappingStatus(mapping.status),
                "form": form,
                "search": request.GET.get(EXAKTIME_PARAMETER, ""),
                "candidates_url": reverse("admin:linx_entitymapping_candidates", args=[pk]),
                "read_at": snapshot.read_at(mapping.connection_id, mapping.entity_type),
            },
        )

    def ignore_record_view(self, request):
        """Ignore a Procore record by id, even one Linx never imported."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        form = IgnoreRecordForm(request.POST or None, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                mapping, created = operations.ignore_procore_record(
                    data["connection"],
                    data["entity_type"],
                    data["procore_id"],
                    name=data["name"],
                    acting_user=request.user,
                )
            except ValidationError as refusal:
                form.add_error(None, refusal.messages)
            else:
                self.log_change(request, mapping, "Ignored on import.")
                self.message_user(
                    request,
                    f"Procore {EntityType(mapping.entity_type).label.lower()} "
                    f"{mapping.procore_id} is ignored: every import skips it"
                    + (" (Linx had not imported it)." if created else "."),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(self._list_url(mapping))
        return TemplateResponse(
            request,
            "admin/linx/entitymapping/ignore_record.html",
            {
                **self.admin_site.each_context(request),
                "title": "Ignore a Procore record",
                "opts": self.model._meta,
                "form": form,
            },
        )

    def _list_url(self, mapping: EntityMapping) -> str:
        return (
            reverse("admin:linx_entitymapping_changelist")
            + f"?connection__id__exact={mapping.connection_id}"
            + f"&entity_type__exact={mapping.entity_type}"
        )

    # Actions -------------------------------------------------------------------------

    def _act(self, request, queryset, chosen, operation, logged: str, told: str) -> None:
        """Run `operation` as this person, note it in each record's history, and say
        what it did (`told` has a ``{count}``)."""
        chosen = list(chosen)  # read before the change: the records it will change
        count = operation(queryset, acting_user=request.user)
        self._log(request, chosen, logged)
        self.message_user(
            request, told.format(count=count), messages.SUCCESS if count else messages.WARNING
        )

    @admin.action(description="Unlink", permissions=["change"])
    def unlink_mappings(self, request, queryset):
        chosen = queryset.filter(exaktime_id__isnull=False, entity_type__in=LINKABLE)
        self._act(request, queryset, chosen, operations.unlink, "Unlinked.",
            "Unlinked {count} record(s); ExakTime was not changed. The next import links each "
            "to the ExakTime record with the same ID, or creates one; ignore a record to keep "
            "it apart.")  # fmt: skip

    @admin.action(description="Ignore on import", permissions=["change"])
    def ignore_mappings(self, request, queryset):
        chosen = queryset.filter(ignored=False, entity_type__in=LINKABLE)
        self._act(request, queryset, chosen, operations.ignore, "Ignored on import.",
            "Ignored {count} record(s): every import skips them, saying you ignored them.")  # fmt: skip

    @admin.action(description="Un-ignore (import again)", permissions=["change"])
    def unignore_mappings(self, request, queryset):
        self._act(request, queryset, queryset.filter(ignored=True), operations.unignore,
            "No longer ignored.", "{count} record(s) are imported again from the next import.")  # fmt: skip

    @admin.action(
        description=f"Check the linked records still exist in ExakTime (up to {operations.MAX_CHECKED})",
        permissions=["change"],
    )
    def check_in_exaktime(self, request, queryset):
        linked = list(
            queryset.filter(exaktime_id__isnull=False, entity_type__in=LINKABLE)
            .select_related("connection")
            .order_by("connection_id", "pk")[: operations.MAX_CHECKED]
        )
        found = missing = 0
        by_connection: dict[int, list[EntityMapping]] = {}
        for mapping in linked:
            by_connection.setdefault(mapping.connection_id, []).append(mapping)
        try:
            for group in by_connection.values():
                with _exaktime(group[0].connection) as client:
                    more_found, more_missing = operations.check_in_exaktime(group, exaktime=client)
                found, missing = found + more_found, missing + more_missing
        except ExakTimeError as error:
            self.message_user(
                request, f"ExakTime could not be asked: {error.message}", messages.ERROR
            )
            return
        self.message_user(
            request,
            f"Checked {found + missing} linked record(s): {found} found, {missing} gone from "
            "ExakTime." + (" Unlink those: the next import creates them again." if missing else ""),
            messages.WARNING if missing else messages.SUCCESS,
        )
