"""Notice, on the server, when a watched job turns stalled, and publish it.

A worker cannot report that no worker is running, so the web process does: every state its
sockets forward says when the job would turn stalled if nothing changed
(``fragments.stall_deadline``). Each process keeps one timer per job it shows; when a timer
fires, the job is read and published once (the stalled banner is rendered at publish time),
and every viewer in every process gets it. A real change publishes a new version first and
moves the deadline. ``stalled_jobs`` asks the same question of the database, for the staff
filter and the workers' watchdog (``sync.watchdog``).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from sync import fragments, progress
from sync.models import RepoSync, SyncJob

logger = logging.getLogger(__name__)


def stalled_jobs(now: datetime) -> QuerySet[SyncJob]:
    """Active jobs that show as stalled (``fragments.is_stalled``, close enough for a filter)."""
    never_picked = Q(
        status=SyncJob.Status.QUEUED,
        started_at__isnull=True,
        last_sign__lt=now - fragments.QUEUED_STALL_AFTER,
    )
    quiet_since = now - fragments.HEARTBEAT_STALL_AFTER
    waiting_for_retry = RepoSync.objects.filter(job=OuterRef("pk"), retry_at__gte=quiet_since)
    silent = (
        Q(started_at__isnull=False, last_sign__lt=quiet_since)
        & (Q(rate_limit_reset_at__isnull=True) | Q(rate_limit_reset_at__lt=quiet_since))
        & ~Exists(waiting_for_retry)
    )
    return (
        SyncJob.objects.filter(status__in=SyncJob.ACTIVE)
        .annotate(last_sign=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(never_picked | silent)
    )


def watch(state: dict[str, Any]) -> None:
    """Arm (or move) the job's stall timer from a state a socket is showing."""
    _watcher().watch(state)


class _Watcher:
    def __init__(self) -> None:
        self.timers: dict[int, asyncio.TimerHandle] = {}
        self.versions: dict[int, int] = {}
        self.checks: set[asyncio.Task[None]] = set()

    def watch(self, state: dict[str, Any]) -> None:
        job_id, version = state["id"], state["version"]
        if self.versions.get(job_id) == version:
            return  # every socket of the job forwards the same state: decide once
        self.versions[job_id] = version
        if timer := self.timers.pop(job_id, None):
            timer.cancel()
        deadline = fragments.stall_deadline(state)
        now = timezone.now()
        if deadline is None or now >= deadline:
            if deadline is None:
                del self.versions[job_id]  # finished: nothing more to watch
            return  # already shown as stalled: only a real change matters now
        delay = (deadline - now).total_seconds() + 0.05
        self.timers[job_id] = asyncio.get_running_loop().call_later(delay, self._due, job_id)

    def _due(self, job_id: int) -> None:
        del self.timers[job_id]
        self.versions.pop(job_id, None)  # the check publishes the same version: look again
        check = asyncio.ensure_future(progress.publish_from_db(job_id))
        self.checks.add(check)
        check.add_done_callback(lambda done: self._checked(job_id, done))

    def _checked(self, job_id: int, check: asyncio.Task[None]) -> None:
        self.checks.discard(check)
        if not check.cancelled() and (error := check.exception()) is not None:
            logger.error("stall check failed job=%s", job_id, exc_info=error)


_watchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watcher] = (
    weakref.WeakKeyDictionary()
)


def _watcher() -> _Watcher:
    loop = asyncio.get_running_loop()
    if loop not in _watchers:
        _watchers[loop] = _Watcher()
    return _watchers[loop]
