"""State changes of jobs and repository syncs: written, versioned, then published after commit.

Every write bumps the row's ``version`` in the same statement and asks
:func:`sync.progress.job_changed` to publish the job once the transaction commits. Lock order
is always repository syncs before their job, so concurrent pages and a cancel cannot deadlock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from sync import freshness, notifications, progress
from sync.engine import eta, recent
from sync.engine.steps import FinishJob, SendPage, StartNext, Step
from sync.github.errors import Transient
from sync.models import Integration, PullRequest, RepoSync, SyncJob

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BACKOFF_BASE_S = 2
BACKOFF_MAX_S = 120
REVOKED = "GitHub access was revoked: reconnect"
UNFINISHED_REPO = (
    RepoSync.Status.QUEUED,
    RepoSync.Status.RUNNING,
    RepoSync.Status.WAITING,
    RepoSync.Status.RETRYING,
)


def bump_job(job_id: int, **changes: object) -> int:
    """Update an unfinished job's row and its version; return the rows changed (0 or 1)."""
    return (
        SyncJob.objects.filter(pk=job_id)
        .exclude(status__in=SyncJob.FINISHED)
        .update(version=F("version") + 1, **changes)
    )


def bump_repo(repo_sync_id: int, **changes: object) -> int:
    """Update an unfinished repository sync's row and its version."""
    return (
        RepoSync.objects.filter(pk=repo_sync_id)
        .exclude(status__in=RepoSync.FINISHED)
        .update(version=F("version") + 1, **changes)
    )


def progress_changes(
    job: SyncJob, *, budget: tuple[int, datetime] | None = None, page_size: int = 100
) -> dict[str, object]:
    """Return the job's progress fields, estimated afresh from its repositories' rows.

    The percent is written through ``Greatest``, so concurrent pages never move it back.
    """
    now = timezone.now()
    estimate = eta.estimate(job=job, now=now, page_size=page_size, budget=budget)
    return {
        "prs_total": estimate.prs_expected,
        "percent": Greatest(F("percent"), estimate.percent),
        "eta_seconds": estimate.seconds,
        "eta_at": now if estimate.seconds is not None else None,
    }


def lock_repo(repo_sync_id: int) -> RepoSync | None:
    """Lock an unfinished repository sync of an unfinished job for this transaction."""
    repo_sync = (
        RepoSync.objects.select_for_update(of=("self",))
        .select_related("job")
        .filter(pk=repo_sync_id)
        .first()
    )
    if repo_sync is None or repo_sync.is_finished or repo_sync.job.is_finished:
        return None
    return repo_sync


def backoff_s(attempt: int) -> int:
    return min(BACKOFF_BASE_S * 2 ** (attempt - 1), BACKOFF_MAX_S)


@transaction.atomic
def repo_waiting(repo_sync_id: int, *, page: int, reset_at: datetime) -> list[Step]:
    """Pause a repository until GitHub's budget resets; the job shows the resume time."""
    repo_sync = lock_repo(repo_sync_id)
    if repo_sync is None or repo_sync.pages_done != page:
        return []
    changed = repo_sync.status != RepoSync.Status.WAITING or repo_sync.retry_at != reset_at
    if changed:
        bump_repo(repo_sync_id, status=RepoSync.Status.WAITING, retry_at=reset_at)
        job = repo_sync.job
        if job.status != SyncJob.Status.WAITING or job.rate_limit_reset_at != reset_at:
            bump_job(
                job.pk,
                status=SyncJob.Status.WAITING,
                rate_limit_reset_at=reset_at,
                **progress_changes(job, budget=(0, reset_at)),
            )
        progress.job_changed(job.pk, urgent=True)
    delay = max(0.0, (reset_at - timezone.now()).total_seconds()) + 1
    logger.info(
        "rate limited job=%s repo_sync=%s until=%s", repo_sync.job_id, repo_sync_id, reset_at
    )
    return [SendPage(repo_sync_id, page, delay_ms=int(delay * 1000))]


@transaction.atomic
def repo_retrying(repo_sync_id: int, *, page: int, error: BaseException) -> list[Step]:
    """Schedule another attempt at a page with backoff, or fail the repository after the last."""
    repo_sync = lock_repo(repo_sync_id)
    if repo_sync is None or repo_sync.pages_done != page:
        return []
    attempt = repo_sync.attempts + 1
    if attempt > MAX_ATTEMPTS:
        return _fail_locked(repo_sync, "github_unavailable", f"{_describe(error)}; gave up")
    retry_after = getattr(error, "retry_after", None) or 0
    delay = max(int(retry_after + 0.999), backoff_s(attempt))
    message = f"{_describe(error)}: retrying in {delay} s (attempt {attempt} of {MAX_ATTEMPTS})"
    bump_repo(
        repo_sync_id,
        status=RepoSync.Status.RETRYING,
        attempts=attempt,
        retry_at=timezone.now() + timedelta(seconds=delay),
        error_code="secondary_rate_limit" if "secondary" in message else "transient",
        error_message=message[:1000],
    )
    bump_job(repo_sync.job_id, heartbeat_at=timezone.now())
    progress.job_changed(repo_sync.job_id, urgent=True)
    logger.warning("retrying job=%s repo_sync=%s: %s", repo_sync.job_id, repo_sync_id, message)
    return [SendPage(repo_sync_id, page, delay_ms=delay * 1000)]


@transaction.atomic
def repo_failed(repo_sync_id: int, *, code: str, message: str) -> list[Step]:
    """Fail one repository with its reason; the others go on."""
    repo_sync = lock_repo(repo_sync_id)
    if repo_sync is None:
        return []
    return _fail_locked(repo_sync, code, message)


def _fail_locked(repo_sync: RepoSync, code: str, message: str) -> list[Step]:
    now = timezone.now()
    bump_repo(
        repo_sync.pk,
        status=RepoSync.Status.FAILED,
        error_code=code,
        error_message=message[:1000],
        retry_at=None,
        finished_at=now,
    )
    bump_job(
        repo_sync.job_id,
        repos_done=F("repos_done") + 1,
        heartbeat_at=now,
        **progress_changes(repo_sync.job),
    )
    if repo_sync.job.recent_since is not None:
        recent.note_ready(repo_sync.job_id, now=now)  # it will not get further: no one waits on it
    progress.job_changed(repo_sync.job_id, urgent=True)
    logger.warning(
        "repository failed job=%s repo_sync=%s code=%s: %s",
        repo_sync.job_id,
        repo_sync.pk,
        code,
        message,
    )
    return finish_if_done(repo_sync.job_id)


def finish_if_done(job_id: int) -> list[Step]:
    """Ask for the next repositories while some are open, else for the job's finish (call
    after the job row is written)."""
    left = RepoSync.objects.filter(job_id=job_id, status__in=UNFINISHED_REPO).exists()
    return [StartNext(job_id)] if left else [FinishJob(job_id)]


# Whose turn it is in a first import with a recent phase (sync.engine.recent): repositories
# short of the line first, then those past it; in each, the most pull requests left first, so
# that neither phase ends waiting on one big repository started last. Other syncs: in order.
_PAST_LINE = Case(When(recent_done_at__isnull=True, then=Value(0)), default=Value(1))
_RECENT_FIRST = (_PAST_LINE.asc(), (F("prs_expected") - F("prs_synced")).desc(nulls_last=True))


def _turn_order(job_id: int) -> tuple[Any, ...]:
    if SyncJob.objects.filter(pk=job_id, recent_since__isnull=False).exists():
        return (*_RECENT_FIRST, "pk")
    return ("pk",)


def start_next_repositories(job_id: int) -> list[Step]:
    """Claim the first pages of waiting repositories, up to ``SYNC_REPOS_IN_FLIGHT`` a job.

    A job takes its repositories a few at a time, so the queue holds a few chains of pages per
    job and the imports of many teams take turns: one organization's hundreds of repositories
    would otherwise stand in front of every other team's first page. Each claim is a
    conditional update of its own (outside any other transaction, so no lock order to keep):
    two repositories finishing at once never start the same one twice, and at worst start one
    more than the limit.
    """
    repos = RepoSync.objects.filter(job_id=job_id, status__in=UNFINISHED_REPO)
    room = settings.SYNC_REPOS_IN_FLIGHT - repos.filter(dispatched_page__gte=0).count()
    waiting = repos.filter(status=RepoSync.Status.QUEUED, dispatched_page__lt=0).order_by(
        *_turn_order(job_id)
    )
    claimed: list[Step] = []
    # A repository reopened after a reconnect goes on from the page it stopped at.
    for repo_sync_id, page in waiting.values_list("pk", "pages_done")[: max(room, 0)]:
        if RepoSync.objects.filter(pk=repo_sync_id, dispatched_page__lt=0).update(
            dispatched_page=page
        ):
            claimed.append(SendPage(repo_sync_id, page))
    return claimed


@transaction.atomic
def job_failed(job_id: int, *, code: str, message: str) -> None:
    """Fail the whole job at once (the token is gone): every open repository stops with it."""
    now = timezone.now()
    open_repos = RepoSync.objects.filter(job_id=job_id, status__in=UNFINISHED_REPO)
    open_repos.update(
        status=RepoSync.Status.FAILED,
        error_code=code,
        error_message=message,
        retry_at=None,
        finished_at=now,
        version=F("version") + 1,
    )
    changed = bump_job(
        job_id,
        status=SyncJob.Status.FAILED,
        error_code=code,
        error_message=message,
        finished_at=now,
        eta_seconds=None,
        rate_limit_reset_at=None,
        repos_done=F("repos_total"),
    )
    if not changed:
        return
    if code == "token_revoked":
        team_id = SyncJob.objects.values_list("team_id", flat=True).get(pk=job_id)
        Integration.objects.filter(team_id=team_id, provider="github").update(
            status=Integration.Status.REVOKED, status_detail=message, updated_at=now
        )
    progress.job_changed(job_id, urgent=True)
    transaction.on_commit(lambda: notifications.enqueue_sync_notice(job_id), robust=True)  # Slack
    logger.warning("job failed job=%s code=%s: %s", job_id, code, message)


@transaction.atomic
def job_cancelled(job_id: int) -> bool:
    """Cancel an unfinished job and its open repositories; pages in flight stop at their
    checkpoint. Return whether the job was still unfinished."""
    now = timezone.now()
    RepoSync.objects.filter(job_id=job_id).exclude(status__in=RepoSync.FINISHED).update(
        status=RepoSync.Status.CANCELLED, retry_at=None, finished_at=now, version=F("version") + 1
    )
    changed = bump_job(
        job_id,
        status=SyncJob.Status.CANCELLED,
        finished_at=now,
        eta_seconds=None,
        rate_limit_reset_at=None,
    )
    if changed:
        progress.job_changed(job_id, urgent=True)
    return bool(changed)


@transaction.atomic
def job_reopened(job_id: int, *, codes: frozenset[str]) -> int:
    """Reopen a failed or partial job's repositories that failed with one of ``codes``, where
    they stopped; return how many. The caller sends the job's next repositories."""
    reopened = RepoSync.objects.filter(
        job_id=job_id, status=RepoSync.Status.FAILED, error_code__in=codes
    ).update(
        status=RepoSync.Status.QUEUED,
        error_code="",
        error_message="",
        retry_at=None,
        finished_at=None,
        attempts=0,
        dispatched_page=-1,
        version=F("version") + 1,
    )
    if not reopened:
        return 0
    SyncJob.objects.filter(
        pk=job_id, status__in=(SyncJob.Status.FAILED, SyncJob.Status.PARTIAL)
    ).update(
        status=SyncJob.Status.RUNNING,
        error_code="",
        error_message="",
        finished_at=None,
        heartbeat_at=timezone.now(),
        repos_done=F("repos_done") - reopened,
        version=F("version") + 1,
    )
    progress.job_changed(job_id, urgent=True)
    return reopened


@transaction.atomic
def finish_job(job_id: int) -> None:
    """Settle a job whose repositories are all done: succeeded, partial or failed."""
    job = SyncJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.is_finished:
        return
    statuses = list(job.repo_syncs.values_list("status", flat=True))
    if any(status in UNFINISHED_REPO for status in statuses):
        return
    failed = statuses.count(RepoSync.Status.FAILED)
    status, message = SyncJob.Status.SUCCEEDED, ""
    if failed and failed == len(statuses):
        status, message = SyncJob.Status.FAILED, "Every repository failed; see each one's reason"
    elif failed:
        status = SyncJob.Status.PARTIAL
        message = f"{failed} of {len(statuses)} repositories failed; retry them when fixed"
    bump_job(
        job_id,
        status=status,
        error_code="repos_failed" if failed else "",
        error_message=message,
        finished_at=timezone.now(),
        eta_seconds=None,
        rate_limit_reset_at=None,
        # Every repository is done: what was imported is the total, and only now is it 100%.
        prs_total=F("prs_synced"),
        **({"percent": 100} if status == SyncJob.Status.SUCCEEDED else {}),
    )
    progress.job_changed(job_id, urgent=True)
    if status != SyncJob.Status.FAILED:
        _note_refresh(job)
    if job.kind != SyncJob.Kind.SWEEP:  # a sweep finds a few changes every period: no notice
        transaction.on_commit(lambda: notifications.enqueue_sync_notice(job_id), robust=True)
    logger.info("job finished job=%s status=%s", job_id, status)


# The pull requests a sweep names to the team's open pages (more: they reload the list).
REFRESHED_IDS_MAX = 500


def _note_refresh(job: SyncJob) -> None:
    """Record the team's refresh: by the sweep (with the pull requests it wrote), or an import."""
    if job.kind != SyncJob.Kind.SWEEP:
        freshness.note_refresh(team_id=job.team_id, source=freshness.Source.IMPORT)
        return
    written = PullRequest.objects.filter(
        repository__reposync__job=job, seen_at__gte=job.created_at
    ).values_list("pk", flat=True)
    freshness.note_refresh(
        team_id=job.team_id,
        source=freshness.Source.SWEEP,
        pull_request_ids=list(written.order_by("pk")[:REFRESHED_IDS_MAX]),
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, Transient):
        # It reads "<what happened>: retrying in 2 s", so no full stop of its own.
        return str(error).rstrip(".") or "GitHub did not answer"
    if isinstance(error, DatabaseError):
        return "Our database did not answer"
    return f"Unexpected error ({type(error).__name__})"
