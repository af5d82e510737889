"""Notice, on the server, when a watched job's condition changes with no write, and publish it.

A worker cannot report that no worker is running, so the web process does: every message the
sockets forward says when the job's condition may change if nothing is written
(``JobState.check_at``: a queued job waiting too long, a silent job whose workers may be
gone, a stall). Each process keeps one timer per job it shows; when it fires, the job is read
and published, the condition decided at publish time (``JobState.condition``, the one rule).
When several web processes show the same job, a Redis key lets one of them publish each
check. A real change publishes a new version first and moves the timer. ``stalled_jobs``
asks the same rule of every active job, for the staff filter and the workers' watchdog
(``sync.watchdog``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime

import redis.asyncio
from django.conf import settings
from django.utils import timezone

from sync import progress
from sync.models import SyncJob

logger = logging.getLogger(__name__)

STALLED = (progress.Condition.STALLED, progress.Condition.WORKER_LOST)


def stalled_jobs(now: datetime) -> list[progress.JobState]:
    """Return the states of the active jobs that show as stalled or without a worker at ``now``."""
    jobs = list(SyncJob.objects.filter(status__in=SyncJob.ACTIVE).select_related("team"))
    return [state for state in progress.snapshots(jobs) if state.condition(now) in STALLED]


def watch(job_id: int, version: int, check_at: str | None) -> None:
    """Arm (or move) the job's timer from a message a socket is showing."""
    _watcher().watch(job_id, version, check_at)


class _Watcher:
    def __init__(self) -> None:
        self.timers: dict[int, asyncio.TimerHandle] = {}
        self.armed: dict[int, tuple[int, str | None]] = {}
        self.checks: set[asyncio.Task[None]] = set()
        # One connection pool per process, not a connection per check: under load, opening one
        # could outlast the timeout, and then no process would publish the check.
        self.redis = redis.asyncio.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5
        )

    def watch(self, job_id: int, version: int, check_at: str | None) -> None:
        if self.armed.get(job_id) == (version, check_at):
            return  # every socket of the job forwards the same message: decide once
        if timer := self.timers.pop(job_id, None):
            timer.cancel()
        if check_at is None:
            self.armed.pop(job_id, None)  # finished: nothing more to watch
            return
        self.armed[job_id] = (version, check_at)
        delay = (datetime.fromisoformat(check_at) - timezone.now()).total_seconds() + 0.05
        loop = asyncio.get_running_loop()
        self.timers[job_id] = loop.call_later(max(delay, 0.05), self._due, job_id, check_at)

    def _due(self, job_id: int, check_at: str) -> None:
        del self.timers[job_id]
        self.armed.pop(job_id, None)  # the check may publish the same version: look again
        check = asyncio.ensure_future(_check(job_id, check_at, self.redis))
        self.checks.add(check)
        check.add_done_callback(lambda done: self._checked(job_id, done))

    def _checked(self, job_id: int, check: asyncio.Task[None]) -> None:
        self.checks.discard(check)
        if not check.cancelled() and (error := check.exception()) is not None:
            logger.error("stall check failed job=%s", job_id, exc_info=error)


async def _check(job_id: int, check_at: str, client: redis.asyncio.Redis) -> None:
    # One web process publishes each check; the others receive what it published.
    key = f"{settings.REDIS_PREFIX}:stall-check:{job_id}:{check_at}"
    try:
        first = await client.set(key, "1", nx=True, ex=60)
    except redis.RedisError as error:
        # Publishing goes through the same Redis: when it cannot agree, it could not deliver
        # either (and a slow answer means another process may have published already). The
        # sockets reconnect to a snapshot when the feed is lost (sync.fanout).
        logger.warning("stall check skipped job=%s: %s", job_id, error)
        return
    if first:
        await progress.publish_from_db(job_id)


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watcher] = (
    weakref.WeakKeyDictionary()
)


def _watcher() -> _Watcher:
    loop = asyncio.get_running_loop()
    if loop not in _watchers:
        _watchers[loop] = _Watcher()
    return _watchers[loop]
