"""One page of one repository: fetch it from GitHub, write it with its checkpoint, say what next.

A page message carries the page number it expects (``RepoSync.pages_done``). The page's rows
and its checkpoint commit in one transaction that first re-checks that number under a row
lock, so a redelivered or duplicated message never writes a page twice and never starts a
second chain; a message for a page already done restarts the chain only if the next message
may have been lost (``dispatched_page``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max
from django.utils import timezone

from sync import memberships, progress
from sync.engine import adaptive, eta, members, recent, state
from sync.engine.steps import SendPage, Step
from sync.engine.tokens import MissingToken, team_token
from sync.engine.writes import (
    MemberIndex,
    mark_deleted_pulls,
    mark_repository_deleted,
    save_pulls,
)
from sync.github import org as github_org
from sync.github import pulls as github_pulls
from sync.github.client import Session
from sync.github.errors import (
    BadCredentials,
    Busy,
    GitHubError,
    RateLimited,
    RepositoryGone,
    RepositoryUnavailable,
    Timeout,
    Transient,
)
from sync.github.pulls import PullRequestData, Skipped
from sync.models import PullRequest, RepoSync, SyncJob, TrackedRepository

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
# GitHub's cost is 1 point up to 50 pull requests a page and 2 up to 100, so a first page (or
# the last of a repository) takes 50 and pages in between take 100.
ONE_POINT_PAGE = 50
# An incremental sync usually finds a handful of changes: a small first page answers faster.
INCREMENTAL_FIRST_PAGE = 25
SKIPPED_DETAIL_MAX = 50


@dataclass
class Fetched:
    """What one page brought back, ready to be written."""

    pulls: list[PullRequestData]
    skipped: list[Skipped]
    cursor: str
    done: bool
    total: int | None
    newest: datetime | None
    oldest: datetime | None
    points: int


class Stopped(Exception):
    """The job or the repository finished (a cancel) while the page was being fetched."""


def page_size() -> int:
    return int(getattr(settings, "SYNC_PAGE_SIZE", DEFAULT_PAGE_SIZE))


def sync_page(repo_sync_id: int, *, page: int) -> list[Step]:
    """Sync page ``page`` of a repository sync; return the messages to send next."""
    repo_sync = (
        RepoSync.objects.select_related("job__team", "repository").filter(pk=repo_sync_id).first()
    )
    if repo_sync is None or repo_sync.is_finished or repo_sync.job.is_finished:
        return []
    if page != repo_sync.pages_done:
        return _stale(repo_sync, page)
    try:
        token = team_token(repo_sync.job.team_id)
    except MissingToken as error:
        state.job_failed(repo_sync.job_id, code=error.code, message=str(error))
        return []
    session = Session(token.token)
    try:
        fetched = _fetch(session, repo_sync, page)
    except Stopped:
        return []
    except BadCredentials:
        if _token_replaced(repo_sync.job.team_id, token.token):
            return [SendPage(repo_sync_id, page)]  # again, with the team's new token
        state.job_failed(repo_sync.job_id, code="token_revoked", message=state.REVOKED)
        return []
    except RateLimited as error:
        return state.repo_waiting(repo_sync_id, page=page, reset_at=error.reset_at)
    except Busy as error:
        return [SendPage(repo_sync_id, page, delay_ms=int((error.retry_after or 1) * 1000))]
    except Timeout as error:
        first = adaptive.capped(repo_sync, _page_size_for(repo_sync, page))
        return adaptive.timed_out(repo_sync_id, page=page, first=first, error=error)
    except Transient as error:
        return state.repo_retrying(repo_sync_id, page=page, error=error)
    except RepositoryUnavailable as error:
        if _owner_left(session, repo_sync, token.user_id):
            return [SendPage(repo_sync_id, page)]  # again, on a remaining member's token
        if isinstance(error, RepositoryGone):
            mark_repository_deleted(repo_sync.repository_id)
        return state.repo_failed(repo_sync_id, code=error.code, message=str(error))
    except GitHubError as error:
        return state.repo_failed(repo_sync_id, code="github_error", message=str(error))
    return _checkpoint(repo_sync, page, fetched, session.points, session.gate.remaining("graphql"))


def _token_replaced(team_id: int, used: str) -> bool:
    """Whether the team's token changed since ``used`` was read (reconnected meanwhile).

    A page that began before a reconnect and meets the old token's revocation after it says
    nothing about the job: the job goes on with the new token.
    """
    try:
        return team_token(team_id).token != used
    except MissingToken:
        return False


def _owner_left(session: Session, repo_sync: RepoSync, owner_id: int) -> bool:
    """Ask GitHub whether a 404/403 means the token's owner left the organization.

    When they did, they lose the team (``sync.memberships``) and the next token is another's.
    """
    team = repo_sync.job.team
    try:
        if github_org.is_active_member(session, org=team.github_org_login):
            return False
    except GitHubError as error:
        logger.info("membership unknown job=%s: %s", repo_sync.job_id, type(error).__name__)
        return False
    memberships.remove_departed(team=team, user_ids=[owner_id], reason=members.LEFT)
    logger.warning("token owner left job=%s team=%s", repo_sync.job_id, team.pk)
    return True


def note_dispatched(repo_sync_id: int, *, page: int) -> None:
    """Record that a message for ``page`` was sent (after sending it).

    A repository waiting for its turn (-1) keeps waiting: the page may have run and given its
    turn back before this note, and only ``state.start_next_repositories`` starts it again.
    """
    RepoSync.objects.filter(
        pk=repo_sync_id, dispatched_page__gte=0, dispatched_page__lt=page
    ).update(dispatched_page=page)


def _stale(repo_sync: RepoSync, page: int) -> list[Step]:
    if repo_sync.status == RepoSync.Status.QUEUED and repo_sync.dispatched_page < 0:
        return []  # waiting for its turn: starting it is state.start_next_repositories' job
    if page < repo_sync.pages_done and repo_sync.dispatched_page < repo_sync.pages_done:
        # This page was written but the message for the next one may never have been sent.
        logger.info("restarting chain repo_sync=%s page=%s", repo_sync.pk, repo_sync.pages_done)
        return [SendPage(repo_sync.pk, repo_sync.pages_done)]
    return []


# -- fetching ------------------------------------------------------------------------------------


def _fetch(session: Session, repo_sync: RepoSync, page: int) -> Fetched:
    owner, name = repo_sync.repository.full_name.split("/", 1)
    if _walking_past_newer(repo_sync):
        return _fetch_times(session, repo_sync, owner, name)
    first = adaptive.capped(repo_sync, _page_size_for(repo_sync, page))
    reviews, commits = adaptive.nested_sizes(repo_sync, page_size())
    result = github_pulls.fetch_pull_requests(
        session,
        owner=owner,
        name=name,
        first=first,
        after=repo_sync.cursor or None,
        reviews=reviews,
        commits=commits,
    )
    times = [pull.updated_at for pull in result.pulls]
    since, until = repo_sync.since, repo_sync.until
    wanted = [
        pull
        for pull in result.pulls
        if (since is None or pull.updated_at >= since)
        and (until is None or pull.updated_at <= until)
    ]
    skipped = list(result.skipped)
    incomplete = _incomplete(repo_sync, wanted)
    if incomplete and _stopped(repo_sync):
        raise Stopped()
    for pull in incomplete:
        skipped += github_pulls.complete_pull_request(session, owner=owner, name=name, pull=pull)
    past_window = since is not None and any(t < since for t in times)
    return Fetched(
        pulls=wanted,
        skipped=skipped,
        cursor=result.end_cursor or repo_sync.cursor,
        done=past_window or not result.has_next,
        total=result.total_count,
        newest=max(times, default=None),
        oldest=min(times, default=None),
        points=result.cost,
    )


def _stopped(repo_sync: RepoSync) -> bool:
    """Whether the repository's sync was cancelled since its page began (before follow-ups)."""
    status = RepoSync.objects.filter(pk=repo_sync.pk).values_list("status", flat=True).first()
    return status is None or status in RepoSync.FINISHED


def _page_size_for(repo_sync: RepoSync, page: int) -> int:
    most = page_size()
    if page == 0 and repo_sync.job.kind in SyncJob.INCREMENTAL_KINDS:
        return min(most, INCREMENTAL_FIRST_PAGE)
    recent_size = _recent_page_size(repo_sync) if page == 0 else None
    if recent_size is not None:
        return min(most, recent_size)
    if page == 0 or eta.prs_left(repo_sync) <= ONE_POINT_PAGE:
        return min(most, ONE_POINT_PAGE)
    return most


def _recent_page_size(repo_sync: RepoSync) -> int | None:
    """Return a recent phase's first page: its counted recent pull requests and one more.

    The one more reaches past the line (``recent.reached``), so that page records the
    repository's recent window; None when there is no recent phase or no count.
    """
    counted = repo_sync.recent_expected
    if repo_sync.job.recent_since is None or repo_sync.recent_done_at is not None:
        return None
    if counted is None:
        return None
    return max(1, min(ONE_POINT_PAGE, counted + 1))


def _incomplete(repo_sync: RepoSync, pulls: list[PullRequestData]) -> list[PullRequestData]:
    """Return the pulls whose cut-short reviews or commits must be fetched.

    A PR already stored complete with the same update time has nothing new (a review or a
    commit updates the PR), so a re-read overlap costs no follow-up; a full resync re-reads all.
    """
    cut = [pull for pull in pulls if github_pulls.needs_follow_up(pull)]
    if not cut or repo_sync.job.kind == SyncJob.Kind.FULL:
        return cut
    stored = {
        row["github_id"]: row
        for row in PullRequest.objects.filter(github_id__in=[p.github_id for p in cut])
        .annotate(
            reviews_n=Count("reviews", distinct=True), commits_n=Count("commits", distinct=True)
        )
        .values("github_id", "updated_at", "reviews_n", "commits_n")
    }
    return [pull for pull in cut if not _stored_complete(pull, stored.get(pull.github_id))]


def _stored_complete(pull: PullRequestData, row: Mapping[str, Any] | None) -> bool:
    return (
        row is not None
        and row["updated_at"] == pull.updated_at
        and row["reviews_n"] >= pull.reviews_total
        and row["commits_n"] >= pull.commits_total
    )


def _walking_past_newer(repo_sync: RepoSync) -> bool:
    """Whether an "extend history" sync is still before its range (newer PRs are skipped)."""
    if repo_sync.until is None:
        return False
    return repo_sync.oldest_seen is None or repo_sync.oldest_seen > repo_sync.until


def _fetch_times(session: Session, repo_sync: RepoSync, owner: str, name: str) -> Fetched:
    result = github_pulls.fetch_pull_request_times(
        session, owner=owner, name=name, first=100, after=repo_sync.cursor or None
    )
    assert repo_sync.until is not None
    cursor, oldest = result.end_cursor or repo_sync.cursor, None
    previous = repo_sync.cursor
    for entry_cursor, updated_at in result.entries:
        if updated_at <= repo_sync.until:
            cursor, oldest = previous, updated_at  # the next page starts at this entry
            break
        previous, oldest = entry_cursor, updated_at
    reached = oldest is not None and oldest <= repo_sync.until
    return Fetched(
        pulls=[],
        skipped=[],
        cursor=cursor,
        done=not reached and not result.has_next,
        total=result.total_count,
        newest=None,
        oldest=oldest,
        points=result.cost,
    )


# -- the checkpoint -----------------------------------------------------------------------------


@transaction.atomic
def _checkpoint(
    repo_sync: RepoSync,
    page: int,
    fetched: Fetched,
    points: int,
    budget: tuple[int, datetime] | None,
) -> list[Step]:
    locked = state.lock_repo(repo_sync.pk)
    if locked is None or locked.pages_done != page:
        return []  # cancelled, failed, or another delivery of this message got here first
    written = save_pulls(
        repository=repo_sync.repository,
        pulls=fetched.pulls,
        members=MemberIndex(locked.job.team_id),
    )
    now = timezone.now()
    status = RepoSync.Status.SUCCEEDED if fetched.done else RepoSync.Status.RUNNING
    turn = _recent_turn(locked, fetched, now)
    if turn.get("dispatched_page") == -1:
        status = RepoSync.Status.QUEUED  # its recent pages are stored: others go first
    state.bump_repo(
        locked.pk,
        status=status,
        cursor=fetched.cursor or "",
        pages_done=F("pages_done") + 1,
        prs_total=fetched.total if fetched.total is not None else locked.prs_total,
        prs_synced=F("prs_synced") + written.pull_requests,
        reviews_synced=F("reviews_synced") + written.reviews,
        commits_synced=F("commits_synced") + written.commits,
        items_skipped=F("items_skipped") + len(fetched.skipped),
        skipped_detail=_skipped_detail(locked, fetched.skipped),
        attempts=0,
        retry_at=None,
        **({"error_code": "", "error_message": ""} | _adapted(locked, fetched)),
        started_at=locked.started_at or now,
        finished_at=now if fetched.done else None,
        newest_seen=_newest(locked.newest_seen, fetched.newest),
        oldest_seen=_oldest(locked.oldest_seen, fetched.oldest),
        **turn,
    )
    if fetched.done:
        _advance_watermarks(locked, fetched)
        _mark_deleted(locked, fetched)
    job = locked.job
    paused_until = _paused_until(locked, now)
    job_status = SyncJob.Status.WAITING if paused_until else SyncJob.Status.RUNNING
    state.bump_job(
        job.pk,
        status=job_status,
        rate_limit_reset_at=paused_until,
        heartbeat_at=now,
        prs_synced=F("prs_synced") + written.pull_requests,
        reviews_synced=F("reviews_synced") + written.reviews,
        commits_synced=F("commits_synced") + written.commits,
        repos_done=F("repos_done") + (1 if fetched.done else 0),
        github_points=F("github_points") + points,
        **state.progress_changes(job, budget=budget, page_size=page_size()),
    )
    if turn:
        recent.note_ready(job.pk, now=now)
    urgent = fetched.done or job.status != job_status or locked.status != status
    progress.job_changed(job.pk, urgent=urgent)
    if fetched.done or status == RepoSync.Status.QUEUED:
        return state.finish_if_done(job.pk)
    return [SendPage(locked.pk, page + 1)]


def _recent_turn(locked: RepoSync, fetched: Fetched, now: datetime) -> dict[str, object]:
    """Return the fields to write when this page completes the repository's recent window.

    The repository gives its turn back (queued again, its cursor kept) while another one still
    waits for its recent pages (``sync.engine.recent``).
    """
    line = locked.job.recent_since
    if locked.recent_done_at is not None:
        return {}
    if not recent.reached(line, oldest=fetched.oldest, done=fetched.done):
        return {}
    if fetched.done or not recent.others_waiting(locked):
        return {"recent_done_at": now}
    return {"recent_done_at": now, "dispatched_page": -1}


def _adapted(repo_sync: RepoSync, fetched: Fetched) -> dict[str, object]:
    return {} if fetched.done else adaptive.after_success(repo_sync, page_size())


def _paused_until(repo_sync: RepoSync, now: datetime) -> datetime | None:
    """Return when the job's other repositories resume, if GitHub's rate limit still holds them.

    A page answered just before the budget ran out may land after they paused: the job stays
    paused (with its banner) rather than showing an import that is not happening.
    """
    waiting = RepoSync.objects.filter(
        job_id=repo_sync.job_id, status=RepoSync.Status.WAITING, retry_at__gt=now
    ).exclude(pk=repo_sync.pk)
    return waiting.aggregate(until=Max("retry_at"))["until"]


def _advance_watermarks(repo_sync: RepoSync, fetched: Fetched) -> None:
    """Record the imported range on the repository once a sync of it is complete."""
    repository = TrackedRepository.objects.select_for_update().get(pk=repo_sync.repository_id)
    newest = _newest(repo_sync.newest_seen, fetched.newest)
    changes: dict[str, object] = {}
    if repo_sync.until is None and newest is not None:
        changes["high_water_mark"] = _newest(repository.high_water_mark, newest)
    if repo_sync.since is not None:
        changes["synced_until"] = _oldest(repository.synced_until, repo_sync.since)
    if changes:
        TrackedRepository.objects.filter(pk=repository.pk).update(**changes)


def _mark_deleted(repo_sync: RepoSync, fetched: Fetched) -> None:
    """After a complete walk from the newest PR, mark the stored PRs GitHub no longer has."""
    if repo_sync.until is not None or repo_sync.items_skipped or fetched.skipped:
        return  # an "extend history" range, or an item we could not read: proves nothing
    if repo_sync.job.kind == SyncJob.Kind.RETRY:
        return  # resumed from an earlier job's cursor: the PRs before it were not re-read
    mark_deleted_pulls(
        repository=repo_sync.repository, since=repo_sync.since, seen_from=repo_sync.job.created_at
    )


def _skipped_detail(locked: RepoSync, skipped: list[Skipped]) -> list[dict[str, str]]:
    detail = list(locked.skipped_detail or [])
    detail += [{"item": s.item, "reason": s.reason} for s in skipped]
    return detail[-SKIPPED_DETAIL_MAX:]


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def _oldest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)
