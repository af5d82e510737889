"""Drill: the worker is killed with SIGKILL mid-sync (with every process it forked) and a new
one takes over: the job completes exactly, refetching at most the pages that were in flight,
and the page that watched it all shows the finished import."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from benchmarks import progress_truth
from sandbox.testing import RunningSandbox
from sync import services
from sync.models import RepoSync, SyncJob, Team, TrackedRepository
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.drills.visitors import Visitor
from tests.processes import wait_for
from tests.sync.importing import (
    since_of,
    start_sync_worker,
    truth_from_db,
    wait_finished,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 2  # of the worker that dies: at most two repositories in flight


def _graphql_requests(sandbox: RunningSandbox) -> int:
    by_endpoint = sandbox.control.counters()["by_endpoint"]
    return sum(count for name, count in by_endpoint.items() if "graphql" in name)


@dataclass(frozen=True)
class Killed:
    job: SyncJob
    open_repos: int  # repositories still open when the worker died
    at: float  # time.monotonic() of the kill
    stored: int  # pull requests stored then
    recorder: progress_truth.Recorder  # the job's socket, read since before the kill


@pytest.fixture
def dying_worker(
    acme: Team,
    github: RunningSandbox,
    daphne: DaphneServer,
    bob: User,
    request: pytest.FixtureRequest,
) -> Killed:
    """Start a job on a two-thread worker, watch its socket, and SIGKILL the worker once a page
    is written. Without the long-tail repositories every GraphQL request is a page, so the
    sandbox's request count tells how many pages were fetched twice.
    """
    for name in ("api", "web"):
        github.control.delete_repo("acme", name)
        TrackedRepository.objects.filter(full_name=f"acme/{name}").delete()
    github.control.set_latency(fixed_ms=300)
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}-killed.log"
    worker = start_sync_worker(log, threads=THREADS, GITHUB_API_URL=github.api_url)
    job = services.start_sync(team=acme, history_since=timezone.now() - timedelta(days=800))
    recorder = progress_truth.Recorder(
        f"ws://127.0.0.1:{daphne.port}/ws/sync/{job.pk}/",
        session_id=Visitor(daphne, bob).session_id,
        origin=daphne.url,
    )
    wait_for(lambda: RepoSync.objects.filter(job=job, pages_done__gt=0).exists(), timeout=30)
    worker.kill_tree()
    killed = time.monotonic()
    open_repos = RepoSync.objects.filter(job=job).exclude(status=RepoSync.Status.SUCCEEDED)
    stored = SyncJob.objects.get(pk=job.pk).prs_synced
    return Killed(job, open_repos.count(), killed, stored, recorder)


@pytest.fixture
def new_worker(github: RunningSandbox, request: pytest.FixtureRequest) -> Iterator[None]:
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}-new.log"
    worker = start_sync_worker(log, GITHUB_API_URL=github.api_url)
    yield
    worker.stop()


def test_it_finishes_a_job_whose_worker_was_killed_refetching_at_most_a_page_per_repository(
    acme: Team,
    github: RunningSandbox,
    dying_worker: Killed,
    new_worker: None,
    page_as: Callable[[User], Page],
    daphne: DaphneServer,
    bob: User,
) -> None:
    # Nothing helps the new worker along: its broker finds the dead one's messages by itself.
    job = wait_finished(dying_worker.job, timeout=90)
    frames = dying_worker.recorder.wait_finished(timeout=30)
    moved = next(f for f in frames if f.at > dying_worker.at and f.synced > dying_worker.stored)
    recovery = moved.at - dying_worker.at
    print(f"recovery: {recovery:.1f} s from the kill to a frame with more PRs")

    assert recovery <= 15
    assert job.status == SyncJob.Status.SUCCEEDED
    assert dying_worker.open_repos > 0  # the worker died mid-sync
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    assert 0 <= _refetched(github, job) <= dying_worker.open_repos  # a page each at most
    page = page_as(bob)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=30_000)
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("commits-synced")).to_have_text(f"{job.commits_synced:,}")


def test_it_resumes_a_stalled_job_on_request_without_fetching_a_page_twice_over(
    acme: Team, github: RunningSandbox, dying_worker: Killed, new_worker: None
) -> None:
    job, open_repos = dying_worker.job, dying_worker.open_repos

    services.resume_job(job=job)

    job = wait_finished(job, timeout=90)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    # The resumed messages and the dead worker's redelivered ones may each fetch the page the
    # dead worker had in hand: one refetch per open repository, plus what it was fetching.
    assert 0 <= _refetched(github, job) <= open_repos + THREADS


def _refetched(github: RunningSandbox, job: SyncJob) -> int:
    pages = sum(RepoSync.objects.filter(job=job).values_list("pages_done", flat=True))
    return _graphql_requests(github) - pages
