"""Size an import before its pages run: each repository's pull requests in its window.

The bar shows no percent until the sizes are known (the page says it is counting), so it never
starts from a guess. A first import with a recent phase also counts each repository's recent
window (``RepoSync.recent_expected``): its first page asks for just those pull requests and one
more, which reaches past the line (``sync.engine.pages``). A count GitHub does not give leaves
the repository to be sized from its first page (``sync.engine.eta``), and a recent phase's
first page at 50; only a revoked token stops the job here.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sync import progress
from sync.engine import state
from sync.github import counts
from sync.github.client import Session
from sync.github.errors import BadCredentials, GitHubError
from sync.models import RepoSync, SyncJob

logger = logging.getLogger(__name__)


def count_job(job: SyncJob, session: Session) -> None:
    """Count every open repository's window of ``job`` and record when the sizes were known."""
    repo_syncs = list(
        job.repo_syncs.select_related("repository")
        .exclude(status__in=RepoSync.FINISHED)
        .filter(prs_expected__isnull=True)
        .order_by("pk")
    )
    windows = [_window(repo_sync) for repo_sync in repo_syncs]
    line = job.recent_since
    points = session.points
    try:
        if not windows:
            sizes: list[tuple[int | None, int | None]] = []
        elif line is not None:
            sizes = counts.count_recent(session, windows, line)
        else:
            sizes = [(size, None) for size in counts.count_pull_requests(session, windows)]
    except BadCredentials:
        raise
    except GitHubError as error:
        logger.warning("pull requests not counted job=%s: %s", job.pk, error)
        sizes = [(None, None)] * len(windows)
    _record(job, repo_syncs, sizes, points=session.points - points)


def _window(repo_sync: RepoSync) -> counts.Window:
    # A repository resumed from a cursor (a retry) has its newer pull requests already: what is
    # left is the part of its window older than the oldest it reached.
    until = repo_sync.until
    if repo_sync.cursor and repo_sync.oldest_seen is not None:
        until = repo_sync.oldest_seen
    return counts.Window(repo_sync.repository.full_name, repo_sync.since, until)


@transaction.atomic
def _record(
    job: SyncJob,
    repo_syncs: list[RepoSync],
    sizes: list[tuple[int | None, int | None]],
    *,
    points: int,
) -> None:
    for repo_sync, (size, recent) in zip(repo_syncs, sizes, strict=True):
        if size is not None:
            RepoSync.objects.filter(pk=repo_sync.pk).update(
                prs_expected=size, recent_expected=recent, version=F("version") + 1
            )
    job.counted_at = timezone.now()
    state.bump_job(
        job.pk,
        counted_at=job.counted_at,
        github_points=F("github_points") + points,
        **state.progress_changes(job),
    )
    progress.job_changed(job.pk, urgent=True)
    logger.info(
        "pull requests counted job=%s repos=%s counted=%s",
        job.pk,
        len(sizes),
        sum(size is not None for size, _ in sizes),
    )
