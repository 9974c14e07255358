"""Where Procore delivers change notices: authenticated by the hook's own secret.

No staff session is involved (so no CSRF and no second factor: the Authorization header
is the credential) and no Procore or ExakTime call is made: the notice is checked,
stored once and answered within milliseconds; a queued apply does the rest.
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from linx.models import Connection
from linx.sync import webhooks

#: Compared against when no connection matches, so a wrong path costs the same time.
_NOBODY = "Bearer " + "x" * 43


def _answer(status: int, message: str) -> JsonResponse:
    return JsonResponse({"status": message}, status=status)


@csrf_exempt
@require_POST
def procore(request: HttpRequest, path_id: str) -> JsonResponse:
    connection = (
        Connection.objects.filter(webhook_path_id=path_id, webhooks_enabled=True).first()
        if path_id
        else None
    )
    secret = connection.webhook_secret if connection else ""
    expected = f"Bearer {secret}" if secret else _NOBODY
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), expected.encode()) or not secret:
        return _answer(401, "unauthorized")
    if request.content_type != "application/json":
        return _answer(415, "send the notice as application/json")
    limit = settings.LINX_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = limit + 1
    body = request.read(limit + 1) if declared <= limit else b""
    if declared > limit or len(body) > limit:
        return _answer(413, f"a notice must be at most {limit} bytes")
    try:
        notice = webhooks.Notice.from_body(json.loads(body))
    except (ValueError, UnicodeDecodeError) as error:
        message = str(error) if isinstance(error, webhooks.BadNotice) else "the body is not JSON"
        return _answer(400, message)
    return _answer(202, webhooks.accept(connection, notice))
