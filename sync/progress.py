"""The state of a sync job, typed, and its publishing to the channel layer after commit.

The database is the truth; a message is a notification carrying the job's full current state
(read from the database at publish time) and its version, so a dropped or reordered message
is harmless. Each process keeps one publisher thread with one event loop and one channel
layer connection (``async_to_sync`` per call would open a loop and a connection each time),
and publishes each job at most ``MAX_PER_SECOND`` times a second; an urgent change (a status
change, an error) goes out at once.

``JobState`` is what every page renders, and ``JobState.condition`` is the one rule for what a
job is doing now (importing, paused, stalled, its worker lost…): the progress page, the
team's pages, the staff pages and the workers' watchdog all ask it. The words and templates
for each condition belong to the pages, which register a renderer per audience
(``register_renderer``); this module renders each message once per audience, so consumers
only forward it.

Groups: ``sync.job.<id>``, ``sync.team.<team_id>`` and ``sync.staff``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from sync import heartbeat
from sync.models import RepoSync, SyncJob

logger = logging.getLogger(__name__)

MAX_PER_SECOND = 4
# The publisher keeps its database connection while it is busy, and closes it after this long
# without work (reconnecting for every publish costs more than the rest of a publish).
IDLE_SECONDS = 2.0
STAFF_GROUP = "sync.staff"

# A job that no worker picks up within this long is shown as such.
QUEUED_TOO_LONG = timedelta(seconds=15)
# No page for this long, and no worker process alive: the job's worker is lost.
SILENT_AFTER = timedelta(seconds=8)
# While a job is silent, the web process looks again this often (a worker may die meanwhile).
RECHECK = timedelta(seconds=4)


class Condition(enum.StrEnum):
    """What a job is doing now, as its pages name it."""

    QUEUED = "queued"
    COUNTING = "counting"
    RUNNING = "running"
    RATE_LIMITED = "rate_limited"
    RETRYING = "retrying"
    STALLED = "stalled"
    WORKER_LOST = "worker_lost"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED_CONDITIONS = {
    SyncJob.Status.SUCCEEDED: Condition.SUCCEEDED,
    SyncJob.Status.PARTIAL: Condition.PARTIAL,
    SyncJob.Status.FAILED: Condition.FAILED,
    SyncJob.Status.CANCELLED: Condition.CANCELLED,
}
# Error codes (sync.engine) that only reconnecting GitHub fixes.
REVOKED_CODES = frozenset({"token_revoked", "bad_credentials"})
SSO_CODE = "sso_required"
RECONNECT_CODES = REVOKED_CODES | {SSO_CODE}


def stall_after() -> timedelta:
    """Return the silence after which a job whose workers are alive shows as stalled."""
    return timedelta(seconds=settings.SYNC_STALL_AFTER_SECONDS)


@dataclass(frozen=True)
class RepoState:
    id: int
    repository: str
    status: str
    prs_expected: int | None
    prs_synced: int
    reviews_synced: int
    commits_synced: int
    items_skipped: int
    attempts: int
    retry_at: datetime | None
    error_code: str
    error_message: str
    # When its pull requests down to the job's recent line were all stored (None: not yet, or
    # the job has no recent phase).
    recent_done_at: datetime | None


@dataclass(frozen=True)
class JobState:
    """A job as its pages show it: the row, its repositories, and whether a worker is alive."""

    id: int
    team_id: int
    team_name: str
    kind: str
    status: str
    version: int
    repos_total: int
    repos_done: int
    prs_total: int
    prs_synced: int
    reviews_synced: int
    commits_synced: int
    percent: int
    eta_seconds: int | None
    eta_at: datetime | None
    counted_at: datetime | None
    rate_limit_reset_at: datetime | None
    heartbeat_at: datetime | None
    resumed_at: datetime | None
    # A first import's recent line and when every repository's pull requests since it were
    # stored (``sync.engine.recent``); both None for the other kinds of sync.
    recent_since: datetime | None
    recent_ready_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_code: str
    error_message: str
    repos: tuple[RepoState, ...]
    # The newest heartbeat of any worker process when the state was read (None: none alive).
    worker_seen_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.status in SyncJob.ACTIVE

    @property
    def recent_ready(self) -> bool:
        """Whether recent activity is ready: every repository's last days are stored.

        True once the recent phase ended, while older history may still be importing; a
        repository that failed before reaching the line does not hold it back (it shows as
        failed). A sync with no recent phase has it once it finished with something imported.
        """
        if self.recent_ready_at is not None:
            return True
        done = (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL)
        return self.recent_since is None and self.status in done

    @property
    def recent_pending(self) -> bool:
        """Whether the job is still storing its repositories' recent pages (before older ones)."""
        return self.is_active and self.recent_since is not None and self.recent_ready_at is None

    @property
    def repos_recent_done(self) -> int:
        """Return how many repositories have their recent pages stored."""
        return sum(1 for repo in self.repos if repo.recent_done_at is not None)

    @property
    def repos_failed(self) -> int:
        return sum(1 for repo in self.repos if repo.status == RepoSync.Status.FAILED)

    @property
    def reconnect(self) -> str:
        """Return why GitHub must be reconnected ("revoked" or "sso"), or ""."""
        codes = {self.error_code, *(repo.error_code for repo in self.repos)}
        if codes & REVOKED_CODES:
            return "revoked"
        return "sso" if SSO_CODE in codes else ""

    def condition(self, now: datetime) -> Condition:
        """Return what the job is doing at ``now``: the one rule every page and the watchdog use."""
        if not self.is_active:
            return FINISHED_CONDITIONS[SyncJob.Status(self.status)]
        if self.started_at is None:
            waited = now - max(self.created_at, self.resumed_at or self.created_at)
            if waited < QUEUED_TOO_LONG:
                return Condition.QUEUED
            return Condition.STALLED if self._worker_alive(now) else Condition.WORKER_LOST
        silence = now - self.last_sign
        if silence >= SILENT_AFTER and not self._worker_alive(now):
            return Condition.WORKER_LOST
        if now >= self.stall_deadline:
            return Condition.STALLED
        if self.status == SyncJob.Status.WAITING and self.rate_limit_reset_at is not None:
            return Condition.RATE_LIMITED
        if self.counted_at is None:
            return Condition.COUNTING
        statuses = {repo.status for repo in self.repos}
        if RepoSync.Status.RETRYING in statuses and RepoSync.Status.RUNNING not in statuses:
            return Condition.RETRYING
        return Condition.RUNNING

    @property
    def last_sign(self) -> datetime:
        """Return the last moment a worker showed it works on the job."""
        return self.heartbeat_at or self.started_at or self.created_at

    @property
    def stall_deadline(self) -> datetime:
        """Return when a silent job turns stalled: after the silence, or what it waits for."""
        waits = [repo.retry_at for repo in self.repos if repo.retry_at is not None]
        waited_for = max([self.last_sign, *waits, self.rate_limit_reset_at or self.last_sign])
        return waited_for + stall_after()

    def check_at(self, now: datetime) -> datetime | None:
        """Return when the condition may change with no write (look again then), or None."""
        if not self.is_active:
            return None
        if self.started_at is None:
            queued_until = max(self.created_at, self.resumed_at or self.created_at)
            return max(queued_until + QUEUED_TOO_LONG, now + RECHECK)
        candidates = [self.stall_deadline]
        silent_from = self.last_sign + SILENT_AFTER
        candidates.append(silent_from if silent_from > now else now + RECHECK)
        future = [moment for moment in candidates if moment > now]
        return min(future) if future else None

    def _worker_alive(self, now: datetime) -> bool:
        seen = self.worker_seen_at
        return seen is not None and now - seen < timedelta(seconds=heartbeat.ALIVE_SECONDS)

    def to_json(self) -> dict[str, Any]:
        """Return the state as JSON-ready values (channel-layer messages carry it)."""
        return _jsonable(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobState:
        values = _parsed(cls, data)
        values["repos"] = tuple(_load(RepoState, repo) for repo in data["repos"])
        return cls(**values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _parsed(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for field in fields(cls):
        value = data[field.name]
        if isinstance(value, str) and "datetime" in str(field.type):
            value = datetime.fromisoformat(value)
        values[field.name] = value
    return values


def _load(cls: type[RepoState], data: dict[str, Any]) -> RepoState:
    return cls(**_parsed(cls, data))


def job_group(job_id: int) -> str:
    return f"sync.job.{job_id}"


def team_group(team_id: int) -> str:
    return f"sync.team.{team_id}"


def job_changed(job_id: int, *, urgent: bool = False) -> None:
    """Publish the job's state once the current transaction commits."""
    transaction.on_commit(lambda: _publisher().request(job_id, urgent=urgent))


def snapshot(job: SyncJob) -> JobState:
    """Return the job's full state (used by messages, pages and snapshots)."""
    return snapshots([job])[0]


def snapshots(jobs: list[SyncJob]) -> list[JobState]:
    """Return each job's state, reading all their repositories in one query (a staff page or
    socket shows dozens of jobs). Load the jobs with their team (``select_related``)."""
    by_job: dict[int, list[RepoState]] = {job.pk: [] for job in jobs}
    rows = (
        RepoSync.objects.filter(job__in=jobs)
        .order_by("job_id", "repository__full_name")
        .values_list("job_id", *_REPO_FIELDS)
    )
    for job_id, *values in rows:
        by_job[job_id].append(RepoState(*values))
    seen = heartbeat.latest_worker_heartbeat_at() if jobs else None
    return [_job_state(job, tuple(by_job[job.pk]), seen) for job in jobs]


# A repository's fields in a job's state, in RepoState's order.
_REPO_FIELDS = tuple(
    "repository__full_name" if field.name == "repository" else field.name
    for field in fields(RepoState)
)


def _job_state(job: SyncJob, repos: tuple[RepoState, ...], seen: datetime | None) -> JobState:
    values = {
        field.name: getattr(job, field.name)
        for field in fields(JobState)
        if field.name not in ("team_name", "repos", "worker_seen_at")
    }
    return JobState(**values, team_name=job.team.github_org_login, repos=repos, worker_seen_at=seen)


# -- rendering, once per audience --------------------------------------------------------------

Renderer = Callable[[JobState, datetime], str]
# Audience -> the group it is sent to and the renderer the pages registered for it.
_RENDERERS: dict[str, Renderer] = {}
_AUDIENCE_GROUPS: dict[str, Callable[[JobState], str]] = {
    "job": lambda state: job_group(state.id),
    "team": lambda state: team_group(state.team_id),
    "staff": lambda state: STAFF_GROUP,
}


def register_renderer(audience: str, renderer: Renderer) -> None:
    """Have ``renderer`` draw what ``audience`` ("job", "team", "staff") is sent of a job."""
    _RENDERERS[audience] = renderer


def render(audience: str, state: JobState, now: datetime | None = None) -> str:
    """Render ``state`` for ``audience`` as the pages registered."""
    return _RENDERERS[audience](state, now or timezone.now())


ListRenderer = Callable[[list[JobState], datetime], str]
_LIST_RENDERERS: dict[str, ListRenderer] = {}


def register_list_renderer(audience: str, renderer: ListRenderer) -> None:
    """Have ``renderer`` draw the snapshot of many jobs ``audience`` (the staff page) opens on."""
    _LIST_RENDERERS[audience] = renderer


def render_list(audience: str, states: list[JobState], now: datetime | None = None) -> str:
    return _LIST_RENDERERS[audience](states, now or timezone.now())


def build_message(job: SyncJob) -> dict[str, Any]:
    """Return the message for the job's own group: its current state and the page's fragments."""
    return build_messages(job)[job_group(job.id)]


def build_messages(job: SyncJob) -> dict[str, dict[str, Any]]:
    """Return one message per group, each with the fragments that group's audience shows."""
    return messages_for_state(snapshot(job))


def messages_for_state(state: JobState) -> dict[str, dict[str, Any]]:
    """Render ``state`` once per audience into the message each group receives."""
    now = timezone.now()
    check_at = state.check_at(now)
    data = state.to_json()
    return {
        _AUDIENCE_GROUPS[audience](state): {
            "type": "sync.update",
            "group": _AUDIENCE_GROUPS[audience](state),
            "job_id": state.id,
            "version": state.version,
            "state": data,
            "check_at": check_at.isoformat() if check_at else None,
            "html": renderer(state, now),
        }
        for audience, renderer in _RENDERERS.items()
    }


async def publish_from_db(job_id: int) -> None:
    """Read the job and send its state to its groups from the running event loop."""
    messages = await database_sync_to_async(_read_messages)(job_id)
    if messages:
        await _send(get_channel_layer(), messages)


def send_after_commit(group: str, message: dict[str, Any]) -> None:
    """Send ``message`` to ``group`` once the current transaction commits, from the one
    publisher loop of this process (never a new loop and connection per message)."""
    transaction.on_commit(lambda: _publisher().send(group, message))


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
        self._outbox: list[tuple[str, dict[str, Any]]] = []  # (group, message) to send as is
        self._thread = threading.Thread(target=self._run, name="progress-publisher", daemon=True)
        self._thread.start()

    def request(self, job_id: int, *, urgent: bool) -> None:
        now = time.monotonic()
        due = now if urgent else max(now, self._last.get(job_id, 0) + 1 / MAX_PER_SECOND)
        with self._condition:
            self._pending[job_id] = min(due, self._pending.get(job_id, due))
            self._condition.notify()

    def send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to ``group`` from the publisher's loop, as soon as it is free."""
        with self._condition:
            self._outbox.append((group, message))
            self._condition.notify()

    def flush(self, timeout: float = 10) -> None:
        """Wait until every requested publish has been sent."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while (
                self._pending or self._outbox or self._in_flight
            ) and time.monotonic() < deadline:
                self._condition.wait(0.05)

    def _next_due(self) -> tuple[list[int], list[tuple[str, dict[str, Any]]]]:
        """Return the jobs due now and the plain messages waiting; nothing once nothing has been
        asked for a while."""
        with self._condition:
            idle_since = time.monotonic()
            while True:
                now = time.monotonic()
                due = [job for job, at in self._pending.items() if at <= now]
                if due or self._outbox:
                    for job in due:
                        del self._pending[job]
                    outbox, self._outbox = self._outbox, []
                    self._in_flight = len(due) + len(outbox)
                    return due, outbox
                if not self._pending and now - idle_since >= IDLE_SECONDS:
                    return [], []
                wait = min(self._pending.values(), default=idle_since + IDLE_SECONDS) - now
                self._condition.wait(max(wait, 0.005))

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            due, outbox = self._next_due()
            if not due and not outbox:
                connection.close()  # idle: give the database connection back
            for group, message in outbox:
                try:
                    loop.run_until_complete(layer.group_send(group, message))
                except Exception:
                    logger.exception("publishing to %s failed", group)
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


_lock = threading.Lock()
_instance: _Publisher | None = None


def _publisher() -> _Publisher:
    global _instance
    with _lock:
        if _instance is None:
            _instance = _Publisher()
        return _instance
