"""Publish sync state to the channel layer after it is committed.

The database is the truth; a message is a notification carrying the job's full current state
(read from the database at publish time) and its version, so a dropped or reordered message
is harmless. Each process keeps one publisher thread with one event loop and one channel
layer connection (``async_to_sync`` per call would open a loop and a connection each time),
and publishes each job at most ``MAX_PER_SECOND`` times a second; an urgent change (a status
change, an error) goes out at once.

Groups: ``sync.job.<id>``, ``sync.team.<team_id>`` and ``sync.staff``. Each group's message
also carries ``html``: the fragments that group's audience shows (the progress page, the team's
summary, the staff row), rendered once here so that consumers only forward them, and
``group``, the group it was sent to.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from sync import fragments
from sync.models import RepoSync, SyncJob

logger = logging.getLogger(__name__)

MAX_PER_SECOND = 4
# The publisher keeps its database connection while it is busy, and closes it after this long
# without work (reconnecting for every publish costs more than the rest of a publish).
IDLE_SECONDS = 2.0
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
    return snapshots([job])[0]


def snapshots(jobs: list[SyncJob]) -> list[dict[str, Any]]:
    """Return each job's state, reading all their repositories in one query (a staff page or
    socket shows dozens of jobs). Load the jobs with their team (``select_related``)."""
    by_job: dict[int, list[dict[str, Any]]] = {job.pk: [] for job in jobs}
    rows = (
        RepoSync.objects.filter(job__in=jobs)
        .order_by("job_id", "repository__full_name")
        .values_list("job_id", *_REPO_FIELDS)
    )
    for job_id, *values in rows:
        repo = dict(zip(_REPO_KEYS, values, strict=True))
        repo["retry_at"] = _iso(repo["retry_at"])
        by_job[job_id].append(repo)
    return [_job_state(job, by_job[job.pk]) for job in jobs]


# A repository's keys in a job's state, and the fields they are read from.
_REPO_KEYS = (
    "id",
    "repository",
    "status",
    "prs_total",
    "prs_synced",
    "reviews_synced",
    "commits_synced",
    "items_skipped",
    "attempts",
    "retry_at",
    "error_code",
    "error_message",
)
_REPO_FIELDS = tuple("repository__full_name" if key == "repository" else key for key in _REPO_KEYS)


def _job_state(job: SyncJob, repos: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": job.id,
        "team_id": job.team_id,
        "team_name": job.team.github_org_login,
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
        "rate_limit_reset_at": _iso(job.rate_limit_reset_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error_code": job.error_code,
        "error_message": job.error_message,
        "repos": repos,
    }


def build_message(job: SyncJob) -> dict[str, Any]:
    """Return the message for the job's own group: its current state and the page's fragments."""
    return build_messages(job)[job_group(job.id)]


def build_messages(job: SyncJob) -> dict[str, dict[str, Any]]:
    """Return one message per group, each with the fragments that group's audience shows."""
    return messages_for_state(snapshot(job))


def messages_for_state(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Render ``state`` once per audience into the message each group receives."""
    now = timezone.now()
    rendered = {
        job_group(state["id"]): fragments.render_page(state, now),
        team_group(state["team_id"]): fragments.render_team(state, now),
        STAFF_GROUP: fragments.render_staff(state, now),
    }
    return {
        group: {
            "type": "sync.update",
            "group": group,
            "job_id": state["id"],
            "version": state["version"],
            "state": state,
            "html": html,
        }
        for group, html in rendered.items()
    }


async def publish_from_db(job_id: int) -> None:
    """Read the job and send its state to its groups from the running event loop."""
    messages = await database_sync_to_async(_read_messages)(job_id)
    if messages:
        await _send(get_channel_layer(), messages)


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
        """Return the jobs due now; an empty list once nothing has been asked for a while."""
        with self._condition:
            idle_since = time.monotonic()
            while True:
                now = time.monotonic()
                due = [job for job, at in self._pending.items() if at <= now]
                if due:
                    for job in due:
                        del self._pending[job]
                    self._in_flight = len(due)
                    return due
                if not self._pending and now - idle_since >= IDLE_SECONDS:
                    return []
                wait = min(self._pending.values(), default=idle_since + IDLE_SECONDS) - now
                self._condition.wait(max(wait, 0.005))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            due = self._next_due()
            if not due:
                connection.close()  # idle: give the database connection back
            for job_id in due:
                self._last[job_id] = time.monotonic()
                try:
                    messages = _load_messages(job_id)
                    if messages:
                        loop.run_until_complete(_send(layer, messages))
                except Exception:
                    logger.exception("publishing sync progress failed job=%s", job_id)
            with self._condition:
                self._in_flight = 0
                self._condition.notify_all()


async def _send(layer: Any, messages: dict[str, dict[str, Any]]) -> None:
    await asyncio.gather(*(layer.group_send(group, msg) for group, msg in messages.items()))


def _load_messages(job_id: int) -> dict[str, dict[str, Any]] | None:
    # The publisher thread keeps its connection while busy (see IDLE_SECONDS); a broken one is
    # replaced once.
    try:
        return _read_messages(job_id)
    except (InterfaceError, OperationalError):
        connection.close()
        return _read_messages(job_id)


def _read_messages(job_id: int) -> dict[str, dict[str, Any]] | None:
    job = SyncJob.objects.select_related("team").filter(pk=job_id).first()
    return None if job is None else build_messages(job)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


_lock = threading.Lock()
_instance: _Publisher | None = None


def _publisher() -> _Publisher:
    global _instance
    with _lock:
        if _instance is None:
            _instance = _Publisher()
        return _instance
