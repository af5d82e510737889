from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Count
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import PullRequest, RepoSync, Review, SyncJob, Team, TrackedRepository
from tests.processes import Process, wait_for
from tests.sync.importing import (
    connect,
    forget_github_budgets,
    since_of,
    track_all,
    truth_from_db,
    wait_finished,
    worker_for_module,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ALL_HISTORY = timedelta(days=800)


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: Any, sandbox: RunningSandbox
) -> Iterator[Process]:
    """One real worker process for the module, on this run's database, Redis and sandbox."""
    with worker_for_module(__name__.rsplit(".", 1)[-1], django_db_blocker, sandbox) as process:
        yield process


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Team:
    forget_github_budgets()
    token = connect(team, alice, github)
    track_all(team, token)
    return team


def _snapshot(team: Team) -> dict[int, tuple[object, ...]]:
    pulls = PullRequest.objects.filter(repository__team=team).annotate(
        reviews_count=Count("reviews")
    )
    return {
        pr.github_id: (pr.title, pr.state, pr.updated_at, pr.merged_at, pr.reviews_count)
        for pr in pulls
    }


def _graphql_requests(sandbox: RunningSandbox) -> int:
    by_endpoint = sandbox.control.counters()["by_endpoint"]
    return sum(count for name, count in by_endpoint.items() if "graphql" in name)


def test_it_imports_the_organization_exactly_as_github_has_it(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    since = timezone.now() - ALL_HISTORY

    job = wait_finished(services.start_sync(team=acme, history_since=since))

    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    truth = github.control.truth("acme", since=since_of(job))
    assert truth["pull_requests"] == 400
    assert truth_from_db(acme) == truth
    long_tail = PullRequest.objects.annotate(c=Count("commits", distinct=True))
    assert long_tail.filter(c__gt=100).exists()
    assert PullRequest.objects.annotate(r=Count("reviews")).filter(r__gt=50).exists()
    # Apps are not members, nor are deleted accounts (GitHub's "ghost").
    people = PullRequest.objects.exclude(author_login__endswith="[bot]").exclude(
        author_login="ghost"
    )
    assert people.exists() and not people.filter(author=None).exists()
    assert PullRequest.objects.filter(author_login__endswith="[bot]").exists()
    assert not Review.objects.filter(author=None).exists()
    assert (job.prs_synced, job.prs_total, job.repos_done) == (400, 400, job.repos_total)
    assert job.eta_seconds is None and job.percent == 100
    acme.refresh_from_db()
    assert acme.refreshed_by == "import" and acme.refreshed_at >= job.started_at  # type: ignore[operator]


def test_it_imports_the_default_history_window(
    acme: Team, github: RunningSandbox, worker: Process, settings: object
) -> None:
    job = wait_finished(services.start_sync(team=acme))

    assert job.status == SyncJob.Status.SUCCEEDED
    window_start = RepoSync.objects.filter(job=job).first().since  # type: ignore[union-attr]
    expected = timezone.now() - timedelta(days=settings.SYNC_HISTORY_DAYS)  # type: ignore[attr-defined]
    assert abs((window_start - expected).total_seconds()) < 120
    truth = github.control.truth("acme", since=since_of(job))
    assert 0 < truth["pull_requests"] < 400
    assert truth_from_db(acme) == truth


def test_it_syncs_incrementally_exactly_what_changed(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    first = wait_finished(services.start_sync(team=acme))
    before = _snapshot(acme)
    in_window = PullRequest.objects.filter(repository__full_name="acme/billing").order_by(
        "-updated_at"
    )
    updated, reviewed = in_window[2], in_window[5]
    old_open = _oldest_open_pull(github, "billing", outside=set(before))
    github.control.update_pull("acme", "billing", updated.number, title="Renamed in GitHub")
    github.control.review_pull("acme", "billing", reviewed.number, by="mona")
    merged = github.control.merge_pull("acme", "billing", old_open)
    github.control.reset_counters()

    job = wait_finished(services.start_sync(team=acme, kind=SyncJob.Kind.INCREMENTAL))

    assert job.status == SyncJob.Status.SUCCEEDED
    after = _snapshot(acme)
    changed = {key for key in after if before.get(key) != after[key]}
    assert changed == {updated.github_id, reviewed.github_id, merged["id"]}
    assert after[merged["id"]][1] == PullRequest.State.MERGED
    assert after[updated.github_id][0] == "Renamed in GitHub"
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(first))
    counters = github.control.counters()
    repos = TrackedRepository.objects.filter(team=acme).count()
    # One query counting every repository's changes (1 point), then one small page each.
    assert _graphql_requests(github) == repos + 1
    assert counters["requests"] <= repos + 3  # plus the members (admins, everyone)
    assert counters["graphql_points_total"] == repos + 1


def _oldest_open_pull(github: RunningSandbox, repo: str, *, outside: set[int]) -> int:
    """Return the number of an open PR last updated before the imported window."""
    from sync.github.client import make_github

    token = github.control.issue_token("mona")
    pulls = (
        make_github(token)
        .get_repo(f"acme/{repo}")
        .get_pulls(state="open", sort="updated", direction="asc")
    )
    return next(pr.number for pr in pulls if pr.id not in outside)


def test_it_extends_history_to_an_older_date_importing_only_the_missing_range(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    recent = timezone.now() - timedelta(days=120)
    wait_finished(services.start_sync(team=acme, history_since=recent))
    before = _snapshot(acme)
    older = timezone.now() - timedelta(days=400)

    job = wait_finished(services.start_sync(team=acme, kind=SyncJob.Kind.EXTEND, extend_to=older))

    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == github.control.truth("acme", since=older.isoformat())
    after = _snapshot(acme)
    assert {key: after[key] for key in before} == before
    assert len(after) > len(before)
    synced_until = set(TrackedRepository.objects.values_list("synced_until", flat=True))
    assert synced_until == {older}


def test_it_resyncs_one_repository_in_full_without_changing_anything(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    wait_finished(services.start_sync(team=acme))
    before = truth_from_db(acme)
    repository = TrackedRepository.objects.get(full_name="acme/api")

    job = wait_finished(services.resync_repository(repository=repository))

    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.kind == SyncJob.Kind.FULL
    assert job.prs_synced == PullRequest.objects.filter(repository=repository).count()
    assert truth_from_db(acme) == before


def test_it_stops_a_cancelled_job_between_pages(
    acme: Team, github: RunningSandbox, worker: Process
) -> None:
    github.control.set_latency(fixed_ms=400)
    job = services.start_sync(team=acme, history_since=timezone.now() - ALL_HISTORY)
    wait_for(lambda: RepoSync.objects.filter(job=job, pages_done__gt=0).exists(), timeout=30)

    services.cancel_job(job=job)

    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    statuses = list(RepoSync.objects.filter(job=job).values_list("status", flat=True))
    assert RepoSync.Status.CANCELLED in statuses
    assert set(statuses) <= {RepoSync.Status.CANCELLED, RepoSync.Status.SUCCEEDED}
    requests = _settled_requests(github)  # a page already in flight may finish its fetch
    time.sleep(1.5)
    assert _graphql_requests(github) == requests
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED
    assert list(RepoSync.objects.filter(job=job).values_list("status", flat=True)) == statuses


def _settled_requests(github: RunningSandbox) -> int:
    """Return the GraphQL request count once it stopped moving for a second."""
    count, since = _graphql_requests(github), time.monotonic()
    while time.monotonic() - since < 1:
        time.sleep(0.1)
        now = _graphql_requests(github)
        if now != count:
            count, since = now, time.monotonic()
    return count
