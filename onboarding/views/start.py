from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from sync import accounts


def start(request: HttpRequest) -> HttpResponse:
    return render(request, "onboarding/start.html")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    user_id = request.user.pk if request.user.is_authenticated else None
    logout(request)  # the session is flushed: a new, empty one takes its cookie
    if user_id is not None:
        accounts.sign_out(user_id=user_id)
    return redirect("onboarding:start")
