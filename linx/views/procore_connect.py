"""The "Connect to Procore" round trip (OAuth authorization code, with `state` checked).

The admin's button POSTs to `start`, which remembers an unguessable `state` in the
staff member's session and sends the browser to Procore. Procore sends it back to
`callback` with a code; a callback whose `state` is not the one we issued, or that
comes after the session forgot it, is refused before any code is exchanged.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from integrations.procore.auth import ProcoreAuth
from integrations.procore.errors import ProcoreError
from linx.clients import procore_client
from linx.models import Connection, ProcoreAuthMode

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
    messages.success(request, "Connected to Procore.")
    return redirect(_change_page(connection))
