"""Push-only WebSockets for sync progress: one job's page, and the staff view of every job.

A consumer authorizes through ``sync.access`` (the check the views use), joins its groups,
sends a snapshot rendered from the database, then forwards what the groups carry: HTML that
the publisher rendered once per audience, so forwarding does no database work. Group messages
reach the sockets through ``sync.fanout`` (one channel-layer receive per process, not one per
socket).

Every socket also joins its user's group, so signing out or leaving the organization closes it
(``sync.sockets``, which also caps the sockets one user may hold). Refusals are sent after
``accept()`` as a 44xx close code, which the browser's reconnect logic
does not retry (closing before ``accept()`` becomes an HTTP 403 that looks like a network
failure and is retried forever). Sockets close themselves with 4012 ("reconnect now", which
the page's script honours) before Daphne's websocket timeout and the channel layer's group
expiry (both a day) cut them off, so the client reconnects and gets a fresh snapshot and fresh
group membership.

The team overview's socket (``TeamOverviewConsumer``) joins the team's group, which carries
the team's job updates and its refreshes (``sync.freshness``). Those fragments are drawn by
renderers the pages register (``register_overview_renderer``), once per process for each
version and audience (admins see other buttons), never once per socket.

Stalls are noticed on the server too: every state a socket shows goes to ``sync.stalls``,
which publishes the job when it turns stalled (see there).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from sync import access, fanout, progress, sockets, stalls
from sync.models import SyncJob, Team

logger = logging.getLogger(__name__)

REFUSED = 4403  # not a member of the job's team, not staff, or not signed in
NOT_FOUND = 4404  # a socket address this site does not serve
FRAME_TOO_LARGE = 4413
TOO_MANY_FRAMES = 4429
# "Reconnect now": the page's script reconnects (with backoff) on this code. Daphne's
# websocket library only sends 1000 or 3000-4999, so the 1012 that htmx-ext-ws would retry by
# itself cannot be sent.
RECONNECT = 4012
MAX_FRAME_BYTES = 1024
MAX_FRAMES_PER_MINUTE = 30
STAFF_RECENT_JOBS = 50


def _socket_max_age() -> float:
    """Seconds before a socket closes itself: under a day, spread so clients don't all return."""
    max_age = float(settings.SYNC_SOCKET_MAX_AGE)
    return max_age * random.uniform(0.9, 1.0)


class _ProgressConsumer(AsyncWebsocketConsumer):
    """Shared behaviour: refusal, push-only frames, lifetime, versions and stall timers."""

    # Group messages arrive through sync.fanout: a socket needs no channel of its own.
    channel_layer_alias = None  # type: ignore[assignment]

    async def connect(self) -> None:
        self.versions: dict[int, int] = {}
        self.joined: list[str] = []
        self.frame_times: list[float] = []
        self.lifetime: asyncio.TimerHandle | None = None
        self.early: list[dict[str, Any]] | None = []  # updates that beat the snapshot
        self.lost = False
        self.user_id: int | None = None
        groups = await self.authorize()
        await self.accept()
        if groups is None:
            await self.close(code=REFUSED)
            return
        user_id = self.scope["user"].pk
        if not sockets.claim_socket(user_id):
            logger.info("refused a socket past the per-user cap user=%s", user_id)
            await self.close(code=sockets.TOO_MANY_SOCKETS)
            return
        self.user_id = user_id
        # The user's own group first: a sign-out or a departure closes the socket.
        if not await self.join([sockets.user_group(user_id), *groups]):
            return
        html, states = await self.load_snapshot()
        if self.lost:
            return  # the feed was lost while the snapshot was read: closed, to reconnect
        await self.send(text_data=html)
        now = timezone.now()
        for state in states:
            check_at = state.check_at(now)
            self.remember(state.id, state.version, check_at.isoformat() if check_at else None)
        early, self.early = self.early or [], None
        for message in early:
            await self.deliver(message)
        loop = asyncio.get_running_loop()
        self.lifetime = loop.call_later(_socket_max_age(), self.expire)

    async def join(self, groups: list[str]) -> bool:
        """Join the groups (before the snapshot is read: nothing falls between the two).

        With the channel layer down (Redis restarting) the socket closes with "reconnect now":
        the page retries with backoff and gets its snapshot once Redis is back.
        """
        try:
            for group in groups:
                await fanout.join(group, self)
                self.joined.append(group)
        except Exception as error:
            logger.warning("progress feed unavailable (%s); socket told to reconnect", error)
            await self.feed_lost()
            return False
        return True

    async def authorize(self) -> list[str] | None:
        """Return the groups to join, or None to refuse the socket."""
        raise NotImplementedError

    async def load_snapshot(self) -> tuple[str, list[progress.JobState]]:
        """Return the snapshot's HTML and the job states it shows, read from the database."""
        raise NotImplementedError

    async def disconnect(self, code: int) -> None:
        if self.user_id is not None:
            sockets.release_socket(self.user_id)
            self.user_id = None
        if self.lifetime is not None:
            self.lifetime.cancel()
        for group in self.joined:
            await fanout.leave(group, self)
        self.joined = []

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Push-only: client frames are ignored, within limits.
        if len(text_data or "") + len(bytes_data or b"") > MAX_FRAME_BYTES:
            await self.close(code=FRAME_TOO_LARGE)
            return
        now = time.monotonic()
        self.frame_times = [moment for moment in self.frame_times if now - moment < 60]
        self.frame_times.append(now)
        if len(self.frame_times) > MAX_FRAMES_PER_MINUTE:
            await self.close(code=TOO_MANY_FRAMES)

    async def deliver(self, message: dict[str, Any]) -> None:
        """Forward a group message (see sync.fanout), unless this socket showed a newer one."""
        if "close" in message:  # the user signed out or lost access (sync.sockets)
            await self.close(code=message["close"])
            return
        if self.early is not None:
            self.early.append(message)  # the snapshot is still on its way
            return
        job_id, version = message["job_id"], message["version"]
        if version < self.versions.get(job_id, -1):
            return
        await self.send(text_data=message["html"])
        self.remember(job_id, version, message.get("check_at"))

    async def feed_lost(self) -> None:
        for group in self.joined:  # still joined where the layer is up; a no-op where lost
            await fanout.leave(group, self)
        self.joined = []
        if not self.lost:
            self.lost = True
            await self.close(code=RECONNECT)  # the browser reconnects and gets a snapshot

    def remember(self, job_id: int, version: int, check_at: str | None) -> None:
        """Note the version this socket shows, and have the job watched for a stall."""
        self.versions[job_id] = version
        stalls.watch(job_id, version, check_at)

    def expire(self) -> None:
        self.closing = asyncio.ensure_future(self.close(code=RECONNECT))


class JobProgressConsumer(_ProgressConsumer):
    """One job's progress page: ``/ws/sync/<job_id>/``."""

    async def authorize(self) -> list[str] | None:
        self.job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        try:
            await database_sync_to_async(access.get_job_for_user)(self.scope["user"], self.job_id)
        except access.JobNotFound:
            logger.info("refused sync socket job=%s", self.job_id)
            return None
        return [progress.job_group(self.job_id)]

    async def load_snapshot(self) -> tuple[str, list[progress.JobState]]:
        return await database_sync_to_async(job_snapshot)(self.job_id)


class StaffProgressConsumer(_ProgressConsumer):
    """Every team's jobs, for staff: ``/ws/sync/staff/``."""

    async def authorize(self) -> list[str] | None:
        if not access.is_staff(self.scope["user"]):
            logger.info("refused staff sync socket")
            return None
        return [progress.STAFF_GROUP]

    async def load_snapshot(self) -> tuple[str, list[progress.JobState]]:
        return await database_sync_to_async(staff_snapshot)()


class TeamOverviewConsumer(_ProgressConsumer):
    """A team's overview: ``/ws/team/<team_id>/``; its data as refreshed, and its imports."""

    async def authorize(self) -> list[str] | None:
        self.team_id = int(self.scope["url_route"]["kwargs"]["team_id"])
        self.team_version = -1
        # Refreshes that arrived while one was being drawn: the newest version, and every pull
        # request they changed (marked "just updated" in the next drawing).
        self.waiting_version = -1
        self.waiting_changed: set[int] = set()
        self.drawing: asyncio.Future[None] | None = None
        try:
            _, self.roles = await database_sync_to_async(access.get_team_for_user)(
                self.scope["user"], self.team_id
            )
        except access.TeamNotFound:
            logger.info("refused team socket team=%s", self.team_id)
            return None
        return [progress.team_group(self.team_id)]

    async def load_snapshot(self) -> tuple[str, list[progress.JobState]]:
        html, version, states = await database_sync_to_async(team_snapshot)(
            self.team_id, self.roles
        )
        self.team_version = version
        return html, states

    async def deliver(self, message: dict[str, Any]) -> None:
        if "close" in message or self.early is not None:
            await super().deliver(message)
            return
        if message.get("type") == "team.refreshed":
            await self._refreshed(message)
            return
        job_id, version = message["job_id"], message["version"]
        if version < self.versions.get(job_id, -1):
            return
        # The team audience's own HTML names the job's condition, which may change (a stall)
        # with no new version: it is part of what the rendering depends on.
        key = ("sync", self.team_id, self.roles, job_id, version, message.get("html", ""))
        html = await database_sync_to_async(_rendered)(
            key, lambda: _OVERVIEW_RENDERERS["sync"](self.team_id, self.roles, 0, ())
        )
        await self.send(text_data=html)
        self.remember(job_id, version, message.get("check_at"))

    async def _refreshed(self, message: dict[str, Any]) -> None:
        """Note the refresh; draw it at once, or after the drawing under way, with any others
        that arrive meanwhile (a drawing reads the data as it is then: one is enough)."""
        version = refresh_version(datetime.fromisoformat(message["refreshed_at"]))
        if version <= self.team_version:
            return
        self.waiting_version = max(self.waiting_version, version)
        self.waiting_changed.update(message.get("pull_request_ids") or ())
        if self.drawing is None or self.drawing.done():
            self.drawing = asyncio.ensure_future(self._draw_refreshes())

    async def _draw_refreshes(self) -> None:
        try:
            while self.waiting_version > self.team_version:
                version, changed = self.waiting_version, tuple(sorted(self.waiting_changed))
                self.waiting_changed = set()
                key = ("data", self.team_id, self.roles, version, changed)
                draw = functools.partial(
                    _OVERVIEW_RENDERERS["data"], self.team_id, self.roles, version, changed
                )
                html = await database_sync_to_async(_rendered)(key, draw)
                self.team_version = version
                await self.send(text_data=html)
        except Exception:
            logger.exception("drawing the team overview's refresh failed team=%s", self.team_id)

    async def disconnect(self, code: int) -> None:
        drawing = getattr(self, "drawing", None)
        if drawing is not None:
            drawing.cancel()
        await super().disconnect(code)


class UnknownSocketConsumer(AsyncWebsocketConsumer):
    """Any other socket address: accepted, then closed with 4404 (unrouted, Daphne answers 500)."""

    channel_layer_alias = None  # type: ignore[assignment]

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=NOT_FOUND)


def job_snapshot(job_id: int) -> tuple[str, list[progress.JobState]]:
    state = progress.snapshot(SyncJob.objects.select_related("team").get(pk=job_id))
    return progress.render("job", state), [state]


def staff_snapshot() -> tuple[str, list[progress.JobState]]:
    """Render every active job and the latest finished ones as the staff page's rows."""
    jobs = SyncJob.objects.select_related("team").order_by("-created_at")
    recent = list(jobs.filter(status__in=SyncJob.ACTIVE)) + list(
        jobs.exclude(status__in=SyncJob.ACTIVE)[:STAFF_RECENT_JOBS]
    )
    states = progress.snapshots(recent)
    return progress.render_list("staff", states), states


# -- the team overview's fragments, drawn by the pages --------------------------------------

# (team id, the viewer's roles, the data's version, the pull requests just changed) -> HTML.
OverviewRenderer = Callable[[int, frozenset[str], int, Sequence[int]], str]
# "data": what the team's refreshes change (counts, insights, recent pull requests…);
# "sync": the team's imports (the one running, the last one's outcome).
_OVERVIEW_RENDERERS: dict[str, OverviewRenderer] = {}
_RENDERED: OrderedDict[tuple[Any, ...], str] = OrderedDict()
RENDERED_KEPT = 64


def register_overview_renderer(part: str, renderer: OverviewRenderer) -> None:
    """Have ``renderer`` draw ``part`` ("data" or "sync") of the team overview's fragments."""
    _OVERVIEW_RENDERERS[part] = renderer


def refresh_version(refreshed_at: datetime | None) -> int:
    """Return the version of a team's refreshed data: its refresh time in microseconds."""
    return 0 if refreshed_at is None else int(refreshed_at.timestamp() * 1_000_000)


def _rendered(key: tuple[Any, ...], render: Callable[[], str]) -> str:
    """Render once per process for ``key``: every socket of the team shares the HTML."""
    if key in _RENDERED:
        _RENDERED.move_to_end(key)
        return _RENDERED[key]
    html = render()
    _RENDERED[key] = html
    while len(_RENDERED) > RENDERED_KEPT:
        _RENDERED.popitem(last=False)
    return html


def team_snapshot(team_id: int, roles: frozenset[str]) -> tuple[str, int, list[progress.JobState]]:
    """Render the overview's fragments from the database, with their version and active jobs."""
    refreshed_at = Team.objects.filter(pk=team_id).values_list("refreshed_at", flat=True).first()
    version = refresh_version(refreshed_at)
    data = _OVERVIEW_RENDERERS["data"](team_id, roles, version, ())
    sync = _OVERVIEW_RENDERERS["sync"](team_id, roles, 0, ())
    active = SyncJob.objects.select_related("team").filter(
        team_id=team_id, status__in=SyncJob.ACTIVE
    )
    return data + sync, version, progress.snapshots(list(active))
