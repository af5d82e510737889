"""Onboarding services: sign in with GitHub, choose the organization, choose repositories.

The user, their GitHub identity and their encrypted token; the team for a GitHub organization
(exactly one per organization), its memberships and its GitHub integration; the tracked
repositories and the first sync job. Views call these functions and nothing below them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync import access, integrations, memberships, services, sockets
from sync.fields import Secret
from sync.github import orgs
from sync.github.client import GitHubError, Viewer
from sync.models import (
    GitHubAccount,
    Integration,
    IntegrationCredential,
    Membership,
    SyncJob,
    Team,
    TrackedRepository,
)

logger = logging.getLogger(__name__)

GITHUB = IntegrationCredential.Provider.GITHUB
# How long the repository list a user was shown stays valid for checking their submission.
REPOSITORY_LIST_TTL_S = 15 * 60


class NotConnected(Exception):
    """The user has no GitHub credential: they must connect GitHub first."""


class NotAMember(Exception):
    """The user is not a member of the team (or the team does not exist): not told apart."""


# The user is a member of the team but their role does not allow the action (sync.access).
NotAdmin = access.NotAllowed


class NotInOrganization(Exception):
    """GitHub says the user is not an active member of the organization."""


class UnknownRepositories(Exception):
    """Submitted repository ids that are not among the organization's repositories."""

    def __init__(self, ids: Sequence[int]) -> None:
        super().__init__(f"{len(ids)} unknown repository id(s)")
        self.ids = list(ids)


@dataclass(frozen=True)
class OrganizationChoice:
    membership: Membership
    created_team: bool
    joined_team: bool


# -- sign in ---------------------------------------------------------------------------------


def sign_in_with_github(*, viewer: Viewer, access_token: str, scopes: Sequence[str]) -> User:
    """Return the user for this GitHub identity (created on first sign-in), storing the token.

    Users are found by GitHub user id, never by login or e-mail: logins can be renamed and
    reused. The token is stored encrypted in the user's one GitHub credential, so a team
    integration that uses that credential picks up a reconnected token at once.
    """
    known = User.objects.filter(github_account__github_id=viewer.id).first()
    if known is not None:  # first the teams they left, so that nothing resumes for those
        recheck_memberships(user=known, access_token=access_token)
    try:
        return _sign_in(viewer, access_token, scopes)
    except IntegrityError:
        # A concurrent first sign-in of the same identity won the insert: sign in as it.
        return _sign_in(viewer, access_token, scopes)


def recheck_memberships(*, user: User, access_token: str) -> list[int]:
    """Ask GitHub whether ``user`` still belongs to each team's organization; return the ids of
    the teams they lost (``sync.memberships``). A team GitHub says nothing clear about stays."""
    lost = []
    for membership in Membership.objects.select_related("team").filter(user=user):
        team = membership.team
        try:
            belongs = orgs.get_org_membership(access_token, team.github_org_login).state
        except orgs.NotFound:
            belongs = "gone"
        except GitHubError as error:
            logger.info("membership not rechecked team=%s: %s", team.pk, type(error).__name__)
            continue
        if belongs != "active":
            reason = "no longer a member of the organization on GitHub (checked at sign-in)"
            memberships.remove_departed(team=team, user_ids=[user.pk], reason=reason)
            lost.append(team.pk)
    return lost


@transaction.atomic
def _sign_in(viewer: Viewer, access_token: str, scopes: Sequence[str]) -> User:
    now = timezone.now()
    account = (
        GitHubAccount.objects.select_for_update(of=("self",))
        .select_related("user", "credential")
        .filter(github_id=viewer.id)
        .first()
    )
    if account is None:
        user = User.objects.create_user(_free_username(viewer.login))
        user.set_unusable_password()
        user.first_name = viewer.name[:150]
        user.save(update_fields=["password", "first_name"])
        account = GitHubAccount(user=user, github_id=viewer.id)
        logger.info("created user from GitHub user=%s github_id=%s", user.pk, viewer.id)
    user = account.user
    credential = account.credential
    if credential is None:
        credential = IntegrationCredential(user=user, provider=GITHUB, created_at=now)
    credential.access_token = Secret(access_token)
    credential.scopes = " ".join(scopes)
    credential.updated_at = now
    credential.save()
    account.login = viewer.login
    account.name = viewer.name[:200]
    account.avatar_url = viewer.avatar_url[:500]
    account.credential = credential
    account.save()
    _reactivate_integrations(credential)
    return user


def _free_username(login: str) -> str:
    base = f"gh-{login}"[:140]
    candidate, number = base, 1
    while User.objects.filter(username=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _reactivate_integrations(credential: IntegrationCredential) -> None:
    # A fresh token fixes a revoked integration that uses this credential, and the imports
    # that stopped for want of it go on.
    broken = Integration.objects.filter(
        credential=credential, team__memberships__user_id=credential.user_id
    ).exclude(status=Integration.Status.ACTIVE)
    fixed = list(broken.distinct())
    for integration in fixed:
        integrations.set_status(
            integration, status=Integration.Status.ACTIVE, detail="Reconnected."
        )
    teams = {integration.team_id for integration in fixed}
    for team in Team.objects.filter(pk__in=teams):
        services.resume_after_reconnect(team=team)


def sign_out(*, user_id: int) -> None:
    """Close the live pages of a user who signed out (their session is already cleared)."""
    sockets.close_user_sockets(user_id, reason="signed out")


def get_github_token(user: User) -> Secret:
    """Return the user's decrypted GitHub token, or raise NotConnected."""
    account = GitHubAccount.objects.select_related("credential").filter(user=user).first()
    if account is None or account.credential is None:
        raise NotConnected(user.pk)
    return Secret(account.credential.access_token)


# -- teams -----------------------------------------------------------------------------------


def get_membership_for_user(*, user: User, team_id: int | None) -> Membership:
    """Return the user's membership of ``team_id`` (their newest team when None).

    The one permission check for team pages: raises NotAMember when the user is not in it.
    """
    if not (user.is_authenticated and user.is_active):
        raise NotAMember(team_id)
    memberships = Membership.objects.select_related("team").filter(user=user)
    if team_id is not None:
        memberships = memberships.filter(team_id=team_id)
    membership = memberships.order_by("-created_at", "-pk").first()
    if membership is None:
        raise NotAMember(team_id)
    return membership


@transaction.atomic
def choose_organization(*, user: User, org_membership: orgs.OrgMembership) -> OrganizationChoice:
    """Create the team for the organization, or join the existing one, and start member sync.

    The creator becomes the team's admin. Someone joining an existing team becomes an admin
    when they administer the organization on GitHub, else a member: a plain org member must
    not take over a team someone else configured. Choosing again changes nothing (refresh,
    back and double submit are safe).
    """
    if org_membership.state != "active":
        raise NotInOrganization(org_membership.organization.login)
    org = org_membership.organization
    team, created_team = _get_or_create_team(org)
    membership = Membership.objects.filter(user=user, team=team).first()
    joined_team = membership is None
    wanted_role = (
        Membership.Role.ADMIN
        if created_team or org_membership.role == "admin"
        else Membership.Role.MEMBER
    )
    if membership is None:
        membership = Membership.objects.create(user=user, team=team, role=wanted_role)
    elif wanted_role == Membership.Role.ADMIN and membership.role != wanted_role:
        membership.role = wanted_role  # never demoted here: GitHub said admin
        membership.save(update_fields=["role"])
    if _connect_github(team, user) or created_team:
        services.sync_members(team=team)
    logger.info(
        "organization chosen team=%s user=%s created=%s joined=%s role=%s",
        team.pk,
        user.pk,
        created_team,
        joined_team,
        membership.role,
    )
    return OrganizationChoice(membership, created_team, joined_team)


def _get_or_create_team(org: orgs.Organization) -> tuple[Team, bool]:
    # get_or_create survives a concurrent insert (the unique github_org_id): it joins that row.
    team, created = Team.objects.get_or_create(
        github_org_id=org.id,
        defaults={"name": org.login, "github_org_login": org.login, "avatar_url": org.avatar_url},
    )
    if not created and team.github_org_login != org.login:
        team.github_org_login = org.login  # the organization was renamed on GitHub
        team.save(update_fields=["github_org_login"])
    return team, created


def _connect_github(team: Team, user: User) -> bool:
    """Give the team a working GitHub integration; return True when it changed."""
    credential = GitHubAccount.objects.get(user=user).credential
    integration, created = Integration.objects.select_for_update().get_or_create(
        team=team,
        provider=GITHUB,
        defaults={"credential": credential, "status": Integration.Status.ACTIVE},
    )
    if created:
        return True
    if integration.credential_id is not None and integration.status == Integration.Status.ACTIVE:
        return False
    integrations.set_status(
        integration,
        status=Integration.Status.ACTIVE,
        detail=f"Connected by {user.get_username()}.",
        credential=credential,
    )
    services.resume_after_reconnect(team=team)
    return True


# -- repositories ------------------------------------------------------------------------------


def list_selectable_repositories(*, membership: Membership) -> list[orgs.Repository]:
    """Fetch the organization's repositories with the user's token, and remember the list.

    The remembered list is what a later submission is checked against, so a submission never
    needs a second walk through GitHub's pages.
    """
    token = get_github_token(membership.user)
    repositories = orgs.list_org_repos(token, membership.team.github_org_login)
    cache.set(_list_key(membership), repositories, REPOSITORY_LIST_TTL_S)
    return repositories


def find_selectable_repositories(
    *, membership: Membership, ids: Sequence[int]
) -> list[orgs.Repository]:
    """Return the organization's repositories with these ids; UnknownRepositories otherwise."""
    known: list[orgs.Repository] | None = cache.get(_list_key(membership))
    if known is None or any(i not in {r.id for r in known} for i in ids):
        known = list_selectable_repositories(membership=membership)  # ask GitHub, not a guess
    by_id = {repository.id: repository for repository in known}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise UnknownRepositories(unknown)
    return [by_id[i] for i in dict.fromkeys(ids)]


def _list_key(membership: Membership) -> str:
    return f"onboarding:repos:{membership.team_id}:{membership.user_id}"


@transaction.atomic
def select_repositories(
    *, membership: Membership, repositories: Sequence[orgs.Repository]
) -> SyncJob:
    """Track the chosen repositories and start their import (enqueued on commit).

    Raises services.SyncAlreadyRunning (a double submit lands here) or
    services.BrokerUnavailable, in which case nothing is saved.
    """
    access.require(membership, access.Action.CHANGE_REPOSITORIES)
    team = membership.team
    TrackedRepository.objects.bulk_create(
        [
            TrackedRepository(
                team=team,
                github_id=repository.id,
                full_name=repository.full_name,
                private=repository.private,
                archived=repository.archived,
                pushed_at=repository.pushed_at,
                untracked_at=None,  # chosen again: tracked again, with the data it kept
            )
            for repository in repositories
        ],
        update_conflicts=True,
        unique_fields=["team", "github_id"],
        update_fields=["full_name", "private", "archived", "pushed_at", "untracked_at"],
        batch_size=500,
    )
    tracked = list(
        TrackedRepository.objects.filter(team=team, github_id__in=[r.id for r in repositories])
    )
    # A team's first import reads the history window; later ones add repositories
    # incrementally (a repository never imported still gets the whole window).
    first = not team.sync_jobs.exists()
    kind = SyncJob.Kind.INITIAL if first else SyncJob.Kind.INCREMENTAL
    job = services.start_sync(
        team=team, repositories=tracked, requested_by=membership.user, kind=kind
    )
    cache.delete(_list_key(membership))
    logger.info("repositories selected team=%s job=%s repos=%s", team.pk, job.pk, len(tracked))
    return job


def start_incremental_sync(*, membership: Membership) -> SyncJob:
    """Start an incremental sync of every tracked repository of the admin's team.

    Raises NotAdmin, services.SyncAlreadyRunning, services.NothingToSync or
    services.BrokerUnavailable.
    """
    access.require(membership, access.Action.START)
    team = membership.team
    return services.start_sync(
        team=team,
        repositories=list(team.repositories.all()),
        requested_by=membership.user,
        kind=SyncJob.Kind.INCREMENTAL,
    )
