"""Error pages that depend on what failed: a database that cannot be reached is a 503.

Django hands every uncaught exception to ``handler500`` while the exception is still being
handled, so the handler can tell an unreachable database (or a pool with no connection free in
time) from a bug. Either way the answer is 5xx, so Django's session middleware saves nothing
and the visitor's session stays as it was.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.utils.cache import add_never_cache_headers

# How long a visitor is asked to wait: a restart or a failover takes tens of seconds.
RETRY_AFTER_SECONDS = 30


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        return database_unavailable(request)
    return HttpResponseServerError(loader.render_to_string("500.html"))


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """Answer 503 with Retry-After and a link that tries the same page again."""
    retry = request.get_full_path() if request.method == "GET" else request.path
    body = loader.render_to_string(
        "503.html", {"retry_url": retry, "retry_after": RETRY_AFTER_SECONDS}
    )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response
