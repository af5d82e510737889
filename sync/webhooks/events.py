"""Apply one accepted delivery through the import's write path, exactly once.

A delivery names what changed; the row written is what GitHub says now (the pull request is
read back by GraphQL with its reviews and commits), so deliveries that arrive late, twice or
out of order all end in GitHub's current state. GitHub is read outside the transaction; the
rows, the delivery's status and the team's refresh notice commit together, under a lock on
the delivery, so a redelivered message applies nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from sync import freshness, memberships
from sync.engine import members as engine_members
from sync.engine.tokens import team_token
from sync.engine.writes import MemberIndex, mark_repository_deleted, save_pulls
from sync.github import org as github_org
from sync.github import pulls as github_pulls
from sync.github.client import Session, parse_time
from sync.github.pulls import PullRequestData
from sync.models import (
    GitHubAccount,
    PullRequest,
    Team,
    TeamMember,
    TrackedRepository,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status


@dataclass
class Change:
    """What applying a delivery does, decided before the transaction that does it."""

    write: Callable[[], list[int]] | None = None  # returns the pull request ids it changed
    ignored: str = ""
    pulls: list[PullRequestData] = field(default_factory=list)


def apply_delivery(delivery_id: int) -> None:
    """Apply delivery ``delivery_id`` if it is still queued (idempotent)."""
    delivery = (
        WebhookDelivery.objects.select_related("team")
        .filter(pk=delivery_id, status=Status.QUEUED)
        .first()
    )
    if delivery is None or delivery.team is None:
        return
    WebhookDelivery.objects.filter(pk=delivery_id).update(attempts=delivery.attempts + 1)
    planner = PLANNERS.get(delivery.event, _not_used)
    change = planner(delivery.team, dict(delivery.payload or {}))
    _commit(delivery, change)


def mark_failed(delivery_id: int, reason: str) -> None:
    """Record that a delivery could not be applied (the sweep brings its change in later)."""
    WebhookDelivery.objects.filter(pk=delivery_id, status=Status.QUEUED).update(
        status=Status.FAILED, reason=reason[:500]
    )


@transaction.atomic
def _commit(delivery: WebhookDelivery, change: Change) -> None:
    locked = WebhookDelivery.objects.select_for_update().filter(pk=delivery.pk).first()
    if locked is None or locked.status != Status.QUEUED:
        return  # another delivery of this message got here first
    if change.write is None:
        locked.status, locked.reason = Status.IGNORED, change.ignored[:500]
        locked.applied_at = timezone.now()
        locked.save(update_fields=["status", "reason", "applied_at"])
        return
    changed = change.write()
    locked.status, locked.applied_at = Status.APPLIED, timezone.now()
    locked.save(update_fields=["status", "applied_at"])
    freshness.note_refresh(
        team_id=delivery.team_id or 0,
        source=freshness.Source.WEBHOOK,
        pull_request_ids=changed,
    )
    logger.info(
        "webhook applied delivery=%s event=%s team=%s prs=%s",
        delivery.guid,
        delivery.event,
        delivery.team_id,
        len(changed),
    )


# -- pull requests, reviews, commits -----------------------------------------------------------


def _tracked(team: Team, payload: dict[str, Any]) -> TrackedRepository | None:
    repository = payload.get("repository") or {}
    github_id = repository.get("id") if isinstance(repository, dict) else None
    if github_id is None:
        return None
    return TrackedRepository.objects.filter(
        team=team, github_id=int(github_id), deleted_at__isnull=True, untracked_at__isnull=True
    ).first()


def _plan_pull_request(team: Team, payload: dict[str, Any]) -> Change:
    pull = payload.get("pull_request") or {}
    if _already_current(pull):
        return Change(ignored="the stored pull request is already as new as this delivery")
    return _read_back(team, payload)


def _read_back(team: Team, payload: dict[str, Any]) -> Change:
    repository = _tracked(team, payload)
    if repository is None:
        return Change(ignored="the team does not track this repository")
    number = int((payload.get("pull_request") or {})["number"])
    session = Session(team_token(team.pk).token)
    owner, name = repository.full_name.split("/", 1)
    found = github_pulls.fetch_pull_request(session, owner=owner, name=name, number=number)
    if found is None:
        return Change(ignored=f"GitHub no longer has pull request #{number}")
    return _writing(team, repository, [found])


def _already_current(pull: dict[str, Any]) -> bool:
    """Whether the stored row is at least as new as a ``pull_request`` event's payload."""
    updated_at = _time(pull.get("updated_at"))
    github_id = pull.get("id")
    if updated_at is None or github_id is None:
        return False
    stored = PullRequest.objects.filter(github_id=int(github_id)).values_list(
        "updated_at", flat=True
    )
    return any(at >= updated_at for at in stored)


def _plan_review(team: Team, payload: dict[str, Any]) -> Change:
    # GitHub's pull_request in a review event may predate the review: always read it back.
    return _read_back(team, payload)


def _plan_push(team: Team, payload: dict[str, Any]) -> Change:
    ref = str(payload.get("ref") or "")
    if not ref.startswith("refs/heads/") or payload.get("deleted"):
        return Change(ignored="not a push to a branch")
    repository = _tracked(team, payload)
    if repository is None:
        return Change(ignored="the team does not track this repository")
    session = Session(team_token(team.pk).token)
    owner, name = repository.full_name.split("/", 1)
    head = ref.removeprefix("refs/heads/")
    found = github_pulls.fetch_open_pull_requests_by_head(
        session, owner=owner, name=name, head=head
    )
    if not found:
        return Change(ignored=f"no open pull request has {head} as its head")
    return _writing(team, repository, found)


def _writing(team: Team, repository: TrackedRepository, pulls: list[PullRequestData]) -> Change:
    def write() -> list[int]:
        newer = _not_older(pulls)
        save_pulls(repository=repository, pulls=newer, members=MemberIndex(team.pk))
        ids = PullRequest.objects.filter(github_id__in=[p.github_id for p in newer])
        return list(ids.values_list("id", flat=True))

    return Change(write=write, pulls=pulls)


def _not_older(pulls: list[PullRequestData]) -> list[PullRequestData]:
    """Keep the pulls at least as new as their stored rows (locked until commit).

    Two deliveries about one pull request may be applied at once; the one that read GitHub
    earlier must not overwrite what the later one wrote. Every change to a pull request (its
    reviews and commits included) moves its ``updated_at`` on GitHub.
    """
    stored = dict(
        PullRequest.objects.select_for_update()
        .filter(github_id__in=[p.github_id for p in pulls])
        .values_list("github_id", "updated_at")
    )
    return [p for p in pulls if p.github_id not in stored or stored[p.github_id] <= p.updated_at]


# -- members -----------------------------------------------------------------------------------


def _plan_organization(team: Team, payload: dict[str, Any]) -> Change:
    action = payload.get("action")
    membership = payload.get("membership") or {}
    user = membership.get("user") if isinstance(membership, dict) else None
    if action not in ("member_added", "member_removed") or not isinstance(user, dict):
        return Change(ignored=f"organization {action or 'event'}: nothing the team keeps")
    github_id, login = int(user["id"]), str(user["login"])
    # Deliveries about one person may arrive out of order (a redelivered "added" after the
    # "removed"): GitHub is asked who belongs now, and that is what is written.
    role = _role_now(team, login, said=membership.get("role") if action == "member_added" else None)
    if role is None:
        return Change(write=lambda: _member_removed(team, github_id))
    is_bot = user.get("type") == "Bot"
    avatar = str(user.get("avatar_url") or "")
    return Change(write=lambda: _member_added(team, github_id, login, role, is_bot, avatar))


def _role_now(team: Team, login: str, *, said: object) -> str | None:
    """Return ``login``'s role in the organization now, or None if they are not a member.

    GitHub answers 404 both for a non-member and to a token whose own user left: then its
    answer says nothing, and the delivery's word (``said``: the role it announced, or None
    for a removal) is taken instead.
    """
    session = Session(team_token(team.pk).token)
    org = team.github_org_login
    role = github_org.member_role(session, org=org, login=login)
    if role is not None or github_org.is_active_member(session, org=org):
        return role
    return None if said is None else ("admin" if said == "admin" else "member")


def _member_added(
    team: Team, github_id: int, login: str, role: str, is_bot: bool, avatar: str
) -> list[int]:
    TeamMember.objects.update_or_create(
        team=team,
        github_id=github_id,
        defaults={"login": login, "role": role, "is_bot": is_bot, "avatar_url": avatar},
    )
    account = GitHubAccount.objects.filter(github_id=github_id).first()
    if account is not None:
        TeamMember.objects.filter(team=team, github_id=github_id, user__isnull=True).update(
            user_id=account.user_id
        )
    engine_members.relink_authors(team)
    return []


def _member_removed(team: Team, github_id: int) -> list[int]:
    # Former members stay (their pull requests point at them) without a role.
    TeamMember.objects.filter(team=team, github_id=github_id).update(role="")
    users = GitHubAccount.objects.filter(github_id=github_id).values_list("user_id", flat=True)
    memberships.remove_departed(team=team, user_ids=list(users), reason=engine_members.LEFT)
    return []


# -- repositories ------------------------------------------------------------------------------


def _plan_repository(team: Team, payload: dict[str, Any]) -> Change:
    repository = _tracked(team, payload)
    action = str(payload.get("action") or "")
    if repository is None:
        return Change(ignored="the team does not track this repository")
    data = payload.get("repository") or {}
    if action == "deleted":
        return Change(write=lambda: _repository_gone(repository))
    if action == "transferred":
        owner = (data.get("owner") or {}).get("id")
        if owner is not None and int(owner) != team.github_org_id:
            return Change(write=lambda: _repository_gone(repository))
    changes: dict[str, object] = {}
    if action in ("renamed", "transferred") and data.get("full_name"):
        changes["full_name"] = str(data["full_name"])[:300]
    if action in ("archived", "unarchived"):
        changes["archived"] = action == "archived"
    if action in ("privatized", "publicized"):
        changes["private"] = action == "privatized"
    if not changes:
        return Change(ignored=f"repository {action}: nothing the team keeps")
    return Change(write=lambda: _repository_changed(repository, changes))


def _repository_gone(repository: TrackedRepository) -> list[int]:
    mark_repository_deleted(repository.pk)
    return []


def _repository_changed(repository: TrackedRepository, changes: dict[str, object]) -> list[int]:
    TrackedRepository.objects.filter(pk=repository.pk).update(**changes)
    return []


def _not_used(team: Team, payload: dict[str, Any]) -> Change:
    return Change(ignored="an event the service does not apply")


def _member_event(team: Team, payload: dict[str, Any]) -> Change:
    # `member` is about repository collaborators and `membership` about GitHub teams; who
    # belongs to the organization comes with `organization` events.
    return Change(ignored="collaborator and GitHub team changes do not change the team")


def _time(value: object) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:
        return None


PLANNERS: dict[str, Callable[[Team, dict[str, Any]], Change]] = {
    "pull_request": _plan_pull_request,
    "pull_request_review": _plan_review,
    "pull_request_review_comment": _plan_review,
    "push": _plan_push,
    "organization": _plan_organization,
    "member": _member_event,
    "membership": _member_event,
    "repository": _plan_repository,
}
