"""Drill: is the progress page honest? Every socket frame of a 25-repository import, recorded
from Daphne while a real worker imports from the sandbox, judged by what a user sees in it
(``benchmarks.progress_truth``): the percent never goes back, never shows 95% while pages are
left, stays within 10 points of the PRs stored, and the time left converges. A fresh import,
an incremental sync and an extend-history import, each ending equal to GitHub's truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from benchmarks import progress_truth
from sandbox.testing import RunningSandbox, start_sandbox
from sync import services
from sync.github.orgs import list_org_repos
from sync.models import PullRequest, SyncJob, Team, TrackedRepository
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.drills.visitors import Visitor
from tests.processes import Process
from tests.sync.importing import (
    connect,
    forget_github_budgets,
    since_of,
    start_sync_worker,
    track_all,
    truth_from_db,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

REPOS = 25


@pytest.fixture(scope="module")
def big_github() -> Iterator[RunningSandbox]:
    running = start_sandbox(
        "--seed", "11", "--repos", str(REPOS + 5), "--prs", "2500", "--members", "8"
    )
    yield running
    running.stop()


@pytest.fixture
def acme(team: Team, alice: User, big_github: RunningSandbox, settings: object) -> Team:
    big_github.control.reset()
    big_github.control.set_latency(fixed_ms=60, per_node_ms=0.5)
    settings.GITHUB_API_URL = big_github.api_url  # type: ignore[attr-defined]
    forget_github_budgets()
    token = connect(team, alice, big_github)
    tracked = track_all(team, token)  # the unarchived ones: more than REPOS
    kept = {repo.full_name for repo in tracked[:REPOS]}
    # The others (archived ones too) leave GitHub, so that its truth is of the REPOS imported.
    for repo in list_org_repos(token, "acme"):
        if repo.full_name not in kept:
            big_github.control.delete_repo(*repo.full_name.split("/"))
    TrackedRepository.objects.filter(team=team).exclude(full_name__in=kept).delete()
    assert team.repositories.count() == REPOS
    return team


@pytest.fixture
def web(request: pytest.FixtureRequest, big_github: RunningSandbox) -> Iterator[DaphneServer]:
    server = DaphneServer(ARTIFACTS / "logs" / request.node.name, GITHUB_API_URL=big_github.api_url)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def worker(request: pytest.FixtureRequest, big_github: RunningSandbox) -> Iterator[Process]:
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    process = start_sync_worker(log, threads=4, GITHUB_API_URL=big_github.api_url)
    yield process
    process.stop()


def _watched(
    web: DaphneServer, viewer: User, start: object
) -> tuple[SyncJob, list[progress_truth.Frame]]:
    """Start an import with ``start()`` and record its page's socket until it is over."""
    job: SyncJob = start()  # type: ignore[operator]
    visitor = Visitor(web, viewer)
    recorder = progress_truth.Recorder(
        f"ws://127.0.0.1:{web.port}/ws/sync/{job.pk}/",
        session_id=visitor.session_id,
        origin=web.url,
    )
    frames = recorder.wait_finished(timeout=240)
    return SyncJob.objects.get(pk=job.pk), frames


def _assert_honest(frames: list[progress_truth.Frame], job: SyncJob) -> None:
    verdict = progress_truth.judge(frames)
    print(f"job {job.pk} ({job.kind}):", progress_truth.describe(verdict))
    assert verdict.honest, verdict.problems
    assert frames[-1].percent == 100 and frames[-1].synced == job.prs_synced
    assert any(frame.percent is None for frame in frames[:3])  # it counted before it showed
    assert len(frames) >= 10


def test_it_tells_the_truth_about_a_fresh_import(
    acme: Team, big_github: RunningSandbox, web: DaphneServer, worker: Process, bob: User
) -> None:
    since = timezone.now() - timedelta(days=800)

    job, frames = _watched(web, bob, lambda: services.start_sync(team=acme, history_since=since))

    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == big_github.control.truth("acme", since=since_of(job))
    _assert_honest(frames, job)  # type: ignore[arg-type]


def test_it_tells_the_truth_about_an_incremental_sync(
    acme: Team, big_github: RunningSandbox, web: DaphneServer, worker: Process, bob: User
) -> None:
    first, _ = _watched(
        web,
        bob,
        lambda: services.start_sync(team=acme, history_since=timezone.now() - timedelta(days=800)),
    )
    changed = list(
        PullRequest.objects.filter(repository__team=acme)
        .order_by("updated_at")
        .values_list("repository__full_name", "number")[:: max(1, first.prs_synced // 120)]
    )
    for full_name, number in changed:
        owner, name = full_name.split("/")
        big_github.control.update_pull(owner, name, number, title=f"Changed #{number}")

    job, frames = _watched(
        web, bob, lambda: services.start_sync(team=acme, kind=SyncJob.Kind.INCREMENTAL)
    )

    assert job.status == SyncJob.Status.SUCCEEDED and job.prs_synced >= len(changed)
    assert truth_from_db(acme) == big_github.control.truth("acme", since=since_of(first))
    _assert_honest(frames, job)  # type: ignore[arg-type]


def test_it_tells_the_truth_about_extending_history(
    acme: Team, big_github: RunningSandbox, web: DaphneServer, worker: Process, bob: User
) -> None:
    recent = timezone.now() - timedelta(days=90)
    _watched(web, bob, lambda: services.start_sync(team=acme, history_since=recent))
    older = timezone.now() - timedelta(days=800)

    job, frames = _watched(
        web,
        bob,
        lambda: services.start_sync(team=acme, kind=SyncJob.Kind.EXTEND, extend_to=older),
    )

    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == big_github.control.truth("acme", since=since_of(job))
    _assert_honest(frames, job)  # type: ignore[arg-type]
