"""Who may see and do what: the one permission table, and the lookups that enforce it.

Views, staff actions and consumers all ask here. A user's roles on a team are the role of
their membership (``admin`` or ``member``) plus ``staff`` when they are staff; an action is
allowed when any of their roles allows it (``PERMISSIONS``). Someone who may not even see the
team's sync gets JobNotFound (not told apart from a missing job); someone who may see it but
not do the action gets NotAllowed, whose message is written for them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sync.models import Membership, SyncJob, Team


class Action(StrEnum):
    VIEW = "view"  # watch a team's imports (page and socket)
    START = "start"  # start an import (incremental, full, extend, one repository)
    CANCEL = "cancel"
    RETRY = "retry"  # retry the repositories that failed
    RUN_NOW = "run_now"  # send a stalled import to the queue again
    RECONNECT = "reconnect"  # connect GitHub again for the team's imports
    CHANGE_REPOSITORIES = "change_repositories"
    JIRA = "jira"  # connect Jira, choose its projects
    SLACK = "slack"  # connect Slack, choose its channel


ADMIN = Membership.Role.ADMIN.value
MEMBER = Membership.Role.MEMBER.value
STAFF = "staff"

# Staff act on any team's imports from the staff pages, but never on its connections: those
# use the connecting admin's own GitHub, Jira or Slack account.
PERMISSIONS: dict[Action, frozenset[str]] = {
    Action.VIEW: frozenset({ADMIN, MEMBER, STAFF}),
    Action.START: frozenset({ADMIN, STAFF}),
    Action.CANCEL: frozenset({ADMIN, STAFF}),
    Action.RETRY: frozenset({ADMIN, STAFF}),
    Action.RUN_NOW: frozenset({ADMIN, STAFF}),
    Action.RECONNECT: frozenset({ADMIN}),
    Action.CHANGE_REPOSITORIES: frozenset({ADMIN}),
    Action.JIRA: frozenset({ADMIN}),
    Action.SLACK: frozenset({ADMIN}),
}

REFUSALS: dict[Action, str] = {
    Action.VIEW: "You are not a member of this team.",
    Action.START: "Only the team's admins start imports.",
    Action.CANCEL: "Only the team's admins cancel imports.",
    Action.RETRY: "Only the team's admins retry imports.",
    Action.RUN_NOW: "Only the team's admins send an import to the queue again.",
    Action.RECONNECT: "Only the team's admins reconnect GitHub.",
    Action.CHANGE_REPOSITORIES: "Only the team's admins change its repositories.",
    Action.JIRA: "Only the team's admins connect Jira.",
    Action.SLACK: "Only the team's admins connect Slack.",
}


class JobNotFound(Exception):
    """The job does not exist or the user may not see it (the two are not told apart)."""


class NotAllowed(Exception):
    """The user may see the team but not do ``action``; ``str(error)`` says so to them."""

    def __init__(self, action: Action, team_id: int | None = None) -> None:
        super().__init__(REFUSALS[action])
        self.action = action
        self.team_id = team_id


def is_staff(user: Any) -> bool:
    """Return whether ``user`` may watch every team's sync jobs."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def roles_of(user: Any, team_id: int, *, membership_role: str | None = None) -> frozenset[str]:
    """Return the user's roles on the team: their membership's role, and ``staff``."""
    if not (user.is_authenticated and user.is_active):
        return frozenset()
    if membership_role is None:
        membership_role = (
            Membership.objects.filter(user=user, team_id=team_id)
            .values_list("role", flat=True)
            .first()
        )
    roles = {membership_role} if membership_role else set()
    if is_staff(user):
        roles.add(STAFF)
    return frozenset(roles)


def allowed(roles: frozenset[str], action: Action) -> bool:
    """Return whether any of ``roles`` may do ``action``."""
    return bool(roles & PERMISSIONS[action])


def can(user: Any, team: Team | int, action: Action) -> bool:
    """Return whether ``user`` may do ``action`` on the team (for pages choosing buttons)."""
    team_id = team if isinstance(team, int) else team.pk
    return allowed(roles_of(user, team_id), action)


def permits(membership: Membership, action: Action) -> bool:
    """Return whether the membership's user may do ``action`` on its team (pages' buttons)."""
    roles = roles_of(membership.user, membership.team_id, membership_role=membership.role)
    return allowed(roles, action)


def require(membership: Membership, action: Action) -> Membership:
    """Return ``membership`` when its user may do ``action`` on its team; raise NotAllowed."""
    if not permits(membership, action):
        raise NotAllowed(action, membership.team_id)
    return membership


def require_team(user: Any, team: Team, action: Action) -> Team:
    """Return ``team`` when ``user`` may do ``action`` on it; raise NotAllowed otherwise."""
    if not can(user, team, action):
        raise NotAllowed(action, team.pk)
    return team


def get_job_for_user(user: Any, job_id: int, action: Action = Action.VIEW) -> SyncJob:
    """Return the job if ``user`` may do ``action`` on it.

    Raise JobNotFound when they may not even see it (not a member of its team, not staff),
    NotAllowed when they see it but their role does not allow ``action``.
    """
    if not (user.is_authenticated and user.is_active):
        raise JobNotFound(job_id)
    try:
        job = SyncJob.objects.select_related("team").get(pk=job_id)
    except SyncJob.DoesNotExist:
        raise JobNotFound(job_id) from None
    roles = roles_of(user, job.team_id)
    if not allowed(roles, Action.VIEW):
        raise JobNotFound(job_id)
    if not allowed(roles, action):
        raise NotAllowed(action, job.team_id)
    return job


class TeamNotFound(Exception):
    """The team does not exist or the user may not see it (the two are not told apart)."""


def get_team_for_user(user: Any, team_id: int) -> tuple[Team, frozenset[str]]:
    """Return the team and the user's roles on it, if they may see it; raise TeamNotFound."""
    if not (user.is_authenticated and user.is_active):
        raise TeamNotFound(team_id)
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        raise TeamNotFound(team_id)
    roles = roles_of(user, team.pk)
    if not allowed(roles, Action.VIEW):
        raise TeamNotFound(team_id)
    return team, roles
