"""What the optional providers' steps (Jira, Slack) share."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from onboarding.views.orgs import current_membership
from sync import accounts, integrations
from sync.models import Integration, Membership


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
        "is_admin": membership.role == Membership.Role.ADMIN,
    }
    return render(request, template, context)
