"""What the optional providers' steps (Jira, Slack) share."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from onboarding.oauth import Callback
from onboarding.views.orgs import current_membership
from sync import access, accounts, integrations
from sync.models import Integration


def render_step(request: HttpRequest, *, provider: str, template: str) -> HttpResponse:
    """Render a provider's optional step for the user's team, or send them to pick one."""
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    integration = integrations.get_integration(membership=membership, provider=provider)
    context = {
        "team": membership.team,
        "integration": integration,
        "revoked": integration is not None and integration.status == Integration.Status.REVOKED,
        "is_admin": access.permits(membership, access.Action(provider)),
    }
    return render(request, template, context)


def callback_problem(answer: Callback) -> str:
    """Name the problem page for a provider's callback that brought no code ("" when it did)."""
    if answer.error in ("state_mismatch", "access_denied"):
        return answer.error
    if answer.error:
        return "bad_code" if answer.error == "missing_code" else "oauth_error"
    return ""
