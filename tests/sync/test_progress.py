from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.db import transaction
from django.utils import timezone

from sync import progress
from sync.models import RepoSync, SyncJob, Team
from tests.sync.jobs import change_job, make_job, worker_alive

pytestmark = pytest.mark.django_db(transaction=True)


class Listener:
    """A channel of the test's own in the job's three groups, read as a consumer would."""

    def __init__(self, job: SyncJob) -> None:
        # A layer instance and a plain (not process-local) channel of its own: a receive that
        # times out loses nothing.
        self.layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        self.channel = f"test-listener-{uuid.uuid4().hex}"
        self.job = job
        self.groups = [
            progress.job_group(job.pk),
            progress.team_group(job.team_id),
            progress.STAFF_GROUP,
        ]
        for group in self.groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def receive(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        async def collect() -> list[dict[str, Any]]:
            received: list[dict[str, Any]] = []
            async with asyncio.timeout(timeout):
                while len(received) < count:
                    received.append(await self.layer.receive(self.channel))
            return received

        return async_to_sync(collect)()

    def drain(self, quiet: float = 0.8) -> list[dict[str, Any]]:
        """Return every message that arrives until none has for ``quiet`` seconds."""

        async def collect() -> list[dict[str, Any]]:
            received: list[dict[str, Any]] = []
            while True:
                try:
                    async with asyncio.timeout(quiet):
                        received.append(await self.layer.receive(self.channel))
                except TimeoutError:
                    return received

        return async_to_sync(collect)()

    def close(self) -> None:
        for group in self.groups:
            async_to_sync(self.layer.group_discard)(group, self.channel)


@pytest.fixture
def listener(team: Team) -> Iterator[Listener]:
    listener = Listener(make_job(team, status=SyncJob.Status.RUNNING))
    yield listener
    listener.close()


def test_it_publishes_to_the_job_team_and_staff_after_commit(listener: Listener) -> None:
    job = listener.job

    change_job(job, prs_synced=42, urgent=True)

    messages = listener.receive(3)
    assert {message["type"] for message in messages} == {"sync.update"}
    assert {message["version"] for message in messages} == {1}
    assert all(message["state"]["prs_synced"] == 42 for message in messages)
    html = "".join(message["html"] for message in messages)
    assert 'data-testid="prs-synced">42<' in html  # the progress page
    assert f'id="team-sync-job-{job.pk}"' in html  # the team's summary
    assert f'id="staff-sync-job-{job.pk}"' in html  # the staff row


def test_it_publishes_nothing_for_a_rolled_back_change(listener: Listener) -> None:
    job = listener.job

    with pytest.raises(RuntimeError), transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(prs_synced=99, version=9)
        progress.job_changed(job.pk, urgent=True)
        raise RuntimeError("the page failed")

    with pytest.raises(TimeoutError):
        listener.receive(1, timeout=0.5)


def test_it_coalesces_a_burst_into_the_latest_state(listener: Listener) -> None:
    job = listener.job

    started = time.monotonic()
    for count in range(1, 21):
        change_job(job, prs_synced=count)
    progress.publish_now(job.pk)

    job_messages = [m for m in listener.drain() if m["group"] == progress.job_group(job.pk)]
    assert job_messages[-1]["state"]["prs_synced"] == 20
    assert job_messages[-1]["version"] == 20
    elapsed = time.monotonic() - started
    assert len(job_messages) <= 2 + elapsed * progress.MAX_PER_SECOND


def test_it_marks_a_job_no_worker_picked_up_as_stalled(listener: Listener) -> None:
    job = listener.job
    SyncJob.objects.filter(pk=job.pk).update(
        status=SyncJob.Status.QUEUED,
        created_at=timezone.now() - timedelta(seconds=16),
        started_at=None,
    )
    worker_alive()

    progress.publish_now(job.pk)

    page = next(m for m in listener.receive(3) if "sync-progress" in m["html"])
    assert 'data-testid="stalled-banner"' in page["html"]


def test_it_sends_each_repositorys_row(listener: Listener) -> None:
    job = listener.job
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-2").update(
        status=RepoSync.Status.FAILED,
        error_code="repo_gone",
        error_message="Repository was deleted",
    )

    progress.publish_now(job.pk)

    page = next(m for m in listener.receive(3) if "sync-progress" in m["html"])
    assert "acme/repo-1" in page["html"]
    assert "Repository was deleted" in page["html"]
