"""Publish sync state to the channel layer after it is committed.

The database is the truth; a message is a notification carrying the job's full current state
(read from the database at publish time) and its version, so a dropped or reordered message
is harmless. Each process keeps one publisher thread with one event loop and one channel
layer connection (``async_to_sync`` per call would open a loop and a connection each time),
and publishes each job at most ``MAX_PER_SECOND`` times a second; an urgent change (a status
change, an error) goes out at once.

Groups: ``sync.job.<id>``, ``sync.team.<team_id>`` and ``sync.staff``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from channels.layers import get_channel_layer
from django.db import close_old_connections, transaction

from sync.models import SyncJob

logger = logging.getLogger(__name__)

MAX_PER_SECOND = 4
STAFF_GROUP = "sync.staff"


def job_group(job_id: int) -> str:
    return f"sync.job.{job_id}"


def team_group(team_id: int) -> str:
    return f"sync.team.{team_id}"


def job_changed(job_id: int, *, urgent: bool = False) -> None:
    """Publish the job's state once the current transaction commits."""
    transaction.on_commit(lambda: _publisher().request(job_id, urgent=urgent))


def snapshot(job: SyncJob) -> dict[str, Any]:
    """Return the job's full state as a JSON-ready dict (used by messages and snapshots)."""
    repos = [
        {
            "id": rs.id,
            "repository": rs.repository.full_name,
            "status": rs.status,
            "prs_total": rs.prs_total,
            "prs_synced": rs.prs_synced,
            "reviews_synced": rs.reviews_synced,
            "commits_synced": rs.commits_synced,
            "items_skipped": rs.items_skipped,
            "attempts": rs.attempts,
            "retry_at": rs.retry_at.isoformat() if rs.retry_at else None,
            "error_code": rs.error_code,
            "error_message": rs.error_message,
        }
        for rs in job.repo_syncs.select_related("repository").order_by("repository__full_name")
    ]
    return {
        "id": job.id,
        "team_id": job.team_id,
        "kind": job.kind,
        "status": job.status,
        "version": job.version,
        "repos_total": job.repos_total,
        "repos_done": job.repos_done,
        "prs_total": job.prs_total,
        "prs_synced": job.prs_synced,
        "reviews_synced": job.reviews_synced,
        "commits_synced": job.commits_synced,
        "eta_seconds": job.eta_seconds,
        "rate_limit_reset_at": job.rate_limit_reset_at.isoformat()
        if job.rate_limit_reset_at
        else None,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
        "error_code": job.error_code,
        "error_message": job.error_message,
        "repos": repos,
    }


def build_message(job: SyncJob) -> dict[str, Any]:
    """Return the channel-layer message for ``job``'s current state."""
    return {"type": "sync.update", "job_id": job.id, "version": job.version, "state": snapshot(job)}


def publish_now(job_id: int) -> None:
    """Read the job and send its state to its groups, from any thread (blocking)."""
    _publisher().request(job_id, urgent=True)
    _publisher().flush()


class _Publisher:
    def __init__(self) -> None:
        self._pending: dict[int, float] = {}  # job id -> earliest time to publish
        self._last: dict[int, float] = {}
        self._condition = threading.Condition()
        self._in_flight = 0
        self._thread = threading.Thread(target=self._run, name="progress-publisher", daemon=True)
        self._thread.start()

    def request(self, job_id: int, *, urgent: bool) -> None:
        now = time.monotonic()
        due = now if urgent else max(now, self._last.get(job_id, 0) + 1 / MAX_PER_SECOND)
        with self._condition:
            self._pending[job_id] = min(due, self._pending.get(job_id, due))
            self._condition.notify()

    def flush(self, timeout: float = 10) -> None:
        """Wait until every requested publish has been sent."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while (self._pending or self._in_flight) and time.monotonic() < deadline:
                self._condition.wait(0.05)

    def _next_due(self) -> list[int]:
        with self._condition:
            while True:
                now = time.monotonic()
                due = [job for job, at in self._pending.items() if at <= now]
                if due:
                    for job in due:
                        del self._pending[job]
                    self._in_flight = len(due)
                    return due
                wait = min(self._pending.values(), default=now + 1) - now
                self._condition.wait(max(wait, 0.005))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            for job_id in self._next_due():
                self._last[job_id] = time.monotonic()
                try:
                    message = _load_message(job_id)
                    if message is not None:
                        loop.run_until_complete(_send(layer, message))
                except Exception:
                    logger.exception("publishing sync progress failed job=%s", job_id)
            with self._condition:
                self._in_flight = 0
                self._condition.notify_all()


async def _send(layer: Any, message: dict[str, Any]) -> None:
    state = message["state"]
    for group in (job_group(state["id"]), team_group(state["team_id"]), STAFF_GROUP):
        await layer.group_send(group, message)


def _load_message(job_id: int) -> dict[str, Any] | None:
    close_old_connections()
    job = SyncJob.objects.filter(pk=job_id).first()
    return None if job is None else build_message(job)


_lock = threading.Lock()
_instance: _Publisher | None = None


def _publisher() -> _Publisher:
    global _instance
    with _lock:
        if _instance is None:
            _instance = _Publisher()
        return _instance
