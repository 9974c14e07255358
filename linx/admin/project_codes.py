"""The cost codes set up on a Procore project, as Linx last read them: read-only.

An export fails a time record whose cost code is not set up on its project ("Cost code …
is not set up on Procore project …"); that message leads here, to the codes Linx knows
the project has and when it read them (`linx.sync.reference`). A kept list holds the
project's own code ids by company cost code and by full code; the codes' names come
from the company's cost codes as imported (Mappings). Deleted codes are not kept: a
deleted code counts as not set up. The list of every kept list is this model's list.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, Subquery
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from linx.admin.code_names import CompanyCodes
from linx.admin.run_views import without_secrets
from linx.admin.runs import ConnectionFilter, ReadOnlyAdmin
from linx.models import Connection, EntityMapping, EntityType, ProjectReference, ReferenceKind


def max_age_in_words() -> str:
    minutes = settings.LINX_REFERENCE_MAX_AGE_MINUTES
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def project_name(connection_id: int, project_id: int) -> str | None:
    return (
        EntityMapping.objects.filter(
            connection_id=connection_id, entity_type=EntityType.LOCATION, procore_id=project_id
        )
        .values_list("name", flat=True)
        .first()
    )


@admin.register(ProjectReference)
class ProjectReferenceAdmin(ReadOnlyAdmin):
    """The project lists Linx keeps (cost codes, sub-jobs), each cost code list readable."""

    list_display = ["project_shown", "connection", "kind", "size", "read_at", "codes_link"]
    list_filter = [("connection", ConnectionFilter), "kind"]
    search_fields = ["project_id"]  # and the project's name: see get_search_results
    list_select_related = ["connection"]

    class Media:
        css = {"all": ["linx/console.css"]}

    # Whoever may read the runs may read what their failures point to.
    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return user.has_perm("linx.view_projectreference") or user.has_perm("linx.view_syncrun")

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_queryset(self, request):
        name = EntityMapping.objects.filter(
            connection=OuterRef("connection"),
            entity_type=EntityType.LOCATION,
            procore_id=OuterRef("project_id"),
        ).values("name")[:1]
        queryset = super().get_queryset(request).defer(*without_secrets("connection__"))
        return queryset.annotate(project_name=Subquery(name))

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        named = EntityMapping.objects.filter(
            entity_type=EntityType.LOCATION, name__icontains=term
        ).values("procore_id")
        found = Q(project_id__in=named)
        if term.isdigit():
            found |= Q(project_id=int(term))
        return queryset.filter(found), False

    def get_urls(self):
        return [
            path(
                "codes/<int:connection_id>/<int:project_id>/",
                self.admin_site.admin_view(self.codes_view),
                name="linx_projectreference_codes",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Project", ordering="project_name")
    def project_shown(self, reference: ProjectReference) -> str:
        return reference.project_name or f"Procore project {reference.project_id}"

    @admin.display(description="Entries")
    def size(self, reference: ProjectReference) -> int:
        data = reference.data or {}
        return len(data.get("by_full_code") or data.get("active") or ())

    @admin.display(description="")
    def codes_link(self, reference: ProjectReference):
        if reference.kind != ReferenceKind.COST_CODES:
            return ""
        url = reverse(
            "admin:linx_projectreference_codes",
            args=[reference.connection_id, reference.project_id],
        )
        return format_html('<a href="{}">See the codes</a>', url)

    def codes_view(self, request: HttpRequest, connection_id: int, project_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        connection = get_object_or_404(Connection.objects.only("pk", "name"), pk=connection_id)
        kept = ProjectReference.objects.filter(
            connection=connection, project_id=project_id, kind=ReferenceKind.COST_CODES
        ).first()
        name = project_name(connection.pk, project_id)
        project = f"project {name}" if name else f"Procore project {project_id}"
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cost codes set up on {project}",
            "subtitle": None,
            "opts": self.opts,
            "connection": connection,
            "project": project,
            "project_id": project_id,
            "kept": kept,
            "codes": CompanyCodes(connection.pk).codes_of(kept.data or {}) if kept else [],
            "max_age": max_age_in_words(),
        }
        return TemplateResponse(request, "admin/linx/projectreference/codes.html", context)
