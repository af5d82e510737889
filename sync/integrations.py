"""A team's optional Jira and Slack: connect, choose what to use, keep Jira's access fresh.

Connecting trades the OAuth callback's code for tokens and stores them encrypted in a new
credential of the connecting admin, attached to the team's one Integration of that provider.
Jira's access token lasts an hour: :func:`jira_access_token` refreshes it (rotating the
refresh token) before it expires, and once more when Jira refuses it early. Slack's bot token
does not expire; choosing a channel posts a first message there, which proves the app may post
in it.

Calls to Atlassian and Slack happen outside database transactions (SQLite's write lock, rows
the worker shares), except the Jira refresh: the rotated refresh token must be saved by
whoever used the old one, so that one call runs under the credential's row lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from sync import access, actors
from sync.fields import Secret
from sync.jira import client as jira
from sync.models import Integration, IntegrationCredential, Membership, SyncJob
from sync.notifications import NOTIFIED
from sync.slack import client as slack

logger = logging.getLogger(__name__)

JIRA = IntegrationCredential.Provider.JIRA
SLACK = IntegrationCredential.Provider.SLACK
# Refresh a little early, so a token never expires between our check and Jira's.
REFRESH_MARGIN = timedelta(minutes=2)
T = TypeVar("T")


class IntegrationError(Exception):
    """A Jira or Slack step that cannot go on; ``str(error)`` is written for the user."""


class NotConnected(IntegrationError):
    """The team has no working connection to the provider: connect it first."""


class Revoked(IntegrationError):
    """The provider no longer accepts the team's access; the integration is marked revoked."""


class UnknownChoice(IntegrationError):
    """A site, project or channel that is not among the ones the provider lists."""


class NotInChannel(IntegrationError):
    """The Slack app's bot is not in the chosen channel, so it cannot post there."""

    def __init__(self, channel_name: str) -> None:
        super().__init__(f"The app is not a member of #{channel_name}.")
        self.channel_name = channel_name


@dataclass(frozen=True)
class JiraChoices:
    """What the projects page offers: the granted sites, one site's projects, the saved pick."""

    sites: list[jira.Site]
    site: jira.Site | None
    projects: list[jira.Project]
    chosen_keys: frozenset[str]


@dataclass(frozen=True)
class SlackChoices:
    workspace: str
    channels: list[slack.Channel]
    chosen_id: str


def get_integration(*, membership: Membership, provider: str) -> Integration | None:
    """Return the team's integration with ``provider``, if it ever connected one."""
    return (
        Integration.objects.select_related("credential")
        .filter(team_id=membership.team_id, provider=provider)
        .first()
    )


# -- Jira ------------------------------------------------------------------------------------


def jira_authorize_url(*, redirect_uri: str, state: str) -> str:
    """Return Atlassian's consent page for this service's Jira app."""
    return jira.make_client().authorize_url(redirect_uri=redirect_uri, state=state)


def connect_jira(*, membership: Membership, code: str, redirect_uri: str) -> Integration:
    """Trade the callback's code for tokens and connect the admin's team to Jira.

    Raises accounts.NotAdmin, or the client's BadCode, Misconfigured, Transient and JiraError.
    """
    access.require(membership, access.Action.JIRA)
    grant = jira.make_client().exchange_code(code=code, redirect_uri=redirect_uri)
    integration = _store_credential(
        membership=membership,
        provider=JIRA,
        access_token=grant.access_token,
        refresh_token=grant.refresh_token,
        expires_at=grant.expires_at,
        scopes=grant.scopes,
        external_id=None,
        detail=f"Connected by {membership.user.get_username()}.",
    )
    logger.info("Jira connected team=%s integration=%s", membership.team_id, integration.pk)
    return integration


def jira_choices(*, membership: Membership, site_id: str | None) -> JiraChoices:
    """Return the granted sites and the projects of ``site_id`` (the saved or only site).

    Raises NotConnected, Revoked, UnknownChoice, or the client's Transient and JiraError.
    """
    integration = _connected(membership, JIRA)
    client = jira.make_client()
    sites = _with_jira(integration, lambda token: client.accessible_sites(access_token=token))
    saved = integration.config.get("site") or {}
    wanted = site_id or saved.get("id") or (sites[0].id if len(sites) == 1 else None)
    site = next((s for s in sites if s.id == wanted), None)
    if site_id and site is None:
        raise UnknownChoice("That Jira site is not one you granted access to.")
    projects: list[jira.Project] = []
    if site is not None:
        projects = _with_jira(
            integration,
            lambda token: client.list_projects(access_token=token, cloud_id=site.id),
        )
    same_site = site is not None and saved.get("id") == site.id
    chosen = {p["key"] for p in integration.config.get("projects", [])} if same_site else set()
    return JiraChoices(sites, site, projects, frozenset(chosen))


def choose_jira_projects(
    *, membership: Membership, site_id: str, project_keys: Sequence[str]
) -> Integration:
    """Save the team's Jira site and projects, checked against what Jira lists now."""
    access.require(membership, access.Action.JIRA)
    choices = jira_choices(membership=membership, site_id=site_id)
    assert choices.site is not None  # jira_choices raised UnknownChoice otherwise
    by_key = {project.key: project for project in choices.projects}
    unknown = [key for key in project_keys if key not in by_key]
    if unknown or not project_keys:
        raise UnknownChoice("Choose projects from the list Jira shows for this site.")
    site = choices.site
    projects = [
        {"id": by_key[k].id, "key": k, "name": by_key[k].name} for k in dict.fromkeys(project_keys)
    ]
    config: dict[str, object] = {
        "site": {"id": site.id, "name": site.name, "url": site.url},
        "projects": projects,
    }
    detail = f"{len(projects)} project(s) on {site.name}."
    return _save_config(membership.team_id, JIRA, config, external_id=site.id, detail=detail)


def jira_access_token(*, integration: Integration, force_refresh: bool = False) -> Secret:
    """Return a live Jira access token of the integration, refreshing it when it is due.

    Raises Revoked (and marks the integration revoked) when Atlassian refuses the refresh.
    """
    credential = integration.credential
    if credential is None:
        raise NotConnected("Jira is not connected.")
    fresh = credential.expires_at and credential.expires_at - REFRESH_MARGIN > timezone.now()
    if fresh and not force_refresh:
        return Secret(credential.access_token)
    try:
        token = _refresh_jira(credential.pk, seen=credential.access_token)
    except jira.AccessRevoked:
        _mark(integration, Integration.Status.REVOKED, "Jira access was revoked: connect again.")
        raise Revoked("Jira no longer accepts this team's access.") from None
    integration.credential = IntegrationCredential.objects.get(pk=credential.pk)
    return token


@transaction.atomic
def _refresh_jira(credential_id: int, *, seen: str) -> Secret:
    # Under the row lock: two processes refreshing at once would each rotate the same token.
    credential = IntegrationCredential.objects.select_for_update().get(pk=credential_id)
    changed = credential.access_token != seen
    if changed and credential.expires_at and credential.expires_at > timezone.now():
        return Secret(credential.access_token)  # another process refreshed it meanwhile
    if not credential.refresh_token:
        raise jira.AccessRevoked("No refresh token.")
    grant = jira.make_client().refresh(refresh_token=credential.refresh_token)
    credential.access_token = grant.access_token
    credential.refresh_token = grant.refresh_token or credential.refresh_token
    credential.expires_at = grant.expires_at
    credential.updated_at = timezone.now()
    credential.save(update_fields=["access_token", "refresh_token", "expires_at", "updated_at"])
    logger.info("Jira token refreshed credential=%s", credential_id)
    return grant.access_token


def _with_jira(integration: Integration, call: Callable[[Secret], T]) -> T:
    """Run ``call`` with a live token; when Jira refuses it, refresh once and try again."""
    try:
        return call(jira_access_token(integration=integration))
    except jira.AccessRevoked:
        pass
    token = jira_access_token(integration=integration, force_refresh=True)
    try:
        return call(token)
    except jira.AccessRevoked:
        _mark(integration, Integration.Status.REVOKED, "Jira access was revoked: connect again.")
        raise Revoked("Jira no longer accepts this team's access.") from None


# -- Slack -----------------------------------------------------------------------------------


def slack_authorize_url(*, redirect_uri: str, state: str) -> str:
    """Return Slack's install page for this service's Slack app."""
    return slack.make_client().authorize_url(redirect_uri=redirect_uri, state=state)


def connect_slack(*, membership: Membership, code: str, redirect_uri: str) -> Integration:
    """Install the app: trade the code for the bot token and connect the admin's team.

    Raises accounts.NotAdmin, or the client's BadCode, Misconfigured, Transient, SlackError.
    """
    access.require(membership, access.Action.SLACK)
    install = slack.make_client().exchange_code(code=code, redirect_uri=redirect_uri)
    integration = _store_credential(
        membership=membership,
        provider=SLACK,
        access_token=install.access_token,
        refresh_token=None,
        expires_at=None,
        scopes=install.scopes,
        external_id=install.team_id,
        detail=f"Installed in the {install.team_name} workspace.",
        workspace=install.team_name,
    )
    logger.info("Slack connected team=%s integration=%s", membership.team_id, integration.pk)
    return integration


def slack_choices(*, membership: Membership) -> SlackChoices:
    """Return the workspace's public channels and the saved one.

    Raises NotConnected, Revoked, or the client's Transient and SlackError.
    """
    integration = _connected(membership, SLACK)
    channels = _with_slack(
        integration, lambda token: slack.make_client().list_channels(token=token)
    )
    channels.sort(key=lambda c: (not c.is_member, c.name))
    config = integration.config
    return SlackChoices(
        str(config.get("workspace") or ""), channels, str(config.get("channel_id") or "")
    )


def choose_slack_channel(*, membership: Membership, channel_id: str) -> Integration:
    """Post a first message to the channel, then save it as the team's channel for notices.

    The last finished import is announced there too when nobody has heard of it yet. Raises
    NotAdmin, NotConnected, Revoked, UnknownChoice, NotInChannel, or the client's Transient.
    """
    access.require(membership, access.Action.SLACK)
    integration = _connected(membership, SLACK)
    channel = next(
        (c for c in slack_choices(membership=membership).channels if c.id == channel_id), None
    )
    if channel is None:
        raise UnknownChoice("That channel is not one of the workspace's public channels.")
    text = (
        f"PR Insights will post here when an import of {membership.team.github_org_login} "
        "finishes or fails."
    )
    try:
        _with_slack(
            integration,
            lambda token: slack.make_client().post_message(
                token=token, channel=channel.id, text=text
            ),
        )
    except slack.NotInChannel:
        raise NotInChannel(channel.name) from None
    except slack.ChannelUnavailable:
        raise UnknownChoice(f"#{channel.name} no longer takes messages.") from None
    config = integration.config | {"channel_id": channel.id, "channel_name": channel.name}
    return _save_channel(integration.pk, config, f"Posts to #{channel.name}.")


@transaction.atomic
def _save_channel(integration_id: int, config: dict[str, object], detail: str) -> Integration:
    integration = Integration.objects.select_for_update().get(pk=integration_id)
    integration.config = config
    integration.status = Integration.Status.ACTIVE  # the first message just went through
    integration.status_detail = detail
    integration.updated_at = timezone.now()
    integration.save(update_fields=["config", "status", "status_detail", "updated_at"])
    unheard = (
        SyncJob.objects.filter(team_id=integration.team_id, status__in=NOTIFIED, notice=None)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if unheard is not None:
        transaction.on_commit(lambda: actors.notify_sync_finished.send(unheard), robust=True)
    return integration


def _with_slack(integration: Integration, call: Callable[[Secret], T]) -> T:
    credential = integration.credential
    if credential is None:
        raise NotConnected("Slack is not connected.")
    try:
        return call(Secret(credential.access_token))
    except slack.AccessRevoked:
        _mark(integration, Integration.Status.REVOKED, "Slack access was revoked: connect again.")
        raise Revoked("Slack no longer accepts this team's access.") from None


# -- shared ----------------------------------------------------------------------------------


def _connected(membership: Membership, provider: str) -> Integration:
    integration = get_integration(membership=membership, provider=provider)
    if integration is None or integration.credential is None:
        raise NotConnected(f"{provider.title()} is not connected.")
    if integration.status == Integration.Status.REVOKED:
        raise Revoked(integration.status_detail or f"{provider.title()} access was revoked.")
    return integration


@transaction.atomic
def _store_credential(
    *,
    membership: Membership,
    provider: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime | None,
    scopes: Sequence[str],
    external_id: str | None,
    detail: str,
    workspace: str | None = None,
) -> Integration:
    """Store the tokens in a new credential of the user and point the team's integration at it."""
    now = timezone.now()
    user: User = membership.user
    credential = IntegrationCredential.objects.create(
        user=user,
        provider=provider,
        access_token=Secret(access_token),
        refresh_token=Secret(refresh_token) if refresh_token else None,
        scopes=" ".join(scopes),
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    integration, _ = Integration.objects.select_for_update().get_or_create(
        team_id=membership.team_id, provider=provider, defaults={"created_at": now}
    )
    previous = integration.credential_id
    config = dict(integration.config)
    if external_id is not None and integration.external_id not in ("", external_id):
        config = {}  # another Slack workspace: the old channel means nothing there
    if workspace is not None:
        config["workspace"] = workspace
    integration.credential = credential
    integration.status = Integration.Status.ACTIVE
    integration.status_detail = detail
    integration.external_id = external_id if external_id is not None else integration.external_id
    integration.config = config
    integration.updated_at = now
    integration.save()
    if previous is not None:
        # The replaced tokens are of no use to anyone: do not keep them.
        IntegrationCredential.objects.filter(pk=previous).exclude(provider="github").delete()
    return integration


@transaction.atomic
def _save_config(
    team_id: int, provider: str, config: dict[str, object], *, external_id: str, detail: str
) -> Integration:
    integration = Integration.objects.select_for_update().get(team_id=team_id, provider=provider)
    integration.config = config
    integration.external_id = external_id
    integration.status_detail = detail
    integration.updated_at = timezone.now()
    integration.save(update_fields=["config", "external_id", "status_detail", "updated_at"])
    logger.info("%s configured team=%s integration=%s", provider, team_id, integration.pk)
    return integration


def _mark(integration: Integration, status: str, detail: str) -> None:
    Integration.objects.filter(pk=integration.pk).update(
        status=status, status_detail=detail, updated_at=timezone.now()
    )
    integration.status, integration.status_detail = status, detail
