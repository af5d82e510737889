"""Resume imports whose messages were lost, without waiting for someone to press "run it now".

Dramatiq requeues what a dead worker had fetched, but a message can still be lost: Redis
restarted without its data, or stayed down longer than the broker's client retries. The job
then shows "running" with nothing queued for it, and the page says it stalled. Every worker
process runs this watchdog; a Redis lock lets one sweep run per interval across all of them.
A job that has been stalled (``sync.stalls.stalled_jobs``) for ``SYNC_RESUME_AFTER_SECONDS``
more is resumed as "run it now" does. A page is written once whoever fetches it, so a resume
that races a slow page costs a GitHub request, never a row.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from sync import progress, services, stalls
from sync.models import SyncJob

logger = logging.getLogger(__name__)


def sweep(now: datetime | None = None) -> list[int]:
    """Resume every job stalled (and not resumed) for longer than the grace; return their ids."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.SYNC_RESUME_AFTER_SECONDS)
    resumed = []
    for state in stalls.stalled_jobs(now):
        if not _stalled_past(state, now, grace):
            continue
        try:
            job = _resume_if_still_stalled(state.id, now, grace)
        except services.SyncError as error:
            logger.warning("stalled job=%s not resumed: %s", state.id, error)
            continue
        if job is not None:
            logger.warning("resumed stalled job=%s team=%s", job.pk, job.team_id)
            resumed.append(job.pk)
    return resumed


@transaction.atomic
def _resume_if_still_stalled(job_id: int, now: datetime, grace: timedelta) -> SyncJob | None:
    # A sweep of another process may have resumed the job since the list was read (a sweep
    # slower than the interval overlaps the next one): decide again under the row's lock.
    job = SyncJob.objects.select_for_update(of=("self",)).select_related("team").get(pk=job_id)
    state = progress.snapshot(job)
    if state.condition(now) not in stalls.STALLED or not _stalled_past(state, now, grace):
        return None
    return services.resume_job(job=job)


def _stalled_past(state: progress.JobState, now: datetime, grace: timedelta) -> bool:
    deadline = state.stall_deadline
    if state.resumed_at is not None:  # resumed already: give that a whole stall's time
        deadline = max(deadline, state.resumed_at + progress.stall_after())
    return now >= deadline + grace


def run(stop: threading.Event, client: redis.Redis) -> None:
    """Sweep every ``SYNC_WATCHDOG_SECONDS`` (0 turns it off) until ``stop`` is set."""
    interval = settings.SYNC_WATCHDOG_SECONDS
    if interval <= 0:
        return
    lock = f"{settings.REDIS_PREFIX}:sync-watchdog"
    while not stop.wait(interval):
        try:
            # One sweep per interval across every worker process.
            if client.set(lock, "1", nx=True, ex=max(1, int(interval))):
                close_old_connections()
                sweep()
        except Exception:
            logger.exception("watchdog sweep failed; the next one tries again")
        finally:
            connection.close()
