"""Mappings' tools beyond the list: the link picker's search, "Refresh from ExakTime"
and auto-link proposals confirmed in bulk. Each is a view `EntityMappingAdmin` routes to.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from integrations.exaktime.errors import ExakTimeError
from linx.clients import exaktime_client
from linx.models import Connection, EntityMapping, EntityType
from linx.sync import mappings as operations
from linx.sync import snapshot, snapshot_links
from linx.sync.preflight import PREFLIGHT_TIMEOUT, preflight_retry


def exaktime(connection: Connection):
    """A client for a person waiting: few retries, short timeouts."""
    return exaktime_client(connection, retry=preflight_retry(), timeout=PREFLIGHT_TIMEOUT)


def list_url(connection_id: int, entity_type: str) -> str:
    query = f"?connection__id__exact={connection_id}&entity_type__exact={entity_type}"
    return reverse("admin:linx_entitymapping_changelist") + query


def candidates(model_admin, request, pk: int) -> JsonResponse:
    """The picker's search: unlinked ExakTime records of the mapping's kind (JSON)."""
    mapping = get_object_or_404(EntityMapping, pk=pk)
    if not model_admin.has_change_permission(request, mapping):
        raise PermissionDenied
    found = snapshot_links.candidates(mapping, request.GET.get("q", ""))
    read_at = snapshot.read_at(mapping.connection_id, mapping.entity_type)
    return JsonResponse(
        {
            "results": [
                {
                    "id": record.exaktime_id,
                    "identifier": record.identifier,
                    "name": record.name,
                    "active": record.active,
                }
                for record in found
            ],
            "read_at": read_at.isoformat() if read_at else None,
        }
    )


def refresh(model_admin, request) -> HttpResponse:
    """Read the ExakTime lists of one connection (or each) into the snapshot, now."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    chosen = Connection.objects.order_by("pk")
    if request.POST.get("connection"):
        chosen = chosen.filter(pk=request.POST["connection"])
    for connection in chosen:
        try:
            with exaktime(connection) as client:
                counts = snapshot.refresh(connection, client)
        except ExakTimeError as error:
            model_admin.message_user(
                request,
                f"{connection}: ExakTime could not be read ({error.message}); the previous "
                "snapshot is kept.",
                messages.ERROR,
            )
            continue
        model_admin.message_user(
            request,
            f"{connection}: read {counts['employee']} employee(s), {counts['location']} "
            f"location(s) and {counts['cost_code']} cost code(s) from ExakTime.",
            messages.SUCCESS,
        )
    back = request.POST.get("next", "")
    if not back.startswith(reverse("admin:linx_entitymapping_changelist")):
        back = reverse("admin:linx_entitymapping_changelist")
    return HttpResponseRedirect(back)


def auto_link(model_admin, request) -> TemplateResponse | HttpResponseRedirect:
    """Proposals for one connection and kind; the ticked ones are linked on confirm."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=request.GET.get("connection") or 0)
    entity_type = request.GET.get("entity_type", "")
    if entity_type not in snapshot.KIND_OF:
        entity_type = EntityType.EMPLOYEE
    proposals = snapshot_links.proposals(connection.pk, entity_type)
    if request.method == "POST":
        chosen = set(request.POST.getlist("link"))
        done, refused = _link_all(
            request, connection, [p for p in proposals if str(p.mapping.pk) in chosen]
        )
        if done:
            model_admin.message_user(request, f"Linked {done} record(s).", messages.SUCCESS)
        for refusal in refused:
            model_admin.message_user(request, refusal, messages.ERROR)
        if not done and not refused:
            model_admin.message_user(
                request, "Nothing was ticked: nothing linked.", messages.WARNING
            )
        return HttpResponseRedirect(list_url(connection.pk, entity_type))
    return TemplateResponse(
        request,
        "admin/linx/entitymapping/auto_link.html",
        {
            **model_admin.admin_site.each_context(request),
            "title": f"Auto-link {EntityType(entity_type).label.lower()}s of {connection}",
            "opts": model_admin.model._meta,
            "connection": connection,
            "entity_type": entity_type,
            "kinds": [(t, EntityType(t).label) for t in snapshot.KIND_OF],
            "proposals": proposals,
            "read_at": snapshot.read_at(connection.pk, entity_type),
        },
    )


def _link_all(request, connection, chosen) -> tuple[int, list[str]]:
    """Link each chosen proposal through the one link action (checked, audited)."""
    done, refused = 0, []
    if not chosen:
        return done, refused
    with exaktime(connection) as client:
        for proposal in chosen:
            try:
                operations.link(
                    proposal.mapping,
                    int(proposal.record.exaktime_id),
                    exaktime=client,
                    acting_user=request.user,
                )
            except ValidationError as refusal:
                refused.append(f"{proposal.mapping}: {' '.join(refusal.messages)}")
            else:
                done += 1
    return done, refused
