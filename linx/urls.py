from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from linx.views import health, procore_connect, webhooks
from linx.views.favicon import favicon

# The admin's own login form would bypass allauth's rate limits and second factor.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Linx"
admin.site.site_title = "Linx"
admin.site.index_title = "Procore ↔ ExakTime"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("accounts/", include("allauth.urls")),
    path("favicon.ico", favicon, name="favicon"),
    path("health/", health.web, name="health"),
    path("health/queue/", health.queue, name="health_queue"),
    path(
        "procore/connect/<int:pk>/",
        procore_connect.start,
        name="procore_connect_start",
    ),
    path(
        "procore/callback/",
        procore_connect.callback,
        name="procore_connect_callback",
    ),
    # Procore's change notices; the path's random part names no connection.
    path("hooks/procore/<str:path_id>/", webhooks.procore, name="procore_webhook"),
    path("admin/", admin.site.urls),
]
