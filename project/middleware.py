"""Middleware of the project's own."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers


def no_store_for_sessions(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Keep every page answered to a visitor with a session out of caches (``no-store``).

    Pages of signed-in users show team data; a shared or back-button cache must not keep them.
    The session cookie decides rather than the user, whose lookup would need the database.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        html = response.get("Content-Type", "").startswith("text/html")
        if html and settings.SESSION_COOKIE_NAME in request.COOKIES:
            add_never_cache_headers(response)
        return response

    return middleware
