"""A team's optional providers (Jira, Slack): connect, choose what to use, keep access fresh.

Every provider runs the same steps (``sync.providers.base.Provider``): connecting trades the
OAuth callback's code for tokens and stores them encrypted in a new credential of the
connecting admin, attached to the team's one Integration of that provider; every call to the
provider runs with a live token (:func:`access_token` refreshes a token that is due, rotating
its refresh token, and once more when the provider refuses it early); a grant the provider no
longer accepts marks the integration revoked. Every status change goes through
:func:`set_status`.

Calls to providers happen outside database transactions (SQLite's write lock, rows the worker
shares), except a refresh: the rotated refresh token must be saved by whoever used the old one,
so that one call runs under the credential's row lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from django.db import transaction
from django.utils import timezone

from sync import access, actors
from sync.fields import Secret
from sync.jira.provider import JiraProvider
from sync.models import Integration, IntegrationCredential, Membership, SyncJob
from sync.notifications import NOTIFIED
from sync.providers.base import Chosen, Grant, Provider, WithToken
from sync.providers.errors import (
    AccessRevoked,
    IntegrationError,
    NotConnected,
    NothingOffered,
    NotInChannel,
    Revoked,
    UnknownChoice,
)
from sync.slack.provider import SlackProvider

__all__ = [
    "PROVIDERS",
    "IntegrationError",
    "NotConnected",
    "NotInChannel",
    "NothingOffered",
    "Revoked",
    "UnknownChoice",
]

logger = logging.getLogger(__name__)

PROVIDERS: dict[str, Provider] = {p.name: p for p in (JiraProvider(), SlackProvider())}
# Refresh a little early, so a token never expires between our check and the provider's.
REFRESH_MARGIN = timedelta(minutes=2)
T = TypeVar("T")


def get_provider(name: str) -> Provider:
    """Return the provider named ``name``; KeyError for one we do not have."""
    return PROVIDERS[name]


def get_integration(*, membership: Membership, provider: str) -> Integration | None:
    """Return the team's integration with ``provider``, if it ever connected one."""
    return (
        Integration.objects.select_related("credential")
        .filter(team_id=membership.team_id, provider=provider)
        .first()
    )


def authorize_url(*, provider: str, redirect_uri: str, state: str) -> str:
    """Return the provider's consent page for this service's app."""
    return get_provider(provider).authorize_url(redirect_uri=redirect_uri, state=state)


def connect(*, provider: str, membership: Membership, code: str, redirect_uri: str) -> Integration:
    """Trade the callback's code for tokens and connect the admin's team to the provider.

    Raises accounts.NotAdmin, or the client's BadCode, Misconfigured, Transient, ProviderError.
    """
    chosen = get_provider(provider)
    access.require(membership, chosen.action)
    grant = chosen.exchange(code=code, redirect_uri=redirect_uri)
    detail = grant.detail or f"Connected by {membership.user.get_username()}."
    integration = _store_credential(
        membership=membership, provider=provider, grant=grant, detail=detail
    )
    logger.info("%s connected team=%s integration=%s", provider, membership.team_id, integration.pk)
    return integration


def choices(*, provider: str, membership: Membership, pick: Mapping[str, Any]) -> Any:
    """Return what the provider offers to choose from now, with the saved choice marked.

    Raises NotConnected, Revoked, NothingOffered, UnknownChoice, or the client's errors.
    """
    integration = _connected(membership, provider)
    return get_provider(provider).choices(
        with_token=_with_token(integration), config=integration.config, pick=pick
    )


def choose(*, provider: str, membership: Membership, pick: Mapping[str, Any]) -> Integration:
    """Save the team's choice, checked against what the provider lists now.

    Raises NotAdmin, NotConnected, Revoked, UnknownChoice, NotInChannel, or the client's errors.
    """
    chosen_provider = get_provider(provider)
    access.require(membership, chosen_provider.action)
    integration = _connected(membership, provider)
    chosen = chosen_provider.choose(
        with_token=_with_token(integration),
        config=integration.config,
        pick=pick,
        org=membership.team.github_org_login,
    )
    return _save_choice(integration.pk, chosen)


@transaction.atomic
def disconnect(*, provider: str, membership: Membership) -> None:
    """Forget the team's connection to the provider: its tokens, its choice, its status."""
    access.require(membership, get_provider(provider).action)
    integration = (
        Integration.objects.select_for_update()
        .filter(team_id=membership.team_id, provider=provider)
        .first()
    )
    if integration is None:
        return
    credential_id = integration.credential_id
    integration.delete()
    if credential_id is not None:
        IntegrationCredential.objects.filter(pk=credential_id, provider=provider).delete()
    logger.info("%s disconnected team=%s", provider, membership.team_id)


def access_token(*, integration: Integration, force_refresh: bool = False) -> Secret:
    """Return a live access token of the integration, refreshing it when it is due.

    Raises Revoked (and marks the integration revoked) when the provider refuses the refresh.
    """
    credential = integration.credential
    if credential is None:
        raise NotConnected(f"{integration.provider.title()} is not connected.")
    provider = get_provider(integration.provider)
    due = (
        credential.expires_at is not None
        and credential.expires_at - REFRESH_MARGIN <= timezone.now()
    )
    if not provider.refreshes or not (due or force_refresh):
        return Secret(credential.access_token)
    try:
        token = _refresh(provider, credential.pk, seen=credential.access_token)
    except AccessRevoked:
        _revoked(integration)
    integration.credential = IntegrationCredential.objects.get(pk=credential.pk)
    return token


def set_status(integration: Integration, *, status: str, detail: str, **fields: Any) -> None:
    """Write the integration's status (and ``fields``): the one write path of that state."""
    now = timezone.now()
    Integration.objects.filter(pk=integration.pk).update(
        status=status, status_detail=detail[:500], updated_at=now, **fields
    )
    integration.status, integration.status_detail, integration.updated_at = status, detail, now
    for name, value in fields.items():
        setattr(integration, name, value)
    logger.info(
        "integration status team=%s provider=%s status=%s",
        integration.team_id,
        integration.provider,
        status,
    )


# -- internals -------------------------------------------------------------------------------


def _with_token(integration: Integration) -> WithToken:
    """Run calls with a live token; when refused, refresh once (if the provider can) and retry."""

    def run(call: Callable[[Secret], T]) -> T:
        try:
            return call(access_token(integration=integration))
        except AccessRevoked:
            if not get_provider(integration.provider).refreshes:
                _revoked(integration)
        token = access_token(integration=integration, force_refresh=True)
        try:
            return call(token)
        except AccessRevoked:
            _revoked(integration)

    return run


def _revoked(integration: Integration) -> NoReturn:
    label = get_provider(integration.provider).label
    detail = f"{label} access was revoked: connect again."
    set_status(integration, status=Integration.Status.REVOKED, detail=detail)
    raise Revoked(f"{label} no longer accepts this team's access.") from None


@transaction.atomic
def _refresh(provider: Provider, credential_id: int, *, seen: str) -> Secret:
    # Under the row lock: two processes refreshing at once would each rotate the same token.
    credential = IntegrationCredential.objects.select_for_update().get(pk=credential_id)
    changed = credential.access_token != seen
    if changed and credential.expires_at and credential.expires_at > timezone.now():
        return Secret(credential.access_token)  # another process refreshed it meanwhile
    if not credential.refresh_token:
        raise AccessRevoked("No refresh token.")
    grant = provider.refresh(refresh_token=credential.refresh_token)
    credential.access_token = grant.access_token
    credential.refresh_token = grant.refresh_token or credential.refresh_token
    credential.expires_at = grant.expires_at
    credential.updated_at = timezone.now()
    credential.save(update_fields=["access_token", "refresh_token", "expires_at", "updated_at"])
    logger.info("%s token refreshed credential=%s", provider.name, credential_id)
    return grant.access_token


def _connected(membership: Membership, provider: str) -> Integration:
    integration = get_integration(membership=membership, provider=provider)
    label = get_provider(provider).label
    if integration is None or integration.credential is None:
        raise NotConnected(f"{label} is not connected.")
    if integration.status == Integration.Status.REVOKED:
        raise Revoked(integration.status_detail or f"{label} access was revoked.")
    return integration


@transaction.atomic
def _store_credential(
    *, membership: Membership, provider: str, grant: Grant, detail: str
) -> Integration:
    """Store the tokens in a new credential of the user and point the team's integration at it."""
    now = timezone.now()
    credential = IntegrationCredential.objects.create(
        user=membership.user,
        provider=provider,
        access_token=Secret(grant.access_token),
        refresh_token=Secret(grant.refresh_token) if grant.refresh_token else None,
        scopes=" ".join(grant.scopes),
        expires_at=grant.expires_at,
        created_at=now,
        updated_at=now,
    )
    integration, _ = Integration.objects.select_for_update().get_or_create(
        team_id=membership.team_id, provider=provider, defaults={"created_at": now}
    )
    previous = integration.credential_id
    config = dict(integration.config)
    external_id = grant.external_id
    if external_id is not None and integration.external_id not in ("", external_id):
        config = {}  # another account (Slack workspace): the old choice means nothing there
    set_status(
        integration,
        status=Integration.Status.ACTIVE,
        detail=detail,
        credential=credential,
        external_id=integration.external_id if external_id is None else external_id,
        config=config | grant.config,
    )
    if previous is not None:
        # The replaced tokens are of no use to anyone: do not keep them.
        IntegrationCredential.objects.filter(pk=previous).exclude(provider="github").delete()
    return integration


@transaction.atomic
def _save_choice(integration_id: int, chosen: Chosen) -> Integration:
    integration: Integration = Integration.objects.select_for_update().get(pk=integration_id)
    changes: dict[str, object] = {"config": chosen.config}
    if chosen.external_id is not None:
        changes["external_id"] = chosen.external_id
    # The provider just answered for this choice: the connection works.
    set_status(integration, status=Integration.Status.ACTIVE, detail=chosen.detail, **changes)
    logger.info(
        "%s configured team=%s integration=%s",
        integration.provider,
        integration.team_id,
        integration.pk,
    )
    if chosen.announce:
        _announce_last_import(integration.team_id)
    return integration


def _announce_last_import(team_id: int) -> None:
    """Post the last finished import to a new channel when nobody has heard of it yet."""
    unheard = (
        SyncJob.objects.filter(team_id=team_id, status__in=NOTIFIED, notice=None)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if unheard is not None:
        transaction.on_commit(lambda: actors.notify_sync_finished.send(unheard), robust=True)
