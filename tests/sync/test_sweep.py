from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import services, sweep
from sync.models import PullRequest, SyncJob, Team, TeamMember
from tests.processes import Process
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
    with worker_for_module("sweep", django_db_blocker, sandbox) as process:
        yield process


@pytest.fixture
def imported(team: Team, alice: User, github: RunningSandbox, worker: Process) -> Team:
    """Acme connected with alice's token, every repository imported, and swept once (so the
    member listing's ETags are known)."""
    forget_github_budgets()
    connect(team, alice, github)
    track_all(team, team.integrations.get().credential.access_token)  # type: ignore[union-attr]
    job = wait_finished(services.start_sync(team=team, history_since=timezone.now() - ALL_HISTORY))
    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    team.since = since_of(job)  # type: ignore[attr-defined]
    assert sweep.sweep_team(team.pk).status == "unchanged"
    return team


def _rest_requests(counters: dict[str, Any]) -> int:
    return sum(n for name, n in counters["by_endpoint"].items() if "graphql" not in name)


def test_it_brings_a_change_made_on_github_into_the_database_after_one_sweep(
    imported: Team, github: RunningSandbox
) -> None:
    time.sleep(1.1)  # GitHub's times are per second: the changes land after the import's mark
    github.control.review_pull("acme", "api", 3, by="alice", state="CHANGES_REQUESTED")
    github.control.update_pull("acme", "web", 5, title="Renamed on GitHub")
    github.control.merge_pull("acme", "billing", 2)
    github.control.reset_counters()

    outcome = sweep.sweep_team(imported.pk)
    assert outcome.status == "syncing", outcome
    job = wait_finished(SyncJob.objects.get(pk=int(outcome.job_id or 0)))

    assert job.kind == SyncJob.Kind.SWEEP and job.status == SyncJob.Status.SUCCEEDED
    assert sorted(job.repo_syncs.values_list("repository__full_name", flat=True)) == [
        "acme/api",
        "acme/billing",
        "acme/web",
    ]
    assert truth_from_db(imported) == github.control.truth("acme", since=imported.since)  # type: ignore[attr-defined]
    assert PullRequest.objects.get(repository__full_name="acme/web", number=5).title == (
        "Renamed on GitHub"
    )
    imported.refresh_from_db()
    assert imported.refreshed_by == "sweep"


def test_it_costs_one_point_per_hundred_repositories_when_nothing_changed(
    imported: Team, github: RunningSandbox
) -> None:
    github.control.reset_counters()

    outcome = sweep.sweep_team(imported.pk)

    counters = github.control.counters()
    assert outcome.status == "unchanged" and outcome.points == 1, outcome
    assert counters["graphql_points_total"] == 1  # 6 repositories: one batch
    assert counters["by_endpoint"].get("POST /graphql") == 1
    # The member listing, admins and everyone, one page each: both answered 304, for free.
    assert _rest_requests(counters) == counters["not_modified"] == 2
    assert not SyncJob.objects.filter(team=imported, kind=SyncJob.Kind.SWEEP).exists()


def test_it_refreshes_the_members_when_one_leaves(imported: Team, github: RunningSandbox) -> None:
    leaving = TeamMember.objects.filter(team=imported).exclude(login="mona").order_by("-github_id")
    login = leaving.values_list("login", flat=True)[0]
    github.control.remove_member("acme", login)

    outcome = sweep.sweep_team(imported.pk)

    assert outcome.members_changed and outcome.status == "unchanged", outcome
    assert TeamMember.objects.get(team=imported, login=login).role == ""
    assert sweep.sweep_team(imported.pk).members_changed is False


def test_it_skips_a_team_while_one_of_its_jobs_runs(imported: Team, github: RunningSandbox) -> None:
    github.control.update_pull("acme", "api", 3, title="Changed while a job runs")
    job = services.start_sync(team=imported, kind=SyncJob.Kind.INCREMENTAL)
    github.control.reset_counters()

    outcome = sweep.sweep_team(imported.pk)

    assert outcome.status == "skipped" and outcome.reason == f"job {job.pk} is running"
    assert outcome.points == 0 and not outcome.changed
    assert SyncJob.objects.filter(team=imported).count() == 2  # the import and this job
    wait_finished(job)


def test_it_syncs_a_repository_deleted_on_github_once_and_then_leaves_it_out(
    imported: Team, github: RunningSandbox
) -> None:
    github.control.delete_repo("acme", "search")

    first = sweep.sweep_team(imported.pk)
    job = wait_finished(SyncJob.objects.get(pk=int(first.job_id or 0)))
    second = sweep.sweep_team(imported.pk)

    assert job.repo_syncs.get().error_code == "repo_gone"
    assert imported.repositories.get(full_name="acme/search").deleted_at is not None
    assert second.status == "unchanged", second
