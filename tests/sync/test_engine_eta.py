from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.engine import eta
from sync.models import RepoSync, SyncJob, Team, TrackedRepository

pytestmark = pytest.mark.django_db


def _job(team: Team, *repos: dict[str, object]) -> SyncJob:
    job = SyncJob.objects.create(
        team=team, status=SyncJob.Status.RUNNING, started_at=timezone.now() - timedelta(seconds=10)
    )
    for number, fields in enumerate(repos, start=1):
        repository = TrackedRepository.objects.create(
            team=team, github_id=number, full_name=f"acme/repo-{number}"
        )
        RepoSync.objects.create(job=job, repository=repository, **fields)
    return job


def test_it_forecasts_from_throughput_and_the_pull_requests_left(team: Team) -> None:
    job = _job(
        team,
        {"status": RepoSync.Status.RUNNING, "prs_total": 300, "prs_synced": 100},
        {"status": RepoSync.Status.QUEUED},  # not started: like the ones that did
    )

    forecast = eta.forecast(job=job, prs_synced=100, now=timezone.now(), page_size=100, budget=None)

    assert forecast.prs_left == 500
    assert forecast.seconds == pytest.approx(50, abs=1)  # 500 left at 10 PRs/s


def test_it_counts_only_the_pull_requests_inside_the_history_window(team: Team) -> None:
    now = timezone.now()
    job = _job(
        team,
        {
            "status": RepoSync.Status.RUNNING,
            "prs_total": 1000,
            "prs_synced": 100,
            "since": now - timedelta(days=10),
            "newest_seen": now,
            "oldest_seen": now - timedelta(days=5),  # half the window in 100 PRs
        },
    )

    forecast = eta.forecast(job=job, prs_synced=100, now=now, page_size=100, budget=None)

    assert forecast.prs_left == 100


def test_it_adds_the_wait_for_a_budget_too_small_for_what_is_left(team: Team) -> None:
    now = timezone.now()
    job = _job(team, {"status": RepoSync.Status.RUNNING, "prs_total": 600, "prs_synced": 100})
    reset_at = now + timedelta(minutes=10)

    enough = eta.forecast(job=job, prs_synced=100, now=now, page_size=100, budget=(4000, reset_at))
    short = eta.forecast(job=job, prs_synced=100, now=now, page_size=100, budget=(20, reset_at))

    assert enough.seconds == pytest.approx(50, abs=1)
    assert short.seconds == pytest.approx(50 + 600, abs=1)


def test_it_has_no_forecast_before_anything_was_imported(team: Team) -> None:
    job = _job(team, {"status": RepoSync.Status.RUNNING, "prs_total": 600})

    forecast = eta.forecast(job=job, prs_synced=0, now=timezone.now(), page_size=100, budget=None)

    assert forecast.seconds is None
    assert forecast.prs_left == 600
