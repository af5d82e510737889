"""Recent history first: a first import stores every repository's last days before older pages.

Pull requests arrive newest update first, so a repository's recent activity is its first pages;
what changes is the order of the work. A repository of a first import runs until one of its
pages reaches past the job's line (``SyncJob.recent_since``, ``SYNC_RECENT_DAYS`` ago), then
records it (``RepoSync.recent_done_at``) and, while other repositories still wait for their
first pages, gives its turn back (queued again, from its cursor) so they start sooner. Once no
repository waits for its recent pages, the ones that reached the line go on with older pages
in the turns that free up (``state.start_next_repositories`` starts them after every waiting
recent one). No page is fetched twice: a repository resumes from the cursor it stopped at,
and the page that crossed the line was written whole.

When every repository has reached the line or finished, the job records ``recent_ready_at``
(with its version bumped, published after commit): the progress page and the team's overview
say "recent activity ready" from it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from sync import progress
from sync.models import RepoSync, SyncJob

logger = logging.getLogger(__name__)

OPEN = (
    RepoSync.Status.QUEUED,
    RepoSync.Status.RUNNING,
    RepoSync.Status.WAITING,
    RepoSync.Status.RETRYING,
)


def recent_line(kind: str, *, now: datetime | None = None) -> datetime | None:
    """Return where a job of ``kind`` draws its recent line, or None for no recent phase.

    Only a first import has one: the other kinds add to history the team already sees.
    """
    days = settings.SYNC_RECENT_DAYS
    if kind != SyncJob.Kind.INITIAL or days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def reached(line: datetime | None, *, oldest: datetime | None, done: bool) -> bool:
    """Whether a page whose oldest pull request is ``oldest`` completes the recent window.

    Strictly older: a pull request updated at the line itself may still be on the next page.
    """
    if line is None:
        return False
    return done or (oldest is not None and oldest < line)


def others_waiting(repo_sync: RepoSync) -> bool:
    """Whether another repository of the job still waits to start its recent pages."""
    return (
        RepoSync.objects.filter(
            job_id=repo_sync.job_id,
            status=RepoSync.Status.QUEUED,
            dispatched_page__lt=0,
            recent_done_at__isnull=True,
        )
        .exclude(pk=repo_sync.pk)
        .exists()
    )


def note_ready(job_id: int, *, now: datetime | None = None) -> bool:
    """Record that the job's recent phase is over once no open repository is short of its line.

    Call it after the job's row was written in the same transaction (the row lock orders two
    repositories finishing their phase at once: the second sees the first). Return whether
    this call recorded it.
    """
    short = RepoSync.objects.filter(job_id=job_id, status__in=OPEN, recent_done_at__isnull=True)
    if short.exists():
        return False
    changed = (
        SyncJob.objects.filter(pk=job_id, recent_since__isnull=False, recent_ready_at__isnull=True)
        .exclude(status__in=SyncJob.FINISHED)
        .update(recent_ready_at=now or timezone.now(), version=F("version") + 1)
    )
    if changed:
        progress.job_changed(job_id, urgent=True)
        logger.info("recent activity ready job=%s", job_id)
    return bool(changed)
