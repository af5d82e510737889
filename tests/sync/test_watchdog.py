"""The workers' watchdog: an import whose messages were lost is resumed by itself."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from django.utils import timezone

from sync import stalls, watchdog
from sync.models import RepoSync, SyncJob
from tests.staff.teams import make_team
from tests.sync.jobs import make_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue() -> Iterator[dramatiq.Broker]:
    broker = dramatiq.get_broker()
    broker.flush_all()
    yield broker
    broker.flush_all()


def _queued(broker: dramatiq.Broker) -> int:
    return int(broker.client.hlen(f"{broker.namespace}:default.msgs"))  # type: ignore[attr-defined]


def _silent_for(login: str, seconds: int, **fields: Any) -> SyncJob:
    """An import of its own team (one active import a team) last heard of ``seconds`` ago."""
    quiet = timezone.now() - timedelta(seconds=seconds)
    team = make_team(login, org_id=zlib.crc32(login.encode()))
    job = make_job(team, **{"status": SyncJob.Status.RUNNING, "started_at": quiet, **fields})
    SyncJob.objects.filter(pk=job.pk).update(created_at=quiet, heartbeat_at=quiet)
    return SyncJob.objects.get(pk=job.pk)


def test_it_resumes_an_import_stalled_past_the_grace(queue: dramatiq.Broker) -> None:
    job = _silent_for("acme", 200)  # stalled after 60 s, resumed 60 s after that

    assert watchdog.sweep() == [job.pk]

    assert _queued(queue) == job.repo_syncs.count()  # each open repository's next page
    fresh = SyncJob.objects.get(pk=job.pk)
    assert fresh.resumed_at is not None and fresh.version > job.version
    assert fresh.heartbeat_at == job.heartbeat_at  # sending again is not progress
    assert watchdog.sweep() == []  # resumed: not again before a whole stall's time


def test_it_leaves_an_import_that_is_alive_waiting_or_only_just_stalled(
    queue: dramatiq.Broker,
) -> None:
    _silent_for("alive", 10)
    _silent_for("quiet", 90)  # stalled, but for less than the grace
    waiting = _silent_for("waiting", 200, status=SyncJob.Status.WAITING)
    SyncJob.objects.filter(pk=waiting.pk).update(
        rate_limit_reset_at=timezone.now() + timedelta(minutes=20)
    )
    retrying = _silent_for("retrying", 200)
    RepoSync.objects.filter(job=retrying).update(retry_at=timezone.now() + timedelta(minutes=2))
    _silent_for("done", 200, status=SyncJob.Status.SUCCEEDED)

    assert watchdog.sweep() == []
    assert _queued(queue) == 0


def test_it_starts_again_an_import_no_worker_ever_picked_up(queue: dramatiq.Broker) -> None:
    job = _silent_for("never", 200, status=SyncJob.Status.QUEUED, started_at=None)

    assert watchdog.sweep() == [job.pk]
    assert _queued(queue) == 1  # its start message


def test_it_resumes_once_when_a_slow_sweep_overlaps_the_next(
    queue: dramatiq.Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _silent_for("overlap", 200)
    read_before = stalls.stalled_jobs(timezone.now())  # what the slower process's sweep read
    assert watchdog.sweep() == [job.pk]  # meanwhile another process's sweep resumed it

    monkeypatch.setattr(stalls, "stalled_jobs", lambda now: read_before)
    assert watchdog.sweep() == []
    assert _queued(queue) == job.repo_syncs.count()  # sent again once, not twice
