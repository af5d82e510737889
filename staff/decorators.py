"""Who reaches the staff pages: staff only; anonymous visitors go to the sign-in page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from sync import access

View = Callable[..., HttpResponse]


def staff_only(view: View) -> View:
    """Require a signed-in staff user; anyone else signed in gets a 404, not a hint."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not access.is_staff(request.user):
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    # Staff sign in with a password through the admin's login page, not through GitHub.
    return login_required(checked, login_url="admin:login")
