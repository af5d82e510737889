"""The team's organization members over REST, and the links from imported rows to them."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import OuterRef, Subquery

from sync.github import org as github_org
from sync.github.client import Session
from sync.models import Commit, GitHubAccount, PullRequest, Review, Team, TeamMember

logger = logging.getLogger(__name__)


def sync_members(*, team: Team, session: Session) -> int:
    """Upsert the organization's members as the team's members; return how many there are."""
    members = github_org.list_members(session, org=team.github_org_login)
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
