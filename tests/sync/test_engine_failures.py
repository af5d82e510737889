from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import progress, services
from sync.models import Integration, RepoSync, SyncJob, Team
from tests.processes import Process, wait_for
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

# The first GraphQL request of an import counts its pull requests; faults meant for a page
# let it through.
COUNT_QUERIES = 1

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

GRAPHQL = "^/api/graphql"
ALL_HISTORY = timedelta(days=800)
ATTEMPT = re.compile(r"retrying in \d+ s \(attempt 1 of \d+\)")


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: Any, sandbox: RunningSandbox
) -> Iterator[Process]:
    """One worker for the module, with a 1 s GitHub timeout so timeouts are quick to inject."""
    with worker_for_module("failures", django_db_blocker, sandbox, GITHUB_TIMEOUT="1") as process:
        yield process


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox, worker: Process) -> Team:
    forget_github_budgets()
    token = connect(team, alice, github)
    track_all(team, token)
    return team


def _start(team: Team) -> SyncJob:
    return services.start_sync(team=team, history_since=timezone.now() - ALL_HISTORY)


def _repo(state: dict[str, Any], status: str) -> list[dict[str, Any]]:
    return [repo for repo in state["repos"] if repo["status"] == status]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503},
        {"kind": "malformed_json"},
        {"kind": "secondary_limit", "retry_after": 1},
    ],
    # A GraphQL 502/504 or a slow answer (a client timeout) is GitHub giving up on the query:
    # it asks for smaller pages instead (test_engine_github_shapes.py).
    ids=["503", "malformed-body", "secondary-limit"],
)
def test_it_retries_a_transient_failure_showing_the_attempt(
    acme: Team, github: RunningSandbox, fault: dict[str, Any]
) -> None:
    github.control.add_fault(GRAPHQL, count=1, after=COUNT_QUERIES, **fault)

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme))
        events.wait_for_state(lambda s: s["status"] == SyncJob.Status.SUCCEEDED)

    assert job.status == SyncJob.Status.SUCCEEDED
    # (under load a client timeout may come first: it asks for smaller pages, not an attempt)
    retrying = next(
        repo
        for state in events.states()
        for repo in _repo(state, RepoSync.Status.RETRYING)
        if not repo["error_message"].startswith("GitHub is slow")
    )
    assert ATTEMPT.search(retrying["error_message"]), retrying["error_message"]
    assert retrying["retry_at"] is not None
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    assert not RepoSync.objects.filter(job=job).exclude(attempts=0, error_message="").exists()


def test_it_fails_the_job_at_once_when_the_token_is_revoked(
    acme: Team, github: RunningSandbox
) -> None:
    github.control.set_latency(fixed_ms=300)
    token = Integration.objects.get(team=acme).credential.access_token  # type: ignore[union-attr]

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = _start(acme)
        wait_for(lambda: RepoSync.objects.filter(job=job, pages_done__gt=0).exists(), timeout=30)
        github.control.revoke_token(token)
        job = wait_finished(job, timeout=15)
        state = events.wait_for_state(lambda s: s["status"] == SyncJob.Status.FAILED)

    assert job.error_message == "GitHub access was revoked: reconnect"
    assert state["error_message"] == "GitHub access was revoked: reconnect"
    assert (
        not RepoSync.objects.filter(job=job)
        .exclude(status__in=[RepoSync.Status.SUCCEEDED, RepoSync.Status.FAILED])
        .exists()
    )
    assert Integration.objects.get(team=acme).status == Integration.Status.REVOKED
    time.sleep(1)
    counters = github.control.counters()
    assert counters["by_status"].get("401", 0) <= 4  # the requests in flight, no retry storm
    time.sleep(1)
    assert github.control.counters()["requests"] == counters["requests"]


def test_it_fails_only_the_repository_that_was_deleted(acme: Team, github: RunningSandbox) -> None:
    github.control.delete_repo("acme", "infra")

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme))
        state = events.wait_for_state(lambda s: s["status"] == SyncJob.Status.PARTIAL)

    assert job.status == SyncJob.Status.PARTIAL
    failed = RepoSync.objects.get(job=job, status=RepoSync.Status.FAILED)
    assert failed.repository.full_name == "acme/infra"
    assert failed.error_code == "repo_gone"
    assert [r["repository"] for r in _repo(state, RepoSync.Status.FAILED)] == ["acme/infra"]
    assert len(_repo(state, RepoSync.Status.SUCCEEDED)) == 5
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))


@pytest.mark.parametrize(
    ("fault", "code", "words"),
    [
        ({"kind": "status", "status": 410}, "repo_gone", "gone"),
        ({"kind": "sso"}, "sso_required", "single sign-on"),
    ],
    ids=["410-gone", "sso"],
)
def test_it_fails_only_the_repository_github_refuses(
    acme: Team, github: RunningSandbox, fault: dict[str, Any], code: str, words: str
) -> None:
    github.control.add_fault(GRAPHQL, count=1, after=COUNT_QUERIES, **fault)

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme))
        state = events.wait_for_state(lambda s: s["status"] == SyncJob.Status.PARTIAL)

    assert job.status == SyncJob.Status.PARTIAL
    failed = RepoSync.objects.get(job=job, status=RepoSync.Status.FAILED)
    assert failed.error_code == code
    assert words in failed.error_message
    assert RepoSync.objects.filter(job=job, status=RepoSync.Status.SUCCEEDED).count() == 5
    (shown,) = _repo(state, RepoSync.Status.FAILED)
    assert (shown["error_code"], shown["error_message"]) == (code, failed.error_message)


def test_it_skips_and_records_a_malformed_item_and_goes_on(
    acme: Team, github: RunningSandbox
) -> None:
    github.control.add_fault(GRAPHQL, kind="malformed_item", count=1, after=COUNT_QUERIES)

    with GroupListener(progress.team_group(acme.pk)) as events:
        job = wait_finished(_start(acme))
        state = events.wait_for_state(lambda s: s["status"] == SyncJob.Status.SUCCEEDED)

    assert job.status == SyncJob.Status.SUCCEEDED
    skipped = RepoSync.objects.get(job=job, items_skipped__gt=0)
    assert skipped.items_skipped == 1
    assert skipped.skipped_detail[0]["item"]
    assert skipped.skipped_detail[0]["reason"]
    assert sum(repo["items_skipped"] for repo in state["repos"]) == 1
    truth = github.control.truth("acme", since=since_of(job))
    imported = truth_from_db(acme)
    missing = sum(truth[k] - imported[k] for k in ("pull_requests", "reviews", "commits"))
    assert missing >= 1
