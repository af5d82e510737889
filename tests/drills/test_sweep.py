"""Drill: no webhooks at all, only the scheduler (`manage.py runscheduler`) and a
`rundramatiq` worker, with a period of a few seconds. Changes made on GitHub after the import
(a review, a new title, a merge, a force-push, a member who leaves) are in the database within
one period and the time to sync them, equal to GitHub's truth; the sweeps that came while
another sync ran were skipped, and an idle organization afterwards costs one point a sweep.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import RepoSync, SyncJob, Team, TeamMember
from tests.conftest import ARTIFACTS
from tests.processes import Process, child_env, wait_for
from tests.sync.importing import since_of, start_sync_worker, truth_from_db, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ALL_HISTORY = timedelta(days=800)
PERIOD_S = 4.0
JITTER_S = 0.5
SYNC_S = 15  # the sweep's own job: a few repositories, a page each
SLOW_MS = 2000  # an incremental sync outlasts a period


@pytest.fixture
def processes(request: pytest.FixtureRequest, github: RunningSandbox) -> Iterator[Process]:
    logs = ARTIFACTS / "logs"
    env = {
        "GITHUB_API_URL": github.api_url,
        "SWEEP_PERIOD_SECONDS": str(PERIOD_S),
        "SWEEP_JITTER_SECONDS": str(JITTER_S),
    }
    worker = start_sync_worker(logs / f"worker-{request.node.name}.log", environment=env)
    scheduler = Process(
        ["manage.py", "runscheduler"],
        child_env(**env),
        logs / f"scheduler-{request.node.name}.log",
    )
    yield worker
    scheduler.stop()
    worker.stop()


def test_it_brings_the_database_to_githubs_truth_with_the_sweep_alone(
    acme: Team, github: RunningSandbox, processes: Process
) -> None:
    job = wait_finished(
        services.start_sync(team=acme, history_since=timezone.now() - ALL_HISTORY), timeout=120
    )
    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    # Someone presses "sync new changes" while GitHub is slow: the sweeps meanwhile skip.
    github.control.set_latency(fixed_ms=SLOW_MS)
    pressed = wait_finished(services.start_sync(team=acme, kind=SyncJob.Kind.INCREMENTAL))
    assert pressed.status == SyncJob.Status.SUCCEEDED, pressed.error_message
    assert f"sweep skipped team={acme.pk} points=0" in processes.output()
    assert f"job {pressed.pk} is running" in processes.output()
    github.control.set_latency(fixed_ms=0)
    leaving = TeamMember.objects.filter(team=acme).exclude(login="mona").order_by("-github_id")[0]
    time.sleep(1.1)  # GitHub's times are per second: the changes land after the import's mark

    changed_at = time.monotonic()
    github.control.review_pull("acme", "api", 3, by="alice", state="CHANGES_REQUESTED")
    github.control.update_pull("acme", "web", 5, title="Renamed while nobody watched")
    github.control.merge_pull("acme", "billing", 2)
    github.control.force_push("acme", "auth", 1, keep=1, add=2)
    github.control.remove_member("acme", leaving.login)
    truth = github.control.truth("acme", since=since_of(job))

    wait_for(
        lambda: truth_from_db(acme) == truth and TeamMember.objects.get(pk=leaving.pk).role == "",
        timeout=PERIOD_S + JITTER_S * 2 + SYNC_S,
        interval=0.5,
    )
    caught_up = time.monotonic() - changed_at
    sweeps = SyncJob.objects.filter(team=acme, kind=SyncJob.Kind.SWEEP)
    # One sweep, or two when a sweep fell between the changes: the next one took the rest.
    assert 1 <= sweeps.count() <= 2, list(sweeps.values("status", "repos_total"))
    synced = RepoSync.objects.filter(job__in=sweeps).values_list("repository__full_name")
    assert {name for (name,) in synced} == {"acme/api", "acme/web", "acme/billing", "acme/auth"}
    assert caught_up <= PERIOD_S + JITTER_S * 2 + SYNC_S
    acme.refresh_from_db()
    assert acme.refreshed_by == "sweep"

    # Idle: every sweep costs one GraphQL point (6 repositories), the members answer 304.
    for sweep in sweeps:
        wait_finished(sweep)
    swept_jobs = sweeps.count()
    github.control.reset_counters()
    time.sleep(PERIOD_S * 3)
    counters = github.control.counters()
    swept = counters["by_endpoint"].get("POST /graphql", 0)
    assert 2 <= swept <= 4
    assert counters["graphql_points_total"] == swept
    assert counters["requests"] - swept == counters["not_modified"]
    assert sweeps.count() == swept_jobs  # nothing changed: no sync started
