"""Sync state changes with side effects: each one transaction, its messages sent on commit.

Views (onboarding, staff) call these; none of them talks to GitHub, so a request never waits
on GitHub. Refusals are ``SyncError`` subclasses whose message is written for the user.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import dramatiq
import redis
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from sync import actors, progress
from sync.engine import state
from sync.engine import steps as engine_steps
from sync.engine.recent import recent_line
from sync.engine.windows import default_since, window_for
from sync.models import AuditEvent, PullRequest, RepoSync, SyncJob, Team, TrackedRepository

logger = logging.getLogger(__name__)


class SyncError(Exception):
    """A sync request that cannot be honoured; ``str(error)`` is shown to the user."""


class SyncAlreadyRunning(SyncError):
    """The team already has a sync queued or running: ``job_id`` is that job."""

    def __init__(self, job_id: int) -> None:
        super().__init__("An import is already running for this team; follow it or cancel it.")
        self.job_id = job_id


class NothingToSync(SyncError):
    """No repository to sync (none tracked, none failed, or the range is already imported)."""


class JobNotRunning(SyncError):
    """The job already finished, so it cannot be cancelled or resumed."""


class BrokerUnavailable(SyncError):
    """The job queue cannot be reached: nothing was started."""

    def __init__(self) -> None:
        super().__init__("The job queue cannot be reached, so nothing was started; try again.")


@transaction.atomic
def start_sync(
    *,
    team: Team,
    kind: str = SyncJob.Kind.INITIAL,
    requested_by: User | None = None,
    repositories: Sequence[TrackedRepository] | None = None,
    history_since: datetime | None = None,
    extend_to: datetime | None = None,
) -> SyncJob:
    """Create a sync job for ``team`` and queue it.

    ``repositories`` defaults to every tracked, unarchived repository of the team.
    ``history_since`` overrides the history window (default ``SYNC_HISTORY_DAYS``) of initial
    and full syncs; ``extend_to`` is required for ``kind=EXTEND`` and imports only the PRs
    updated between it and what is already imported. A first import stores every repository's
    last ``SYNC_RECENT_DAYS`` before any older page (``sync.engine.recent``). Raise
    SyncAlreadyRunning, NothingToSync or BrokerUnavailable.
    """
    _require_broker()
    _lock_team(team)
    chosen = _chosen_repositories(team, repositories)
    if not chosen:
        raise NothingToSync("No repositories are selected for import.")
    if kind == SyncJob.Kind.EXTEND:
        chosen = _needing_extension(chosen, extend_to)
    default = default_since()
    windows = {
        repo.pk: window_for(
            repo, kind=kind, history_since=history_since, extend_to=extend_to, default=default
        )
        for repo in chosen
    }
    job = _create_job(team, kind, requested_by, len(chosen))
    RepoSync.objects.bulk_create(
        RepoSync(
            job=job, repository=repo, since=windows[repo.pk].since, until=windows[repo.pk].until
        )
        for repo in chosen
    )
    sinces = [w.since for w in windows.values() if w.since is not None]
    untils = [w.until for w in windows.values() if w.until is not None]
    SyncJob.objects.filter(pk=job.pk).update(
        history_since=min(sinces, default=None),
        history_until=max(untils, default=None),
        recent_since=recent_line(kind),
    )
    _audit(requested_by, team, f"sync.{kind}", {"job": job.pk, "repositories": len(chosen)})
    _enqueue(lambda: actors.start_sync_job.send(job.pk))
    progress.job_changed(job.pk, urgent=True)
    logger.info("sync queued team=%s job=%s kind=%s repos=%s", team.pk, job.pk, kind, len(chosen))
    job.refresh_from_db()
    return job


@transaction.atomic
def cancel_job(*, job: SyncJob, by: User | None = None) -> SyncJob:
    """Cancel a queued or running job; pages in flight stop at their next checkpoint."""
    changed = state.job_cancelled(job.pk)
    if not changed:
        raise JobNotRunning("This import already finished.")
    _audit(by, job.team, "sync.cancel", {"job": job.pk})
    logger.info("sync cancelled job=%s", job.pk)
    job.refresh_from_db()
    return job


def retry_failed_repositories(*, job: SyncJob, by: User | None = None) -> SyncJob:
    """Start a new job for the repositories that failed in ``job``, resuming where they stopped."""
    return _retry(job, by)


@transaction.atomic
def _retry(job: SyncJob, by: User | None) -> SyncJob:
    _require_broker()
    _lock_team(job.team)
    failed = list(
        job.repo_syncs.filter(status=RepoSync.Status.FAILED)
        .select_related("repository")
        .order_by("pk")
    )
    if not failed:
        raise NothingToSync("No repository of this import failed.")
    retry = _create_job(job.team, SyncJob.Kind.RETRY, by, len(failed))
    RepoSync.objects.bulk_create(
        RepoSync(
            job=retry,
            repository=old.repository,
            since=old.since,
            until=old.until,
            cursor=old.cursor,
            newest_seen=old.newest_seen,
            oldest_seen=old.oldest_seen,
        )
        for old in failed
    )
    SyncJob.objects.filter(pk=retry.pk).update(
        history_since=job.history_since, history_until=job.history_until
    )
    _audit(by, job.team, "sync.retry_failed", {"job": job.pk, "retry": retry.pk})
    _enqueue(lambda: actors.start_sync_job.send(retry.pk))
    progress.job_changed(retry.pk, urgent=True)
    retry.refresh_from_db()
    return retry


def resync_repository(*, repository: TrackedRepository, by: User | None = None) -> SyncJob:
    """Re-import one repository's whole imported range, ignoring its high-water mark."""
    return start_sync(
        team=repository.team,
        kind=SyncJob.Kind.FULL,
        requested_by=by,
        repositories=[repository],
    )


@transaction.atomic
def resume_job(*, job: SyncJob, by: User | None = None) -> SyncJob:
    """Send the next page of every open repository again (a job whose worker died).

    Safe while the original messages still exist: a page is written once, whoever gets it.
    """
    _require_broker()
    job = SyncJob.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        raise JobNotRunning("This import already finished.")
    if job.status == SyncJob.Status.QUEUED:
        _enqueue(lambda: actors.start_sync_job.send(job.pk))
    else:
        started = job.repo_syncs.exclude(status__in=RepoSync.FINISHED).filter(
            dispatched_page__gte=0
        )
        for repo_sync in started:
            _enqueue(_page_sender(repo_sync.pk, repo_sync.pages_done))
        # The step that starts the next repositories may be what was lost.
        _enqueue(lambda: actors.send_steps([engine_steps.StartNext(job.pk)]))
    # Sending is not progress: the page goes on saying what it sees (a stall, no worker) until
    # a worker writes a page, and shows when the job was sent again.
    state.bump_job(job.pk, resumed_at=timezone.now())
    progress.job_changed(job.pk, urgent=True)
    _audit(by, job.team, "sync.resume", {"job": job.pk})
    job.refresh_from_db()
    return job


@transaction.atomic
def resume_after_reconnect(*, team: Team) -> SyncJob | None:
    """Reopen the team's last job where GitHub access was what stopped repositories.

    Called when the team's GitHub token works again: the repositories that failed because the
    token was revoked (or SSO was not authorized) go on where they stopped, on the same job,
    and the others keep their outcome. Return the job, or None when there was nothing to resume.
    """
    try:
        _lock_team(team)
    except SyncAlreadyRunning:
        return None  # an import is running: it already has a working token
    job = team.sync_jobs.order_by("-created_at", "-pk").first()
    if job is None or job.status not in (SyncJob.Status.FAILED, SyncJob.Status.PARTIAL):
        return None
    reopened = state.job_reopened(job.pk, codes=progress.RECONNECT_CODES)
    if not reopened:
        return None
    _enqueue(lambda: actors.send_steps([engine_steps.StartNext(job.pk)]))
    logger.info("resumed after reconnect team=%s job=%s repos=%s", team.pk, job.pk, reopened)
    job.refresh_from_db()
    return job


def sync_members(*, team: Team) -> None:
    """Import the team's organization members in the background (best effort, on commit)."""
    transaction.on_commit(lambda: actors.sync_team_members.send(team.pk), robust=True)


# -- helpers ---------------------------------------------------------------------------------------


def ping_broker() -> None:
    """Ping the job queue's Redis once, failing within seconds when it is down.

    The broker's own client rides through a Redis restart by retrying for up to 15 s
    (settings.BROKER_REDIS_RETRY); a page and a readiness probe must answer sooner, so the
    ping goes over a connection of its own to the same server, without retries.
    """
    broker_pool = dramatiq.get_broker().client.connection_pool  # type: ignore[attr-defined]
    options = {
        **broker_pool.connection_kwargs,
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        "retry": None,
        "retry_on_error": [],
    }
    pool = redis.ConnectionPool(connection_class=broker_pool.connection_class, **options)
    try:
        redis.Redis(connection_pool=pool).ping()
    finally:
        pool.disconnect()


class RepositoryBusy(SyncError):
    """An import of the repository is running: it cannot be removed until that ends."""


@dataclass(frozen=True)
class RemovedRepository:
    full_name: str
    kept_data: bool
    pull_requests: int  # the pull requests kept, or deleted


@transaction.atomic
def remove_repository(
    *, repository: TrackedRepository, keep_data: bool, by: User | None = None
) -> RemovedRepository:
    """Stop tracking ``repository``: keep its imported data (hidden) or delete it.

    Kept data stays in the database with the repository marked untracked, so choosing the
    repository again resumes from what was imported; deleting removes the repository with its
    pull requests, reviews and commits. Raise RepositoryBusy while an import of it runs.
    """
    team = repository.team
    Team.objects.select_for_update().filter(pk=team.pk).first()  # one change per team at once
    running = RepoSync.objects.filter(
        repository=repository, job__status__in=SyncJob.ACTIVE
    ).exclude(status__in=RepoSync.FINISHED)
    if running.exists():
        raise RepositoryBusy(
            f"An import of {repository.full_name} is running; cancel it or wait until it ends, "
            "then remove the repository."
        )
    pulls = PullRequest.objects.filter(repository=repository).count()
    if keep_data:
        TrackedRepository.objects.filter(pk=repository.pk).update(untracked_at=timezone.now())
    else:
        repository.delete()  # its pull requests, reviews, commits and sync rows go with it
    params = {"repository": repository.full_name, "keep_data": keep_data, "pull_requests": pulls}
    _audit(by, team, "repository.remove", params)
    logger.info(
        "repository removed team=%s repository=%s keep_data=%s pull_requests=%s",
        team.pk,
        repository.full_name,
        keep_data,
        pulls,
    )
    return RemovedRepository(repository.full_name, keep_data, pulls)


def _require_broker() -> None:
    try:
        ping_broker()
    except Exception as error:
        logger.error("job queue unreachable: %s", type(error).__name__)
        raise BrokerUnavailable() from error


def _lock_team(team: Team) -> None:
    """Serialise job creation per team, then refuse a second active job."""
    Team.objects.select_for_update().filter(pk=team.pk).first()
    active = SyncJob.objects.filter(team=team, status__in=SyncJob.ACTIVE).first()
    if active is not None:
        raise SyncAlreadyRunning(active.pk)


def _chosen_repositories(
    team: Team, repositories: Sequence[TrackedRepository] | None
) -> list[TrackedRepository]:
    """Read the chosen repositories afresh (their watermarks decide the windows)."""
    found = team.repositories.filter(untracked_at__isnull=True).order_by("full_name")
    if repositories is None:
        return list(found.filter(archived=False))
    return list(found.filter(pk__in=[repository.pk for repository in repositories]))


def _needing_extension(
    repositories: list[TrackedRepository], extend_to: datetime | None
) -> list[TrackedRepository]:
    if extend_to is None:
        raise NothingToSync("Choose the date to extend the history to.")
    older = [r for r in repositories if r.synced_until is None or extend_to < r.synced_until]
    if not older:
        raise NothingToSync("The history is already imported back to that date.")
    return older


def _create_job(team: Team, kind: str, requested_by: User | None, repos: int) -> SyncJob:
    try:
        with transaction.atomic():
            return SyncJob.objects.create(
                team=team, kind=kind, requested_by=requested_by, repos_total=repos
            )
    except IntegrityError as error:  # one_active_sync_per_team: another request won
        active = SyncJob.objects.filter(team=team, status__in=SyncJob.ACTIVE).first()
        raise SyncAlreadyRunning(active.pk if active else 0) from error


def _enqueue(send: object) -> None:
    transaction.on_commit(send, robust=True)  # type: ignore[arg-type]


def _page_sender(repo_sync_id: int, page: int) -> object:
    return lambda: actors.sync_repository_page.send(repo_sync_id, page)


def _audit(actor: User | None, team: Team, action: str, params: dict[str, object]) -> None:
    if actor is not None:
        AuditEvent.objects.create(actor=actor, team=team, action=action, params=params)
