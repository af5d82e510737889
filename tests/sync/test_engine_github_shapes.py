"""The import over a real worker, meeting each way GitHub fails or surprises: GraphQL timeouts in
all three shapes, both rate-limit error types, a 429 secondary limit, deleted authors, a
force-push, a deleted pull request and a deleted repository. Each ends with the database equal
to the sandbox's truth."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import progress, services
from sync.models import (
    Commit,
    Integration,
    PullRequest,
    RepoSync,
    SyncJob,
    Team,
    TrackedRepository,
)
from tests.processes import Process
from tests.sync.importing import (
    GroupListener,
    connect,
    forget_github_budgets,
    since_of,
    track_all,
    truth_from_db,
    wait_finished,
    worker_for_module,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GRAPHQL = "^/api/graphql"
ALL_HISTORY = timedelta(days=800)
RESET_IN_S = 3


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: Any, sandbox: RunningSandbox
) -> Iterator[Process]:
    """One worker for the module, with a 1 s GitHub timeout so a hanging answer is quick."""
    with worker_for_module("shapes", django_db_blocker, sandbox, GITHUB_TIMEOUT="1") as process:
        yield process


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox, worker: Process) -> Team:
    forget_github_budgets()
    github.control.set_graphql(wait_s=0, hang_s=3)
    team.token = connect(team, alice, github)  # type: ignore[attr-defined]
    track_all(team, team.token)  # type: ignore[attr-defined]
    return team


def _start(team: Team, kind: str = SyncJob.Kind.INITIAL) -> SyncJob:
    return services.start_sync(team=team, history_since=timezone.now() - ALL_HISTORY, kind=kind)


def _exact(team: Team, github: RunningSandbox, job: SyncJob) -> None:
    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    assert truth_from_db(team) == github.control.truth("acme", since=since_of(job))


@pytest.mark.parametrize("shape", ["502", "504", "data_null", "hang"])
def test_it_completes_exactly_through_graphql_timeouts(
    acme: Team, github: RunningSandbox, shape: str
) -> None:
    github.control.add_fault(GRAPHQL, kind="timeout", shape=shape, count=2)

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme), timeout=90)

    shown = {repo["error_message"] for state in events.states() for repo in state["repos"]}
    assert any(m.startswith("GitHub is slow; fetching smaller pages (") for m in shown), shown
    _exact(acme, github, job)
    assert github.control.counters()["faults_fired"] == 2
    if shape != "hang":  # a hung answer never reaches the client, so nothing is reported
        assert github.control.counters()["graphql_timeout_points"] >= 2


@pytest.mark.parametrize("kind", ["RATE_LIMITED", "RATE_LIMIT"])
def test_it_waits_for_the_reset_on_either_rate_limit_error_type(
    acme: Team, github: RunningSandbox, kind: str
) -> None:
    github.control.set_graphql(rate_limit_type=kind)
    token = acme.token  # type: ignore[attr-defined]
    github.control.set_budget(token=token, resource="graphql", remaining=0, reset_in=RESET_IN_S)
    reset_at = timezone.now() + timedelta(seconds=RESET_IN_S)

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = _start(acme)
        shown = events.wait_for_state(lambda s: s["status"] == SyncJob.Status.WAITING)
        job = wait_finished(job, timeout=60)

    assert shown["rate_limit_reset_at"] is not None
    assert job.finished_at > reset_at  # type: ignore[operator]
    assert not RepoSync.objects.filter(job=job, status=RepoSync.Status.FAILED).exists()
    _exact(acme, github, job)


def test_it_honours_the_retry_after_of_a_429_secondary_limit(
    acme: Team, github: RunningSandbox
) -> None:
    # The first GraphQL request sizes the import (a count GitHub may refuse); the second is a page.
    github.control.add_fault(GRAPHQL, kind="secondary_limit", status=429, retry_after=3, count=2)

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme), timeout=60)

    retrying = [
        repo for state in events.states() for repo in state["repos"] if repo["status"] == "retrying"
    ]
    assert retrying and "retrying in 3 s" in retrying[0]["error_message"]
    assert "secondary rate limit" in retrying[0]["error_message"]
    _exact(acme, github, job)


def test_it_stores_deleted_authors_and_shows_them_as_deleted_user(
    acme: Team, github: RunningSandbox
) -> None:
    job = wait_finished(_start(acme))

    ghosts = PullRequest.objects.filter(repository__team=acme, author_login="ghost")
    assert ghosts.exists()
    assert {pull.author_display for pull in ghosts} == {"deleted user"}
    assert all(pull.author_id is None for pull in ghosts)
    _exact(acme, github, job)


def test_it_removes_the_commits_a_force_push_dropped(acme: Team, github: RunningSandbox) -> None:
    first = wait_finished(_start(acme))
    pull = PullRequest.objects.filter(repository__full_name="acme/api").order_by("-number")[0]
    before = set(Commit.objects.filter(pull_request=pull).values_list("sha", flat=True))
    pushed = github.control.force_push("acme", "api", pull.number, keep=1, add=2)

    job = wait_finished(_start(acme, SyncJob.Kind.INCREMENTAL))

    after = list(Commit.objects.filter(pull_request=pull).values_list("sha", flat=True))
    assert sorted(after) == sorted(pushed["commits"])
    assert len(before - set(after)) == len(before) - 1
    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(first))


def test_it_marks_a_pull_request_deleted_on_github(acme: Team, github: RunningSandbox) -> None:
    first = wait_finished(_start(acme))
    github.control.delete_pull("acme", "api", 3)

    job = wait_finished(_start(acme, SyncJob.Kind.FULL))

    gone = PullRequest.objects.get(repository__full_name="acme/api", number=3)
    assert gone.deleted_at is not None
    assert not PullRequest.objects.filter(deleted_at__isnull=False).exclude(pk=gone.pk).exists()
    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(first))


def test_it_marks_a_repository_deleted_on_github(acme: Team, github: RunningSandbox) -> None:
    github.control.delete_repo("acme", "infra")

    job = wait_finished(_start(acme))

    assert job.status == SyncJob.Status.PARTIAL
    assert TrackedRepository.objects.get(full_name="acme/infra").deleted_at is not None
    assert not TrackedRepository.objects.exclude(full_name="acme/infra").filter(
        deleted_at__isnull=False
    )
    assert Integration.objects.get(team=acme).status == Integration.Status.ACTIVE


# -- adaptive pages -------------------------------------------------------------------------------


def test_it_fetches_smaller_pages_from_a_repository_github_is_slow_on(
    acme: Team, github: RunningSandbox
) -> None:
    github.control.set_heavy("acme", "api")  # its pages of 100 take GitHub past 10 s

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme), timeout=90)

    shown = [
        repo["error_message"]
        for state in events.states()
        for repo in state["repos"]
        if repo["repository"] == "acme/api"
    ]
    assert any(m.startswith("GitHub is slow; fetching smaller pages") for m in shown), shown
    counters = github.control.counters()
    assert counters["graphql_timeouts"] >= 1
    assert job.github_points >= counters["graphql_points_total"]  # timeouts' cost counted
    api = RepoSync.objects.get(job=job, repository__full_name="acme/api")
    assert api.status == RepoSync.Status.SUCCEEDED and api.error_message == ""
    _exact(acme, github, job)
