"""The reconciliation sweep: every team's data brought back to GitHub's, without webhooks.

The scheduler (``manage.py runscheduler``, one leader) sends ``sync.actors.sweep_teams`` every
``SWEEP_PERIOD_SECONDS``; each team's sweep then runs on a worker:

1. skip the team while one of its jobs runs (that job brings the changes anyway);
2. re-read the organization's members with the ETags of their last listing (free 304s when
   nobody joined or left);
3. ask GitHub what changed: one GraphQL query per 100 repositories (1 point each) gives every
   repository's last push and newest pull-request update (``sync.github.changes``);
4. start an incremental sync (a job of kind ``sweep``, through the same engine and write path
   as every import) of only the repositories that moved past their high-water mark.

An idle organization of R repositories costs ceil(R / 100) GraphQL points a sweep. The sweep
spends at most ``SWEEP_BUDGET_SHARE`` of the points its token has left, and never the points
that a running import on the same GitHub user still needs: past either, it waits for the next
period and says so in the log.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from sync import services, webhooks
from sync.engine import eta
from sync.engine.members import OwnerLeft, sync_members
from sync.engine.tokens import MissingToken, team_token
from sync.github import changes, queries
from sync.github.client import Session, token_key
from sync.github.errors import BadCredentials, GitHubError, RateLimited
from sync.github.ratelimit import gate_key, reserve
from sync.models import Integration, SyncJob, Team, TrackedRepository
from sync.webhooks.registration import NotRegistered

logger = logging.getLogger(__name__)

MEMBER_ETAGS_TTL_S = 30 * 86400
# How long one team's sweep holds its turn: a duplicate message meanwhile does nothing.
TEAM_TURN_S = 120


@dataclass(frozen=True)
class Outcome:
    """What one team's sweep did, for the log and the tests."""

    team_id: int
    status: str  # skipped | deferred | failed | unchanged | syncing
    reason: str = ""
    points: int = 0  # GitHub points the sweep itself spent (the job's are on the job)
    changed: list[int] = field(default_factory=list)  # repository ids sent to the job
    deferred: list[int] = field(default_factory=list)  # changed, left for a later sweep
    job_id: int | None = None
    members_changed: bool = False


# -- the scheduler's tick -----------------------------------------------------------------------


# A team is swept once an import of it ended with data: before, onboarding has not started it.
IMPORTED = (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL)


def teams_to_sweep() -> list[int]:
    """Return the imported teams with a working GitHub connection, the ones a sweep refreshes."""
    return list(
        Integration.objects.filter(
            provider="github", credential__isnull=False, team__sync_jobs__status__in=IMPORTED
        )
        .exclude(status=Integration.Status.REVOKED)
        .order_by("team_id")
        .values_list("team_id", flat=True)
        .distinct()
    )


def spread_ms() -> int:
    """Return a random delay for one team's sweep, so that teams do not all ask at once."""
    window = min(settings.SWEEP_JITTER_SECONDS, settings.SWEEP_PERIOD_SECONDS / 2)
    return int(random.uniform(0, max(0.0, window)) * 1000)


# -- one team -----------------------------------------------------------------------------------


def sweep_team(team_id: int) -> Outcome:
    """Bring one team's data up to GitHub's: members, then the repositories that changed."""
    redeliver_failed_webhooks(team_id)
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return _log(Outcome(team_id, "skipped", "the team no longer exists"))
    if not team.sync_jobs.filter(status__in=IMPORTED).exists():
        return _log(Outcome(team_id, "skipped", "nothing was imported yet"))
    running = _active_job(team_id)
    if running is not None:
        return _log(Outcome(team_id, "skipped", f"job {running} is running"))
    if not _take_turn(team_id):
        return _log(Outcome(team_id, "skipped", "another sweep of this team is under way"))
    try:
        return _log(_sweep(team))
    finally:
        _redis().delete(_key("turn", team_id))


def _sweep(team: Team) -> Outcome:
    try:
        token = team_token(team.pk)
    except MissingToken as error:
        return Outcome(team.pk, "skipped", str(error))
    session = Session(token.token)
    repositories = list(
        team.repositories.filter(
            archived=False, deleted_at__isnull=True, untracked_at__isnull=True
        ).order_by("pk")
    )
    try:
        allowance, why = _allowance(session, team)
        detection = math.ceil(len(repositories) / changes.CHANGES_BATCH)
        if detection > allowance:
            return Outcome(team.pk, "deferred", f"needs {detection} points; {why}")
        members_changed = _refresh_members(team, session, token.user_id)
        before = session.points  # the members' REST requests are another budget's
        states = changes.repository_states(session, [r.full_name for r in repositories])
        allowance -= session.points - before
    except BadCredentials:
        return Outcome(team.pk, "failed", "GitHub refused the token: reconnect GitHub")
    except RateLimited as error:
        return Outcome(team.pk, "deferred", f"GitHub's budget is spent until {error.reset_at}")
    except GitHubError as error:
        reason = f"GitHub did not answer the sweep ({error}); the next period tries again"
        return Outcome(team.pk, "failed", reason)
    changed = _changed(repositories, states)
    _remember_pushes(repositories, states)
    outcome = Outcome(team.pk, "unchanged", points=session.points, members_changed=members_changed)
    if not changed:
        return outcome
    return _start(team, changed, outcome, allowance, why)


def _start(
    team: Team, changed: list[TrackedRepository], outcome: Outcome, allowance: int, why: str
) -> Outcome:
    fits = _fitting(len(changed), allowance)
    chosen, later = changed[:fits], [r.pk for r in changed[fits:]]
    if not chosen:
        reason = (
            f"{len(changed)} changed repositories need {_sync_cost(len(changed))} points; {why}"
        )
        return _with(outcome, "deferred", reason, deferred=later)
    try:
        job = services.start_sync(team=team, kind=SyncJob.Kind.SWEEP, repositories=chosen)
    except services.SyncAlreadyRunning as error:
        return _with(outcome, "skipped", f"job {error.job_id} started meanwhile")
    except services.SyncError as error:
        return _with(outcome, "skipped", str(error), deferred=[r.pk for r in changed])
    reason = f"{len(later)} more deferred: {why}" if later else ""
    return _with(
        outcome, "syncing", reason, changed=[r.pk for r in chosen], deferred=later, job_id=job.pk
    )


def _with(outcome: Outcome, status: str, reason: str, **fields: Any) -> Outcome:
    return dataclasses.replace(outcome, status=status, reason=reason, **fields)


def _changed(
    repositories: list[TrackedRepository], states: list[changes.RepositoryState]
) -> list[TrackedRepository]:
    """Return the repositories GitHub changed since their last sync, latest change first."""
    moved: list[tuple[datetime, TrackedRepository]] = []
    for repository, state in zip(repositories, states, strict=True):
        if not state.found:  # gone: the engine's sync marks it deleted, through its one path
            moved.append((timezone.now(), repository))
            continue
        newest = state.newest_pull_at
        pulled = newest is not None and (
            repository.high_water_mark is None or newest > repository.high_water_mark
        )
        pushed = state.pushed_at is not None and (
            repository.pushed_at is None or state.pushed_at > repository.pushed_at
        )
        if pulled or pushed:
            moved.append((max(t for t in (newest, state.pushed_at) if t is not None), repository))
    moved.sort(key=lambda pair: pair[0], reverse=True)
    return [repository for _, repository in moved]


def _remember_pushes(
    repositories: list[TrackedRepository], states: list[changes.RepositoryState]
) -> None:
    """Store each repository's last push as GitHub said it, so that a push counts once."""
    for repository, state in zip(repositories, states, strict=True):
        if state.found and state.pushed_at and state.pushed_at != repository.pushed_at:
            TrackedRepository.objects.filter(pk=repository.pk).update(pushed_at=state.pushed_at)


# -- members ------------------------------------------------------------------------------------


def _refresh_members(team: Team, session: Session, owner_id: int) -> bool:
    """Re-read the members with conditional requests; return whether the list changed."""
    key = _key("members", team.pk)
    stored = _redis().get(key)
    etags = json.loads(stored) if stored else {}
    listing = changes.members_if_changed(session, org=team.github_org_login, etags=etags)
    if listing is None:
        return False
    try:
        sync_members(team=team, session=session, owner_id=owner_id, listed_members=listing.members)
    except OwnerLeft:
        logger.warning("sweep: the token's owner left the organization team=%s", team.pk)
        return True
    _redis().set(key, json.dumps(listing.etags), ex=MEMBER_ETAGS_TTL_S)
    return True


# -- the budget ---------------------------------------------------------------------------------


def _allowance(session: Session, team: Team) -> tuple[int, str]:
    """Return the GraphQL points this sweep may spend, and why not more (for the log)."""
    remaining = _remaining(session)
    share = math.floor(remaining * settings.SWEEP_BUDGET_SHARE)
    needed = _needed_by_imports(session, team)
    spare = remaining - reserve("graphql") - needed
    why = f"the sweep's share is {share} of the {remaining} points left" + (
        f", and imports on the same token need {needed}" if needed else ""
    )
    return max(0, min(share, spare)), why


def _remaining(session: Session) -> int:
    known = session.gate.remaining("graphql")
    if known is None:
        # GitHub: GET /rate_limit costs nothing. https://docs.github.com/rest/rate-limit
        _, data = session.rest_get("/rate_limit")
        session.points -= 1
        graphql = (
            (data.get("resources") or {}).get("graphql") or {} if isinstance(data, dict) else {}
        )
        return int(graphql.get("remaining") or 0)
    return known[0]


def _needed_by_imports(session: Session, team: Team) -> int:
    """Return the points the other teams' unfinished jobs on the same GitHub user still need."""
    needed = 0
    for job in SyncJob.objects.filter(status__in=SyncJob.ACTIVE).exclude(team=team):
        try:
            other = team_token(job.team_id).token
        except MissingToken:
            continue
        if f"{settings.REDIS_PREFIX}:github:{gate_key(token_key(other))}" == session.gate.key:
            needed += _points_left(job)
    return needed


def _points_left(job: SyncJob) -> int:
    repos_left = max(0, job.repos_total - job.repos_done)
    estimate = eta.estimate(job=job, now=timezone.now(), page_size=100, budget=None)
    if not estimate.sized:  # not counted yet: its counting, and two pages a repository
        return math.ceil(repos_left / queries.COUNT_BATCH) + 2 * repos_left
    return math.ceil(estimate.prs_left / 100) * queries.page_cost(100) + repos_left


def _sync_cost(repositories: int) -> int:
    """Return the points an incremental sync of ``repositories`` quiet repositories costs."""
    # Counting (one point a batch), then one small first page each.
    first_page = queries.page_cost(25)
    return math.ceil(repositories / queries.COUNT_BATCH) + repositories * first_page


def _fitting(changed: int, allowance: int) -> int:
    fits = 0
    while fits < changed and _sync_cost(fits + 1) <= allowance:
        fits += 1
    return fits


# -- jobs, turns, webhooks ----------------------------------------------------------------------


def _active_job(team_id: int) -> int | None:
    return (
        SyncJob.objects.filter(team_id=team_id, status__in=SyncJob.ACTIVE)
        .values_list("pk", flat=True)
        .first()
    )


def _take_turn(team_id: int) -> bool:
    return bool(_redis().set(_key("turn", team_id), "1", nx=True, ex=TEAM_TURN_S))


def redeliver_failed_webhooks(team_id: int) -> None:
    """Ask GitHub again for the team's webhook deliveries that failed (``sync.webhooks``)."""
    try:
        webhooks.redeliver_failed(team_id)
    except NotRegistered:
        return  # the team has no organization webhook: the sweep alone keeps it fresh
    except Exception as error:  # the sweep goes on: the deliveries are tried again next period
        logger.warning(
            "sweep: redelivering failed webhooks failed team=%s: %s",
            team_id,
            f"{type(error).__name__}: {error}",
        )


def _log(outcome: Outcome) -> Outcome:
    level = logging.WARNING if outcome.status in ("deferred", "failed") else logging.INFO
    logger.log(
        level,
        "sweep %s team=%s points=%s changed=%s deferred=%s members_changed=%s job=%s%s",
        outcome.status,
        outcome.team_id,
        outcome.points,
        len(outcome.changed),
        len(outcome.deferred),
        outcome.members_changed,
        outcome.job_id,
        f": {outcome.reason}" if outcome.reason else "",
    )
    return outcome


# -- one Redis client per process ---------------------------------------------------------------

_lock = threading.Lock()
_client: tuple[str, redis.Redis] | None = None


def _redis() -> redis.Redis:
    global _client
    with _lock:
        if _client is None or _client[0] != settings.REDIS_URL:
            _client = (
                settings.REDIS_URL,
                redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5),
            )
        return _client[1]


def _key(kind: str, team_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:sweep:{kind}:{team_id}"
