"""Checks of stored credentials: does the token a team relies on still work?"""

from __future__ import annotations

import logging

from django.utils import timezone

from sync.github import client
from sync.models import Integration

logger = logging.getLogger(__name__)


def verify_github_integration(integration_id: int) -> Integration:
    """Decrypt the team's GitHub token, ask GitHub who it belongs to, and record the answer."""
    integration = Integration.objects.select_related("credential").get(pk=integration_id)
    if integration.credential is None:
        return _record(integration, Integration.Status.ERROR, "No GitHub credential: reconnect.")
    try:
        viewer = client.get_viewer(integration.credential.access_token)
    except client.BadCredentials:
        logger.info(
            "GitHub token revoked integration=%s team=%s", integration.pk, integration.team_id
        )
        return _record(
            integration, Integration.Status.REVOKED, "GitHub access was revoked: reconnect."
        )
    scopes = ", ".join(viewer.scopes) or "no scopes"
    return _record(
        integration, Integration.Status.ACTIVE, f"Verified as {viewer.login} ({scopes})."
    )


def _record(integration: Integration, status: str, detail: str) -> Integration:
    integration.status = status
    integration.status_detail = detail
    integration.updated_at = timezone.now()
    integration.save(update_fields=["status", "status_detail", "updated_at"])
    return integration
