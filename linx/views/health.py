"""Health endpoints for load balancers and monitoring: no login, nothing sensitive.

- `/health/`: the web process answers and reaches its database.
- `/health/queue/`: how many runs wait in the queue and how long the oldest has waited;
  503 when it has waited longer than LINX_QUEUE_STALE_SECONDS (no worker is taking work).
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from linx.models import RunStatus, SyncRun


@never_cache
@require_GET
def web(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "failing", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@never_cache
@require_GET
def queue(request: HttpRequest) -> JsonResponse:
    from django_q.brokers import get_broker

    queued = SyncRun.objects.filter(status=RunStatus.QUEUED)
    oldest = queued.order_by("created_at").values_list("created_at", flat=True).first()
    waited = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    try:
        broker_depth = get_broker().queue_size()
    except Exception:  # any broker failure means the queue is unhealthy
        broker_depth = None
    stale = waited > settings.LINX_QUEUE_STALE_SECONDS or broker_depth is None
    return JsonResponse(
        {
            "status": "failing" if stale else "ok",
            "queued_runs": queued.count(),
            "oldest_queued_seconds": round(waited, 1),
            "running_runs": SyncRun.objects.filter(status=RunStatus.RUNNING).count(),
            "broker_tasks": broker_depth,
        },
        status=503 if stale else 200,
    )
