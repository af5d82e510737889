"""Drill: Redis restarted mid-sync.

Daphne and a `rundramatiq` worker run on a Redis of the drill's own (tests/drills/redis_server),
which is shut down while the import is half-way and started again a few seconds later on the
same port with its data. Nobody touches the processes: the worker and the web reconnect by
themselves, the page reconnects to a snapshot read from the database, and the job completes
with the database equal to the sandbox's ground truth.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from sandbox.testing import RunningSandbox
from sync.models import RepoSync, SyncJob, Team
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.drills.redis_server import DrillRedis, available_kinds, drill_redis
from tests.processes import Process, wait_for
from tests.sync.importing import since_of, start_sync_worker, truth_from_db, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OpenPage = Callable[[User], Page]
DOWN_SECONDS = 5
# The import the overview starts covers the sandbox's whole history: a few pages a repository.
HISTORY_DAYS = 800
PAGES_BEFORE_RESTART = 4
SLOW_GITHUB_MS = 10_000  # well under the client's timeout (GITHUB_TIMEOUT, 15 s)


@pytest.fixture(params=available_kinds())
def redis_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DrillRedis]:
    server = drill_redis(request.param, tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def daphne(
    request: pytest.FixtureRequest, redis_server: DrillRedis, transactional_db: None
) -> Iterator[DaphneServer]:
    """Daphne on the drill's Redis (the run's REDIS_PREFIX is kept)."""
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        REDIS_URL=redis_server.url,
        SYNC_HISTORY_DAYS=str(HISTORY_DAYS),
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def drill_worker(
    request: pytest.FixtureRequest, redis_server: DrillRedis, github: RunningSandbox
) -> Iterator[Process]:
    log = ARTIFACTS / "logs" / request.node.name / "worker.log"
    worker = start_sync_worker(log, GITHUB_API_URL=github.api_url, REDIS_URL=redis_server.url)
    yield worker
    worker.stop()


def _start_import_from_the_overview(page: Page, daphne: DaphneServer) -> SyncJob:
    """Alice asks for an import through Daphne, which queues it on the drill's Redis."""
    page.goto(f"{daphne.url}/onboarding/complete/")
    page.get_by_role("button", name="Sync new activity now").click()
    page.wait_for_url(re.compile(r"/onboarding/sync/\d+/$"))
    job_id = int(re.findall(r"/onboarding/sync/(\d+)/", page.url)[0])
    return SyncJob.objects.get(pk=job_id)


def _pages_done(job: SyncJob) -> int:
    return sum(RepoSync.objects.filter(job=job).values_list("pages_done", flat=True))


def _readiness(daphne: DaphneServer) -> tuple[int, dict[str, object]]:
    answer = requests.get(f"{daphne.url}/readyz", timeout=30)
    return answer.status_code, answer.json()


def test_it_recovers_by_itself_from_a_redis_restart_mid_sync(
    page_as: OpenPage,
    daphne: DaphneServer,
    redis_server: DrillRedis,
    drill_worker: Process,
    acme: Team,
    alice: User,
    bob: User,
    github: RunningSandbox,
) -> None:
    github.control.set_latency(fixed_ms=300)
    job = _start_import_from_the_overview(page_as(alice), daphne)
    page = page_as(bob)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "connected")
    wait_for(lambda: _pages_done(job) >= PAGES_BEFORE_RESTART, timeout=60)

    redis_server.stop()
    down_at = time.monotonic()
    synced_while_down = SyncJob.objects.get(pk=job.pk)
    asked = time.monotonic()
    status, ready = _readiness(daphne)  # the probe does not wait for Redis to come back
    assert time.monotonic() - asked < 5
    assert status == 503, ready
    assert ready["checks"]["redis"]["ok"] is False  # type: ignore[index]
    assert ready["checks"]["broker"]["ok"] is False  # type: ignore[index]
    expect(indicator).to_have_attribute("data-state", "reconnecting", timeout=10_000)
    time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_at)))
    assert not SyncJob.objects.get(pk=job.pk).is_finished  # the restart falls mid-sync

    # GitHub slows down until the page is back, so the rest of the import reaches it
    # through the worker's publisher (reconnected too), not only through its snapshot.
    github.control.set_latency(fixed_ms=SLOW_GITHUB_MS)
    redis_server.start()
    up_at, up_moment = time.monotonic(), timezone.now()
    expect(indicator).to_have_attribute("data-state", "connected", timeout=60_000)
    reconnected_s = time.monotonic() - up_at
    assert not SyncJob.objects.get(pk=job.pk).is_finished
    github.control.set_latency(fixed_ms=0)
    job = wait_finished(job, timeout=180)
    assert job.finished_at is not None
    done_s = (job.finished_at - up_moment).total_seconds()
    print(
        f"\n{redis_server.kind} down {DOWN_SECONDS} s with {synced_while_down.prs_synced} of "
        f"{job.prs_synced} pull requests imported; once it was back: socket connected again "
        f"in {reconnected_s:.1f} s, job done in {done_s:.1f} s (GitHub slowed until reconnected)"
    )

    assert job.status == SyncJob.Status.SUCCEEDED, (job.status, job.error_message)
    assert synced_while_down.prs_synced < job.prs_synced
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=30_000)
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("reviews-synced")).to_have_text(f"{job.reviews_synced:,}")
    expect(page.get_by_test_id("commits-synced")).to_have_text(f"{job.commits_synced:,}")
    expect(indicator).to_have_attribute("data-state", "connected")
    wait_for(lambda: _readiness(daphne)[0] == 200, timeout=30, interval=0.5)


# The watchdog's clock, shortened: stalled after 2 s of silence, resumed 1 s later.
WATCHDOG = {"SYNC_STALL_AFTER_SECONDS": "2", "SYNC_RESUME_AFTER_SECONDS": "1"}


def test_it_resumes_by_itself_when_redis_comes_back_without_its_data(
    page_as: OpenPage,
    daphne: DaphneServer,
    redis_server: DrillRedis,
    acme: Team,
    alice: User,
    bob: User,
    github: RunningSandbox,
    request: pytest.FixtureRequest,
) -> None:
    logs = ARTIFACTS / "logs" / request.node.name
    env = {"GITHUB_API_URL": github.api_url, "REDIS_URL": redis_server.url, **WATCHDOG}
    github.control.set_latency(fixed_ms=300)
    crashing = start_sync_worker(
        logs / "worker-crashed.log", environment={"SYNC_WATCHDOG_SECONDS": "1", **env}
    )
    job = _start_import_from_the_overview(page_as(alice), daphne)
    page = page_as(bob)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "connected")
    wait_for(lambda: _pages_done(job) >= PAGES_BEFORE_RESTART, timeout=60)

    # The host restarts: the worker dies with what it had fetched, and Redis (not persisting)
    # comes back empty. No message of the import is left anywhere.
    crashing.kill_tree()
    crashing.stop()
    redis_server.stop()
    redis_server.wipe()
    redis_server.start()
    github.control.set_latency(fixed_ms=0)
    assert not SyncJob.objects.get(pk=job.pk).is_finished
    worker = start_sync_worker(
        logs / "worker.log", environment={"SYNC_WATCHDOG_SECONDS": "1", **env}
    )
    try:
        job = wait_finished(job, timeout=120)
    finally:
        worker.stop()

    assert job.status == SyncJob.Status.SUCCEEDED, (job.status, job.error_message)
    assert f"resumed stalled job={job.pk}" in worker.output()
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    expect(indicator).to_have_attribute("data-state", "connected", timeout=60_000)
    expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=30_000)
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("commits-synced")).to_have_text(f"{job.commits_synced:,}")
