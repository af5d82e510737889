"""The organization webhook: register it with an owner's token, redeliver what failed.

The secret is stored (encrypted) before GitHub is asked to create the hook, because GitHub
sends a signed ``ping`` the moment the hook exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from sync.engine.tokens import team_token
from sync.github import hooks as github_hooks
from sync.github.client import Session
from sync.github.errors import GitHubError
from sync.github.hooks import HOOK_SCOPE, HookData, HookForbidden
from sync.models import GitHubAccount, Integration, IntegrationCredential, WebhookDelivery
from sync.webhooks import signatures

logger = logging.getLogger(__name__)

__all__ = [
    "HOOK_SCOPE",
    "HookForbidden",
    "NotRegistered",
    "Redelivery",
    "RegistrationFailed",
    "can_register",
    "redeliver_failed",
    "register",
]


class RegistrationFailed(Exception):
    """GitHub did not create the hook for a reason other than permission (down, limited)."""


class NotRegistered(Exception):
    """The team has no organization webhook (yet): nothing to redeliver from."""


@dataclass(frozen=True)
class Redelivery:
    """What one redelivery pass found and asked GitHub to send again."""

    listed: int  # delivery attempts GitHub listed
    failed: int  # delivery ids whose every attempt failed
    redelivered: int  # of those, the ones the service never applied: sent again


def can_register(*, user: User) -> bool:
    """Whether the user's GitHub access carries the scope that manages org webhooks."""
    credential = _credential_of(user)
    return credential is not None and HOOK_SCOPE in credential.scopes.replace(",", " ").split()


def register(*, team_id: int, user: User, url: str) -> HookData:
    """Create the team's organization webhook to ``url`` with ``user``'s GitHub access.

    Raises HookForbidden when GitHub refuses: they are not an owner, or lack admin:org_hook;
    RegistrationFailed when GitHub could not be asked (down, rate limited).
    """
    credential = _credential_of(user)
    if credential is None:
        raise HookForbidden("Connect GitHub first: there is no GitHub access to use")
    integration = Integration.objects.select_related("team").get(team_id=team_id, provider="github")
    secret = signatures.new_secret()
    integration.webhook_secret = secret
    integration.save(update_fields=["webhook_secret"])
    session = Session(credential.access_token)
    try:
        hook = github_hooks.create_org_hook(
            session, org=integration.team.github_org_login, url=url, secret=secret
        )
    except HookForbidden:
        raise
    except GitHubError as error:
        raise RegistrationFailed(str(error)) from error
    Integration.objects.filter(pk=integration.pk).update(
        webhook_id=hook.id, webhook_registered_at=timezone.now(), webhook_credential=credential
    )
    logger.info("webhook registered team=%s hook=%s user=%s", team_id, hook.id, user.pk)
    return hook


def _credential_of(user: User) -> IntegrationCredential | None:
    account = GitHubAccount.objects.select_related("credential").filter(user=user).first()
    return account.credential if account is not None else None


def _hook_session(integration: Integration) -> Session:
    """Read the hook with the credential that registered it, else the team's own token."""
    credential = integration.webhook_credential
    if credential is not None:
        return Session(credential.access_token)
    return Session(team_token(integration.team_id).token)


def redeliver_failed(team_id: int) -> Redelivery:
    """Ask GitHub to redeliver the team's failed deliveries that never arrived here.

    Raises NotRegistered for a team without a hook, HookForbidden when the credential that
    created the hook can no longer read it, and the client's GitHubError subclasses otherwise.
    """
    integration = (
        Integration.objects.select_related("team", "webhook_credential")
        .filter(team_id=team_id, provider="github", webhook_id__isnull=False)
        .first()
    )
    if integration is None or integration.webhook_id is None:
        raise NotRegistered(f"team {team_id} has no organization webhook")
    org, hook_id = integration.team.github_org_login, integration.webhook_id
    session = _hook_session(integration)
    attempts = github_hooks.list_deliveries(session, org=org, hook_id=hook_id)
    succeeded = {a.guid for a in attempts if a.succeeded}
    latest: dict[str, int] = {}
    for attempt in attempts:
        if attempt.guid not in succeeded and attempt.event != "ping":
            latest[attempt.guid] = max(latest.get(attempt.guid, 0), attempt.id)
    received = set(
        WebhookDelivery.objects.filter(guid__in=list(latest))
        .exclude(status=WebhookDelivery.Status.REFUSED)
        .values_list("guid", flat=True)
    )
    wanted = [delivery_id for guid, delivery_id in latest.items() if guid not in received]
    for delivery_id in wanted:
        github_hooks.redeliver(session, org=org, hook_id=hook_id, delivery_id=delivery_id)
    logger.info(
        "webhook redelivery team=%s listed=%s failed=%s redelivered=%s",
        team_id,
        len(attempts),
        len(latest),
        len(wanted),
    )
    return Redelivery(listed=len(attempts), failed=len(latest), redelivered=len(wanted))
