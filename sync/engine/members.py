"""The team's organization members over REST, and the links from imported rows to them."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import OuterRef, Subquery

from sync import memberships
from sync.github import org as github_org
from sync.github.client import Session
from sync.github.errors import GitHubError
from sync.models import Commit, GitHubAccount, PullRequest, Review, Team, TeamMember

logger = logging.getLogger(__name__)


LEFT = "no longer a member of the organization on GitHub"


class OwnerLeft(GitHubError):
    """The token's own user left the organization: their view of it is an outsider's."""


def sync_members(
    *,
    team: Team,
    session: Session,
    owner_id: int | None = None,
    listed_members: list[github_org.MemberData] | None = None,
) -> int:
    """Upsert the organization's members as the team's members; return how many there are.

    Users of the team GitHub no longer lists lose it (``sync.memberships``). ``owner_id`` is
    the user whose token ``session`` carries: when GitHub does not list them, they left, and
    the list is an outsider's (public members only), so only they are removed and OwnerLeft
    is raised for the caller to go on with another member's token. ``listed_members``: the
    listing when the caller already read it (the sweep's conditional requests).
    """
    members = listed_members
    if members is None:
        members = github_org.list_members(session, org=team.github_org_login)
    listed = {member.github_id for member in members}
    linked = dict(
        GitHubAccount.objects.filter(user__membership__team=team).values_list(
            "user_id", "github_id"
        )
    )
    if owner_id in linked and linked[owner_id] not in listed:
        memberships.remove_departed(team=team, user_ids=[owner_id], reason=LEFT)
        raise OwnerLeft("The token's owner left the organization")
    with transaction.atomic():
        TeamMember.objects.bulk_create(
            [
                TeamMember(
                    team=team,
                    github_id=member.github_id,
                    login=member.login,
                    avatar_url=member.avatar_url,
                    is_bot=member.is_bot,
                    role=member.role,
                )
                for member in members
            ],
            update_conflicts=True,
            unique_fields=["team", "github_id"],
            update_fields=["login", "avatar_url", "is_bot", "role"],
        )
        # Former members stay (their PRs point at them) without a role.
        TeamMember.objects.filter(team=team).exclude(
            github_id__in=[m.github_id for m in members]
        ).update(role="")
        _link_users(team)
        relink_authors(team)
        departed = [user_id for user_id, github_id in linked.items() if github_id not in listed]
        memberships.remove_departed(team=team, user_ids=departed, reason=LEFT)
    logger.info("members synced team=%s count=%s", team.pk, len(members))
    return len(members)


def _link_users(team: Team) -> None:
    accounts = GitHubAccount.objects.filter(github_id=OuterRef("github_id")).values("user_id")
    TeamMember.objects.filter(team=team, user__isnull=True).update(user=Subquery(accounts[:1]))


def relink_authors(team: Team) -> None:
    """Link imported rows whose author was not a known member when they were written."""
    for model, scope in (
        (PullRequest, "repository__team"),
        (Review, "pull_request__repository__team"),
        (Commit, "pull_request__repository__team"),
    ):
        member = TeamMember.objects.filter(team=team, login__iexact=OuterRef("author_login"))
        model.objects.filter(**{scope: team}, author__isnull=True).exclude(author_login="").update(
            author=Subquery(member.values("id")[:1])
        )
