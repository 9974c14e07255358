"""Staff sign-in: allauth with sign-up closed, and a second factor required for the admin."""

from __future__ import annotations

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


class RequireStaffMFAMiddleware:
    """Send staff without a second factor to set one up before they reach the admin.

    Switched by LINX_REQUIRE_MFA (on by default outside DEBUG). Only the admin is
    guarded: the pages that set up the factor, and logging out, stay reachable.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.LINX_REQUIRE_MFA
            and request.path.startswith(reverse("admin:index"))
            and request.user.is_authenticated
            and request.user.is_staff
            and not Authenticator.objects.filter(
                user=request.user, type=Authenticator.Type.TOTP
            ).exists()
        ):
            messages.warning(
                request,
                "Set up an authenticator app before using Linx: staff accounts need a "
                "second factor.",
            )
            return redirect(f"{reverse('mfa_activate_totp')}?next={request.path}")
        return self.get_response(request)
