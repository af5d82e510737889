"""Helpers for sync engine tests: a team connected to the sandbox, truth rebuilt from the
database, jobs awaited, published events collected, a crashed worker's messages recovered."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from channels.layers import channel_layers
from django.conf import settings
from django.contrib.auth.models import User

from sandbox.github.world import truth_lines
from sandbox.testing import RunningSandbox
from sync.github.orgs import list_org_repos
from sync.models import (
    Integration,
    IntegrationCredential,
    PullRequest,
    RepoSync,
    SyncJob,
    Team,
    TrackedRepository,
)
from tests.conftest import ARTIFACTS
from tests.processes import Process, child_env, wait_for

DAY_S = 86400


def connect(team: Team, user: User, sandbox: RunningSandbox, login: str = "mona") -> str:
    """Give ``team`` a GitHub integration with a fresh sandbox token of ``login``."""
    token = sandbox.control.issue_token(login, ["read:org", "repo"])
    credential = IntegrationCredential.objects.create(
        user=user, provider="github", access_token=token, scopes="read:org,repo"
    )
    Integration.objects.update_or_create(
        team=team,
        provider="github",
        defaults={"credential": credential, "status": Integration.Status.ACTIVE},
    )
    return token


def track_all(team: Team, token: str) -> list[TrackedRepository]:
    """Track every unarchived repository of the team's organization."""
    found = list_org_repos(token, team.github_org_login)
    return [
        TrackedRepository.objects.create(
            team=team,
            github_id=repo.id,
            full_name=repo.full_name,
            private=repo.private,
            archived=repo.archived,
            pushed_at=repo.pushed_at,
        )
        for repo in found
        if not repo.archived
    ]


def start_sync_worker(
    log: Path,
    *,
    processes: int = 1,
    threads: int = 4,
    database_options: str = "",
    environment: Mapping[str, str] | None = None,
    **env: str,
) -> Process:
    """Start `manage.py rundramatiq` like tests.processes.start_worker, with ``environment``
    and ``env`` added to its environment.

    ``database_options`` is a query string for a SQLite DATABASE_URL ("?timeout=1"); without
    one the worker waits for SQLite's lock as settings say.
    """
    # An idle worker polls Redis every 100 ms at most (Dramatiq's default: 1 s per hop).
    environment = child_env(dramatiq_worker_timeout="100", **{**(environment or {}), **env})
    environment["DATABASE_URL"] += database_options
    args = ["manage.py", "rundramatiq", "--processes", str(processes), "--threads", str(threads)]
    return Process(args, environment, log)


@contextmanager
def worker_for_module(
    name: str, django_db_blocker: Any, sandbox: RunningSandbox, **env: str
) -> Iterator[Process]:
    """Run one worker for a whole test module (tests keep their rows apart by id)."""
    with django_db_blocker.unblock():
        log = ARTIFACTS / "logs" / f"worker-{name}.log"
        process = start_sync_worker(log, environment={"GITHUB_API_URL": sandbox.api_url, **env})
    try:
        yield process
    finally:
        process.stop()


def truth_from_db(team: Team, *, exclude: TrackedRepository | None = None) -> dict[str, Any]:
    """Rebuild the sandbox's ground truth (counts and checksum) from the database, leaving out
    ``exclude`` (a repository GitHub no longer has, which the sandbox's truth leaves out)."""
    pulls = (
        PullRequest.objects.filter(repository__team=team, deleted_at__isnull=True)
        .exclude(repository=exclude)
        .select_related("repository")
        .prefetch_related("reviews", "commits")
    )
    rows = [
        (
            pr.repository.github_id,
            pr.github_id,
            pr.number,
            pr.state.upper(),
            pr.merged_at,
            pr.updated_at,
            pr.additions,
            pr.deletions,
            pr.author_login,
            [(r.github_id, r.state, r.submitted_at, r.author_login) for r in pr.reviews.all()],
            [(c.sha, c.author_login or None) for c in pr.commits.all()],
        )
        for pr in pulls
    ]
    return {
        "pull_requests": len(rows),
        "reviews": sum(len(row[9]) for row in rows),
        "commits": sum(len(row[10]) for row in rows),
        "checksum": hashlib.sha256("\n".join(truth_lines(rows)).encode()).hexdigest(),
    }


def since_of(job: SyncJob) -> str:
    """Return the (single) history window start of ``job``'s repositories, ISO formatted."""
    sinces = set(RepoSync.objects.filter(job=job).values_list("since", flat=True))
    assert len(sinces) == 1, sinces
    return next(iter(sinces)).isoformat()


def wait_finished(job: SyncJob, timeout: float = 60) -> SyncJob:
    """Wait until ``job`` ends (any final status) and return it fresh."""

    def finished() -> SyncJob | None:
        fresh = SyncJob.objects.get(pk=job.pk)
        return fresh if fresh.is_finished else None

    return wait_for(finished, timeout=timeout, interval=0.1)  # type: ignore[return-value]


def forget_github_budgets() -> None:
    """Drop the budgets the sync remembered in Redis (tokens repeat after a sandbox reset)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}:github:*"):
        client.delete(key)


class GroupListener:
    """Collect the messages published to a channel-layer group, in a thread of its own."""

    STOP = "listener.stop"

    def __init__(self, group: str) -> None:
        self.group = group
        self.messages: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._layer: Any = None
        self._channel = ""
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> GroupListener:
        self._thread.daemon = True
        self._thread.start()
        assert self._ready.wait(10), "listener did not join its group"
        return self

    def __exit__(self, *exc: object) -> None:
        stop = self._layer.send(self._channel, {"type": self.STOP})
        try:
            asyncio.run_coroutine_threadsafe(stop, self._loop).result(1)
            self._thread.join(1)
        except TimeoutError:
            pass  # a blocked pop on the embedded Redis: the daemon thread ends with the run

    def states(self) -> list[dict[str, Any]]:
        # A team's group also hears other news ("team.refreshed", sync.freshness): job states only.
        return [m["state"] for m in list(self.messages) if m["type"] == "sync.update"]

    def wait_for_state(self, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        """Return the first published state for which ``predicate`` is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for state in self.states():
                if predicate(state):
                    return state
            time.sleep(0.05)
        raise AssertionError(f"no published state matched; got {self.summary()}")

    def summary(self) -> list[tuple[str, int]]:
        return [(s["status"], s["version"]) for s in self.states()]

    def _run(self) -> None:
        self._loop.run_until_complete(self._listen())
        self._loop.close()

    async def _listen(self) -> None:
        self._layer = channel_layers.make_backend("default")
        self._channel = await self._layer.new_channel()
        await self._layer.group_add(self.group, self._channel)
        self._ready.set()
        while True:
            try:
                message = await self._layer.receive(self._channel)
            except redis.exceptions.TimeoutError:
                continue  # redis-py may time out a blocking pop; the message stays in Redis
            if message["type"] == self.STOP:
                break
            self.messages.append(message)
        await self._layer.group_discard(self.group, self._channel)
        # The layer's last receive leaves a clean-up task behind: let it finish first.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        await asyncio.gather(*others, return_exceptions=True)
