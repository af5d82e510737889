"""The GitHub token a team's sync runs with: the credential of its GitHub integration."""

from __future__ import annotations

from sync.crypto import DecryptionError
from sync.models import Integration


class MissingToken(Exception):
    """The team has no usable GitHub token; someone must reconnect GitHub."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def token_for(team_id: int) -> str:
    """Return the decrypted GitHub token of the team, or raise MissingToken."""
    integration = (
        Integration.objects.select_related("credential")
        .filter(team_id=team_id, provider="github")
        .first()
    )
    if integration is None or integration.credential is None:
        raise MissingToken("GitHub is not connected: reconnect", code="not_connected")
    if integration.status == Integration.Status.REVOKED:
        raise MissingToken("GitHub access was revoked: reconnect", code="token_revoked")
    try:
        return integration.credential.access_token
    except DecryptionError as error:
        raise MissingToken(
            "The stored GitHub token cannot be read: reconnect", code="token_unreadable"
        ) from error
