from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.engine import eta
from sync.models import RepoSync, SyncJob, Team, TrackedRepository

pytestmark = pytest.mark.django_db


def _job(team: Team, *repos: dict[str, object], **fields: object) -> SyncJob:
    began = timezone.now() - timedelta(seconds=10)
    job = SyncJob.objects.create(
        team=team,
        status=SyncJob.Status.RUNNING,
        started_at=began,
        counted_at=began,
        prs_synced=sum(int(repo.get("prs_synced", 0)) for repo in repos),  # type: ignore[call-overload]
        **fields,
    )
    for number, repo_fields in enumerate(repos, start=1):
        repository = TrackedRepository.objects.create(
            team=team, github_id=number, full_name=f"acme/repo-{number}"
        )
        RepoSync.objects.create(job=job, repository=repository, **repo_fields)
    return job


def _estimate(job: SyncJob, **kwargs: object) -> eta.Estimate:
    options: dict[str, object] = {"now": timezone.now(), "page_size": 100, "budget": None}
    return eta.estimate(job=job, **{**options, **kwargs})  # type: ignore[arg-type]


def test_it_forecasts_from_throughput_and_the_counted_pull_requests_left(team: Team) -> None:
    job = _job(
        team,
        {"status": RepoSync.Status.RUNNING, "prs_expected": 300, "prs_synced": 100},
        {"status": RepoSync.Status.QUEUED, "prs_expected": 200},
    )

    estimate = _estimate(job)

    assert estimate.sized
    assert estimate.prs_left == 400
    assert estimate.percent == 20
    assert estimate.seconds == pytest.approx(40, abs=1)  # 400 left at 10 PRs/s


def test_it_has_no_percent_while_a_repository_is_not_sized(team: Team) -> None:
    job = _job(
        team,
        {"status": RepoSync.Status.RUNNING, "prs_expected": 300, "prs_synced": 100},
        {"status": RepoSync.Status.QUEUED},  # GitHub gave no count, and no page came yet
    )

    estimate = _estimate(job)

    assert not estimate.sized
    assert estimate.percent == 0
    assert estimate.seconds is None


def test_it_sizes_an_uncounted_repository_from_the_time_its_pages_covered(team: Team) -> None:
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

    assert _estimate(job, now=now).prs_left == 100


def test_it_stays_under_95_percent_while_a_repository_has_pages_left(team: Team) -> None:
    job = _job(
        team,
        {"status": RepoSync.Status.SUCCEEDED, "prs_expected": 990, "prs_synced": 990},
        {"status": RepoSync.Status.RUNNING, "prs_expected": 10, "prs_synced": 10},
    )

    assert _estimate(job).percent == eta.LAST_STRETCH - 1


def test_it_counts_a_failed_repository_as_done_with_what_it_imported(team: Team) -> None:
    job = _job(
        team,
        {"status": RepoSync.Status.FAILED, "prs_expected": 500, "prs_synced": 50},
        {"status": RepoSync.Status.RUNNING, "prs_expected": 100, "prs_synced": 50},
    )

    estimate = _estimate(job)

    assert estimate.prs_expected == 150
    assert estimate.percent == 66


def test_it_adds_the_wait_for_a_budget_too_small_for_what_is_left(team: Team) -> None:
    now = timezone.now()
    job = _job(team, {"status": RepoSync.Status.RUNNING, "prs_expected": 600, "prs_synced": 100})
    reset_at = now + timedelta(minutes=10)

    enough = _estimate(job, now=now, budget=(4000, reset_at))
    short = _estimate(job, now=now, budget=(20, reset_at))

    assert enough.seconds == pytest.approx(50, abs=1)
    assert short.seconds == pytest.approx(50 + 600, abs=1)


def test_it_smooths_a_new_estimate_against_the_last_one_counted_down(team: Team) -> None:
    now = timezone.now()
    job = _job(
        team,
        {"status": RepoSync.Status.RUNNING, "prs_expected": 600, "prs_synced": 100},
        eta_seconds=110,
        eta_at=now - timedelta(seconds=10),  # 100 s left by the last estimate
    )

    # The fresh estimate is 50 s: 30% of it and 70% of the last one counted down.
    assert _estimate(job, now=now).seconds == pytest.approx(0.3 * 50 + 0.7 * 100, abs=1)


def test_it_has_no_forecast_before_anything_was_imported(team: Team) -> None:
    job = _job(team, {"status": RepoSync.Status.RUNNING, "prs_expected": 600})

    estimate = _estimate(job)

    assert estimate.seconds is None
    assert estimate.prs_left == 600
