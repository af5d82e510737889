"""Drill: a first import over a real worker process and the sandbox says "recent activity ready"
when, and only when, every repository's recent pull requests are stored; older history follows,
and extending history and a full resync afterwards still end equal to GitHub's truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import progress, services
from sync.models import PullRequest, SyncJob, Team
from tests.conftest import ARTIFACTS
from tests.processes import Process
from tests.sync.importing import (
    GroupListener,
    connect,
    forget_github_budgets,
    since_of,
    start_sync_worker,
    track_all,
    truth_from_db,
    wait_finished,
)
from tests.sync.recent import recent_truth_from_db

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RECENT_DAYS = 30
FIRST_WINDOW = timedelta(days=400)
ALL_HISTORY = timedelta(days=800)


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox, settings: Any) -> Iterator[Team]:
    settings.SYNC_RECENT_DAYS = RECENT_DAYS
    github.control.set_latency(fixed_ms=30)
    forget_github_budgets()
    track_all(team, connect(team, alice, github))
    yield team
    dramatiq.get_broker().flush_all()


@pytest.fixture
def worker(request: pytest.FixtureRequest, github: RunningSandbox) -> Iterator[Process]:
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    process = start_sync_worker(
        log, threads=2, GITHUB_API_URL=github.api_url, SYNC_REPOS_IN_FLIGHT="2"
    )
    yield process
    process.stop()


def test_it_says_recent_activity_ready_once_every_repositorys_recent_prs_are_stored(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    with GroupListener(progress.team_group(acme.pk)) as listener:
        job = services.start_sync(team=acme, history_since=timezone.now() - ALL_HISTORY)
        said = listener.wait_for_state(lambda state: state["recent_ready_at"], timeout=60)
        job = wait_finished(job, timeout=120)

    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.recent_since is not None and job.recent_ready_at is not None
    line: datetime = job.recent_since
    # When the state said so, the database held every recent PR, as GitHub has it...
    truth = github.control.truth("acme", since=line.isoformat())
    assert truth["pull_requests"] > 0
    assert recent_truth_from_db(acme, since=line, seen_by=job.recent_ready_at) == truth
    # ... while older pages were still to come.
    assert said["status"] == SyncJob.Status.RUNNING
    assert said["prs_synced"] < said["prs_total"]
    later = PullRequest.objects.filter(repository__team=acme, seen_at__gt=job.recent_ready_at)
    assert later.exists() and not later.filter(updated_at__gte=line).exists()
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))


def test_it_extends_and_resyncs_a_recent_first_import_to_githubs_truth(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    first = services.start_sync(team=acme, history_since=timezone.now() - FIRST_WINDOW)
    first = wait_finished(first, timeout=120)
    assert first.status == SyncJob.Status.SUCCEEDED and first.recent_ready_at is not None

    extend = services.start_sync(
        team=acme, kind=SyncJob.Kind.EXTEND, extend_to=timezone.now() - ALL_HISTORY
    )
    extend = wait_finished(extend, timeout=120)
    assert extend.status == SyncJob.Status.SUCCEEDED and extend.recent_since is None
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(extend))

    repository = acme.repositories.order_by("-pk").first()
    assert repository is not None
    resync = wait_finished(services.resync_repository(repository=repository), timeout=120)
    assert resync.status == SyncJob.Status.SUCCEEDED and resync.recent_since is None
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(extend))
