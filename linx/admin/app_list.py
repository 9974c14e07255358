"""The admin's list of apps: Linx first; sign-in records and the task queue out of the way.

Staff come for connections, runs and mappings. The records allauth, its second factor and
the task queue keep are for troubleshooting: a superuser sees them as their own sections
after Linx's, everyone else as one section at the end.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

#: Apps whose records are plumbing, not operations.
TECHNICAL_APPS = ("account", "mfa", "django_q")
TECHNICAL_SECTION = "Sign-in records and task queue"


def arranged(apps: list[dict], *, superuser: bool) -> list[dict]:
    """``apps`` with Linx first and the technical apps last (merged unless ``superuser``)."""
    linx = [app for app in apps if app["app_label"] == "linx"]
    technical = [app for app in apps if app["app_label"] in TECHNICAL_APPS]
    others = [app for app in apps if app not in linx and app not in technical]
    if superuser or not technical:
        return linx + others + technical
    section = {
        "name": TECHNICAL_SECTION,
        "app_label": "technical",
        "app_url": reverse("admin:index"),
        "has_module_perms": True,
        "models": [model for app in technical for model in app["models"]],
    }
    return linx + others + [section]


def _with_linx_first(get_app_list):
    def app_list(request, app_label=None):
        apps = get_app_list(request, app_label)
        if app_label:  # one app's own page: nothing to arrange
            return apps
        return arranged(apps, superuser=request.user.is_superuser)

    return app_list


admin.site.get_app_list = _with_linx_first(admin.site.get_app_list)
