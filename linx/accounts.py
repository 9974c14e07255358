"""Staff sign-in: allauth with sign-up closed, and a second factor required everywhere."""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse


class StaffAccountAdapter(DefaultAccountAdapter):
    """Nobody signs themselves up: staff accounts are made by an admin or a command."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False


#: The views a signed-in staff member without a second factor may still use: signing in
#: and out, resetting a password, setting up the factor (allauth asks for the password
#: again first), the health checks a load balancer polls, the browser's icon, and
#: Procore's webhook, which no person calls: it is authenticated by its own
#: per-connection secret (a 401 without it). Everything else is refused.
MFA_OPEN_VIEWS = frozenset(
    {
        "account_login",
        "account_logout",
        "account_reset_password",
        "account_reset_password_done",
        "account_reset_password_from_key",
        "account_reset_password_from_key_done",
        "account_reauthenticate",
        "mfa_activate_totp",
        "mfa_authenticate",
        "admin:login",
        "admin:logout",
        "health",
        "health_queue",
        "procore_webhook",
        "favicon",
    }
)


class RequireStaffMFAMiddleware:
    """Send staff without a second factor to set one up before they reach anything else.

    Switched by LINX_REQUIRE_MFA (on by default outside DEBUG). Every view is guarded
    except the few a person needs to get a factor in place or to leave (MFA_OPEN_VIEWS):
    a view added later is guarded without anyone remembering to list it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (
            not settings.LINX_REQUIRE_MFA
            or (match is not None and match.view_name in MFA_OPEN_VIEWS)
            or not request.user.is_authenticated
            or not request.user.is_staff
            or Authenticator.objects.filter(
                user=request.user, type=Authenticator.Type.TOTP
            ).exists()
        ):
            return None
        messages.warning(
            request,
            "Set up an authenticator app before using Linx: staff accounts need a second factor.",
        )
        # Only a page is worth coming back to; a form's POST would arrive as a GET.
        next_page = request.get_full_path() if request.method == "GET" else ""
        target = reverse("mfa_activate_totp")
        return redirect(f"{target}?{urlencode({'next': next_page})}" if next_page else target)
