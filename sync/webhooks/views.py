"""The endpoint GitHub delivers to: /webhooks/github/ (no session, no CSRF: signed instead)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from sync.webhooks import receiver


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> JsonResponse:
    declared = _declared_length(request)
    if declared > receiver.max_bytes():
        receipt = receiver.refuse_oversize(headers=request.headers, size=declared)
    else:
        body = request.read(receiver.max_bytes() + 1)
        receipt = receiver.receive(headers=request.headers, body=body)
    return JsonResponse({"outcome": receipt.outcome}, status=receipt.status_code)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
