"""The GitHub token a team's sync runs with: the credential of its GitHub integration, as long
as its owner is still in the team; otherwise a remaining member's, or none (the import stops
and says why)."""

from __future__ import annotations

from dataclasses import dataclass

from sync import memberships
from sync.crypto import DecryptionError
from sync.models import Integration, IntegrationCredential, Membership


class MissingToken(Exception):
    """The team has no usable GitHub token; someone must reconnect GitHub."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class TeamToken:
    token: str
    user_id: int  # whose token it is: their membership is what GitHub is asked about


def token_for(team_id: int) -> str:
    """Return the decrypted GitHub token of the team, or raise MissingToken."""
    return team_token(team_id).token


def team_token(team_id: int) -> TeamToken:
    """Return the team's GitHub token and its owner, never one of someone who left the team."""
    integration = (
        Integration.objects.select_related("credential")
        .filter(team_id=team_id, provider="github")
        .first()
    )
    if integration is None or integration.credential is None:
        raise MissingToken("GitHub is not connected: reconnect", code="not_connected")
    if integration.status == Integration.Status.REVOKED:
        raise MissingToken("GitHub access was revoked: reconnect", code="token_revoked")
    credential = integration.credential
    if not Membership.objects.filter(team_id=team_id, user_id=credential.user_id).exists():
        credential = _successor_credential(team_id)
    try:
        return TeamToken(credential.access_token, credential.user_id)
    except DecryptionError as error:
        raise MissingToken(
            "The stored GitHub token cannot be read: reconnect", code="token_unreadable"
        ) from error


def _successor_credential(team_id: int) -> IntegrationCredential:
    account = memberships.successor_account(team_id)
    if account is None or account.credential is None:
        raise MissingToken(memberships.OWNER_LEFT, code="owner_left")
    return account.credential
