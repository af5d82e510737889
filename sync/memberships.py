"""Access that follows GitHub: someone who left the organization loses the team at once.

GitHub is asked at sign-in (``accounts``), at every member sync (``engine.members``) and when
an import's token meets a 404 or 403 (``engine.pages``); each calls ``remove_departed``. The
membership goes, the team's GitHub identity row loses its role, the import moves to the token
of a member who still belongs (or stops, saying why), the user's sessions end and their open
sockets close, and the audit log records it. Like ``progress``, this module only writes rows
and sends notifications, so the engine may call it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from sync import sockets
from sync.models import AuditEvent, GitHubAccount, Integration, Membership, Team, TeamMember

logger = logging.getLogger(__name__)

REMOVED = "member.removed"
OWNER_LEFT = (
    "The GitHub account this team's imports used is no longer in the organization: an admin "
    "must connect GitHub again"
)


def current_members(team: Team) -> QuerySet[TeamMember]:
    """Return who belongs to the team's organization now: people who left keep their rows,
    for the pull requests they wrote, without a role."""
    return team.members.exclude(role="")


@transaction.atomic
def remove_departed(*, team: Team, user_ids: Iterable[int], reason: str) -> list[int]:
    """Take the team from users GitHub no longer lists in its organization; return their ids."""
    memberships = list(
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(team=team, user_id__in=list(user_ids))
    )
    for membership in memberships:
        _remove(membership, reason)
    return [membership.user_id for membership in memberships]


def _remove(membership: Membership, reason: str) -> None:
    team, user = membership.team, membership.user
    membership.delete()
    github_ids = GitHubAccount.objects.filter(user=user).values_list("github_id", flat=True)
    TeamMember.objects.filter(team=team, github_id__in=list(github_ids)).update(role="")
    moved = _move_github_integration(team, user.pk)
    AuditEvent.objects.create(
        team=team,
        action=REMOVED,
        params={"user": user.get_username(), "user_id": user.pk, "role": membership.role},
        outcome=f"{reason}; sessions and live pages closed{moved}",
    )
    transaction.on_commit(lambda: end_sessions(user.pk), robust=True)
    sockets.close_user_sockets(user.pk, reason=reason)
    logger.warning("member removed team=%s user=%s: %s", team.pk, user.pk, reason)


def _move_github_integration(team: Team, departed_user_id: int) -> str:
    """Move the team's GitHub integration off the departed user's credential; say where."""
    integration = (
        Integration.objects.select_for_update()
        .select_related("credential")
        .filter(team=team, provider="github", credential__user_id=departed_user_id)
        .first()
    )
    if integration is None:
        return ""
    account = successor_account(team.pk)
    now = timezone.now()
    if account is None:
        integration.status = Integration.Status.ERROR
        integration.status_detail = OWNER_LEFT[:500]
        integration.updated_at = now
        integration.save(update_fields=["status", "status_detail", "updated_at"])
        return "; no other member has connected GitHub: imports stop until an admin reconnects"
    integration.credential = account.credential
    integration.status = Integration.Status.ACTIVE
    integration.status_detail = f"Moved to {account.login}'s GitHub access: the previous one left."
    integration.updated_at = now
    integration.save(update_fields=["credential", "status", "status_detail", "updated_at"])
    return f"; imports now use {account.login}'s GitHub access"


def successor_account(team_id: int) -> GitHubAccount | None:
    """Return the GitHub account of a member still in the team, admins first, or None."""
    membership = (
        Membership.objects.select_related("user__github_account__credential")
        .filter(
            team_id=team_id,
            user__is_active=True,
            user__github_account__credential__isnull=False,
        )
        .order_by("role", "created_at", "pk")  # "admin" before "member"
        .first()
    )
    return membership.user.github_account if membership is not None else None


def end_sessions(user_id: int) -> int:
    """Delete every unexpired session of ``user_id``; return how many.

    Django keeps no index from users to sessions, so each live session is decoded: fine at
    the rate people leave organizations or sign out.
    """
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get("_auth_user_id") == str(user_id)
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)
