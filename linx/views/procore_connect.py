"""The "Connect to Procore" round trip (OAuth authorization code, with `state` checked).

The admin's button POSTs to `start`, which remembers an unguessable `state` in the
staff member's session and sends the browser to Procore. Procore sends it back to
`callback` with a code; a callback whose `state` is not the one we issued, or that
comes after the session forgot it, is refused before any code is exchanged. A first
connection then goes on to `choose_company`: the companies the sign-in reaches, one
to pick (served under the connection's admin pages).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.procore.auth import ProcoreAuth
from integrations.procore.errors import ProcoreError
from linx.clients import procore_client
from linx.models import Connection, EntityMapping, ProcoreAuthMode
from linx.sync.preflight import PREFLIGHT_TIMEOUT, preflight_retry

SESSION_KEY = "linx_procore_connect"


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("procore_connect_callback"))


def _change_page(connection: Connection) -> str:
    return reverse("admin:linx_connection_change", args=[connection.pk])


@staff_member_required
@require_POST
def start(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the browser to Procore's consent page for this connection."""
    if not request.user.has_perm("linx.change_connection"):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=pk)
    if not connection.procore_client_id or not connection.procore_client_secret:
        messages.error(
            request,
            "Enter the Procore client ID and client secret of your Procore app first, then "
            "use Connect.",
        )
        return redirect(_change_page(connection))
    state = ProcoreAuth.new_state()
    request.session[SESSION_KEY] = {"state": state, "connection": connection.pk}
    client = procore_client(connection)
    return redirect(client.auth.authorize_url(_callback_url(request), state))


@staff_member_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Procore's redirect back: check `state`, trade the code for tokens, store them."""
    pending = request.session.pop(SESSION_KEY, None) or {}
    if not ProcoreAuth.state_matches(pending.get("state"), request.GET.get("state")):
        return HttpResponseBadRequest(
            "This Procore sign-in did not start here (its state does not match). Nothing "
            "was changed. Use Connect on the connection's page again."
        )
    connection = get_object_or_404(Connection, pk=pending["connection"])
    if error := request.GET.get("error"):
        messages.error(request, f"Procore did not grant access: {error}.")
        return redirect(_change_page(connection))
    code = request.GET.get("code")
    if not code:
        return HttpResponseBadRequest("Procore sent no authorization code.")
    client = procore_client(connection)
    try:
        token = client.auth.exchange_code(code, _callback_url(request))
    except ProcoreError as error:
        messages.error(request, error.message)
        return redirect(_change_page(connection))
    store = client.token_store
    store.replace(store.current(), lambda stored: token)
    Connection.objects.filter(pk=connection.pk).update(
        procore_auth_mode=ProcoreAuthMode.AUTHORIZATION_CODE
    )
    if connection.procore_company_id is None:
        messages.success(request, "Connected to Procore. Now choose the company Linx works in.")
        return redirect(reverse("admin:linx_connection_procore_company", args=[connection.pk]))
    messages.success(request, "Connected to Procore.")
    return redirect(_change_page(connection))


@require_http_methods(["GET", "POST"])
def choose_company(request: HttpRequest, pk: int) -> HttpResponse:
    """List the companies the connection's sign-in reaches; store the one chosen.

    Served by the admin (staff only). Moving a connection that already links records to
    another company is refused: its links name the first company's records.
    """
    from django.contrib import admin

    if not request.user.has_perm("linx.change_connection"):
        raise PermissionDenied
    connection = get_object_or_404(Connection, pk=pk)
    try:
        with procore_client(
            connection, retry=preflight_retry(), timeout=PREFLIGHT_TIMEOUT
        ) as client:
            companies = sorted(client.companies(), key=lambda c: (not c.is_active, c.name))
    except ProcoreError as error:
        messages.error(request, f"Linx could not list your Procore companies. {error.message}")
        return redirect(_change_page(connection))
    if request.method == "POST":
        chosen = next((c for c in companies if str(c.id) == request.POST.get("company")), None)
        links = (
            EntityMapping.objects.filter(connection=connection).count()
            + connection.export_lines.count()
        )
        if chosen is None:
            messages.error(request, "Choose one of the companies listed.")
        elif links and chosen.id != connection.procore_company_id:
            messages.error(
                request,
                f"This connection already links {links:,} records of company "
                f"{connection.procore_company_name or connection.procore_company_id}. To sync "
                f"{chosen.name}, add a new connection for it.",
            )
        else:
            Connection.objects.filter(pk=connection.pk).update(
                procore_company_id=chosen.id, procore_company_name=chosen.name[:200]
            )
            messages.success(
                request,
                f"Linx now works in {chosen.name} ({chosen.id}). Use Test connection to check "
                "that everything it needs there is in place.",
            )
            return redirect(_change_page(connection))
    return TemplateResponse(
        request,
        "admin/linx/connection/procore_company.html",
        {
            **admin.site.each_context(request),
            "title": f"Choose the Procore company for {connection.name}",
            "opts": Connection._meta,
            "original": connection,
            "companies": companies,
        },
    )
