"""An import takes its repositories a few at a time (SYNC_REPOS_IN_FLIGHT), so that the queue
holds a few chains of pages per import and the imports of many teams take turns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import services
from sync.engine import state
from sync.engine.steps import FinishJob, SendPage, StartNext
from sync.models import RepoSync, SyncJob, Team
from tests.conftest import ARTIFACTS
from tests.sync.importing import (
    connect,
    forget_github_budgets,
    since_of,
    start_sync_worker,
    track_all,
    truth_from_db,
    wait_finished,
)
from tests.sync.jobs import make_job

pytestmark = pytest.mark.django_db(transaction=True)

IN_FLIGHT = 2


def test_it_starts_repositories_up_to_the_limit_and_another_as_each_finishes(
    team: Team, settings: Any
) -> None:
    settings.SYNC_REPOS_IN_FLIGHT = IN_FLIGHT
    job = make_job(team, repos=5, status=SyncJob.Status.RUNNING)
    repos = list(job.repo_syncs.order_by("pk").values_list("pk", flat=True))

    assert state.start_next_repositories(job.pk) == [SendPage(repos[0], 0), SendPage(repos[1], 0)]
    assert state.start_next_repositories(job.pk) == []  # two in flight: no room

    RepoSync.objects.filter(pk=repos[0]).update(status=RepoSync.Status.SUCCEEDED)
    assert state.finish_if_done(job.pk) == [StartNext(job.pk)]
    assert state.start_next_repositories(job.pk) == [SendPage(repos[2], 0)]

    RepoSync.objects.filter(job=job).update(status=RepoSync.Status.SUCCEEDED)
    assert state.finish_if_done(job.pk) == [FinishJob(job.pk)]


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Iterator[Team]:
    forget_github_budgets()
    track_all(team, connect(team, alice, github))
    yield team
    dramatiq.get_broker().flush_all()


@pytest.mark.slow
def test_it_imports_a_job_a_few_repositories_at_a_time(
    acme: Team, github: RunningSandbox, request: pytest.FixtureRequest, settings: Any
) -> None:
    # Page order, so that a repository's turn ends only when it finishes; the turns of a
    # recent-first import are tests/sync/test_engine_recent.py's.
    settings.SYNC_RECENT_DAYS = 0
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    # One thread: every page in turn, so the order of the rows is the order of the work.
    worker = start_sync_worker(
        log, threads=1, GITHUB_API_URL=github.api_url, SYNC_REPOS_IN_FLIGHT=str(IN_FLIGHT)
    )
    try:
        job = services.start_sync(team=acme, history_since=timezone.now() - timedelta(days=800))
        job = wait_finished(job, timeout=90)
    finally:
        worker.stop()

    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    rows = RepoSync.objects.filter(job=job)
    starts = sorted(rows.values_list("started_at", flat=True))
    ends = sorted(rows.values_list("finished_at", flat=True))
    assert len(starts) > IN_FLIGHT
    # The third repository starts only after one finished, the fourth after two, and so on.
    for started, finished_before in zip(starts[IN_FLIGHT:], ends, strict=False):
        assert finished_before <= started
