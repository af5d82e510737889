"""Keep data fresh with GitHub's webhooks: an optional step an organization owner takes.

Registering the organization webhook needs the ``admin:org_hook`` scope, which sign-in does
not ask for: the owner grants it in a second round on GitHub (an incremental authorization),
then registers the hook here. Anyone may skip it: the scheduled sweep keeps data fresh too,
only less quickly.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from onboarding.views.github import start_github_sign_in
from onboarding.views.orgs import current_membership
from sync import access, accounts, webhooks
from sync.models import Membership
from sync.webhooks import registration

logger = logging.getLogger(__name__)

PROBLEMS: dict[str, tuple[str, str, int]] = {
    "not_admin": (
        "Only the team's admins set up webhooks",
        "You are a member of this team, not an admin: an admin who owns the organization on "
        "GitHub can set up its webhook.",
        403,
    ),
    "forbidden": (
        "GitHub did not let this account create the webhook",
        "Only an owner of the organization on GitHub can create its webhooks, and only after "
        "granting the webhook permission. Ask an owner to sign in and take this step, or skip "
        "it: your data is still refreshed on a schedule.",
        403,
    ),
    "github": (
        "GitHub did not create the webhook",
        "GitHub could not be reached or answered with an error. Nothing was changed: try again "
        "in a moment.",
        502,
    ),
}


@never_cache
@login_required
@require_GET
def webhook_step(request: HttpRequest) -> HttpResponse:
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    user: User = request.user  # type: ignore[assignment]
    context = {
        "team": membership.team,
        "is_admin": access.permits(membership, access.Action.RECONNECT),
        "has_scope": registration.can_register(user=user),
        "health": webhooks.health(membership.team),
        "scope": registration.HOOK_SCOPE,
    }
    return render(request, "onboarding/webhooks.html", context)


@login_required
@require_POST
def authorize(request: HttpRequest) -> HttpResponse:
    membership = _admin_membership(request)
    if membership is None:
        return _problem(request, "not_admin")
    url = start_github_sign_in(
        request,
        next_url=reverse("onboarding:webhooks"),
        extra_scopes=(registration.HOOK_SCOPE,),
    )
    return HttpResponseRedirect(url)


@login_required
@require_POST
def register(request: HttpRequest) -> HttpResponse:
    membership = _admin_membership(request)
    if membership is None:
        return _problem(request, "not_admin")
    url = settings.WEBHOOK_URL or request.build_absolute_uri(reverse("github_webhook"))
    try:
        registration.register(team_id=membership.team_id, user=membership.user, url=url)
    except registration.HookForbidden:
        return _problem(request, "forbidden")
    except registration.RegistrationFailed:
        return _problem(request, "github")
    return redirect("onboarding:webhooks")


def _admin_membership(request: HttpRequest) -> Membership | None:
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return None
    return membership if access.permits(membership, access.Action.RECONNECT) else None


def _problem(request: HttpRequest, code: str) -> HttpResponse:
    title, message, status = PROBLEMS[code]
    logger.info("webhook step refused: %s", code)
    context = {"title": title, "message": message, "code": code}
    return render(request, "onboarding/webhook_problem.html", context, status=status)
