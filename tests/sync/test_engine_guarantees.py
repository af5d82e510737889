"""The engine's promises, each pinned by a test that fails when its guard is removed: a page
is written once however often its message comes, a chain whose next message was lost starts
again (and only then), the bar is sized before it moves and never moves back, and reconnecting
GitHub resumes what the revoked token stopped. The engine runs in this process against the
sandbox; the messages it asks for are read from its return values, not sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import Sum
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import engine, services
from sync.engine import pages
from sync.engine.steps import SendPage, StartNext
from sync.github.client import Session
from sync.models import PullRequest, RepoSync, SyncJob, Team
from tests.sync.importing import connect, forget_github_budgets, since_of, track_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Team:
    forget_github_budgets()
    team.token = connect(team, alice, github)  # type: ignore[attr-defined]
    track_all(team, team.token)  # type: ignore[attr-defined]
    return team


def _started(team: Team) -> tuple[SyncJob, list[RepoSync]]:
    """Start an import of every repository; return it and its repositories, first pages sent."""
    job = services.start_sync(team=team, history_since=timezone.now() - timedelta(days=800))
    assert engine.start_job(job.pk) == [StartNext(job.pk)]
    first_pages = engine.start_next_repositories(job.pk)
    assert len(first_pages) == job.repos_total
    return SyncJob.objects.get(pk=job.pk), list(job.repo_syncs.order_by("pk"))


def test_it_writes_a_page_once_when_two_deliveries_race_to_its_checkpoint(acme: Team) -> None:
    job, (repo_sync, *_) = _started(acme)
    session = Session(acme.token)  # type: ignore[attr-defined]
    fetched = pages._fetch(session, repo_sync, 0)  # both deliveries fetched the same page

    first = pages._checkpoint(repo_sync, 0, fetched, fetched.points, None)
    second = pages._checkpoint(repo_sync, 0, fetched, fetched.points, None)

    assert first and second == []  # the re-check under the row lock turned the second away
    written = RepoSync.objects.get(pk=repo_sync.pk)
    assert written.pages_done == 1
    stored = PullRequest.objects.filter(repository=repo_sync.repository).count()
    assert written.prs_synced == stored == len(fetched.pulls)
    assert SyncJob.objects.get(pk=job.pk).prs_synced == stored


def test_it_restarts_a_chain_whose_next_message_was_lost_and_only_then(acme: Team) -> None:
    _job, (repo_sync, *_) = _started(acme)
    assert engine.sync_page(repo_sync.pk, page=0) == [SendPage(repo_sync.pk, 1)]

    # The message for page 1 was never sent (the worker died after the commit): the redelivered
    # message for page 0 starts the chain again.
    assert engine.sync_page(repo_sync.pk, page=0) == [SendPage(repo_sync.pk, 1)]

    engine.note_dispatched(repo_sync.pk, page=1)  # now it was sent: a redelivery does nothing
    assert engine.sync_page(repo_sync.pk, page=0) == []


def test_it_sizes_every_repository_before_the_first_page(
    acme: Team, github: RunningSandbox
) -> None:
    job, _ = _started(acme)

    truth = github.control.truth("acme", since=since_of(job))
    assert job.counted_at is not None and job.percent == 0
    sizes = dict(job.repo_syncs.values_list("repository__full_name", "prs_expected"))
    assert all(size is not None for size in sizes.values())
    assert sum(size or 0 for size in sizes.values()) == job.prs_total == truth["pull_requests"]


def test_it_never_moves_the_percent_back_and_keeps_100_for_the_finish(acme: Team) -> None:
    job, repo_syncs = _started(acme)
    shown = [0]
    steps: list[engine.Step] = [SendPage(repo_sync.pk, 0) for repo_sync in repo_syncs]
    while steps:
        step = steps.pop(0)
        if isinstance(step, SendPage):
            steps += engine.sync_page(step.repo_sync_id, page=step.page)
        elif isinstance(step, StartNext):
            steps += engine.start_next_repositories(step.job_id)
        else:
            engine.finish_job(job.pk)
        current = SyncJob.objects.get(pk=job.pk)
        shown.append(current.percent)
        open_repos = current.repo_syncs.exclude(status__in=RepoSync.FINISHED).exists()
        assert not (open_repos and current.percent >= 95)

    assert shown == sorted(shown)
    assert shown[-1] == 100 and shown[-2] < 100
    done = SyncJob.objects.get(pk=job.pk)
    assert done.status == SyncJob.Status.SUCCEEDED
    assert done.prs_total == done.prs_synced


def test_it_resumes_the_repositories_a_revoked_token_stopped_when_github_is_reconnected(
    acme: Team, alice: User, github: RunningSandbox
) -> None:
    job, (repo_sync, *_) = _started(acme)
    engine.sync_page(repo_sync.pk, page=0)
    github.control.revoke_token(acme.token)  # type: ignore[attr-defined]
    engine.sync_page(repo_sync.pk, page=1)
    failed = SyncJob.objects.get(pk=job.pk)
    assert (failed.status, failed.error_code) == (SyncJob.Status.FAILED, "token_revoked")

    connect(acme, alice, github)  # a new token, as the OAuth callback stores it
    resumed = services.resume_after_reconnect(team=acme)

    assert resumed is not None and resumed.pk == job.pk
    assert resumed.status == SyncJob.Status.RUNNING and resumed.error_code == ""
    reopened = RepoSync.objects.get(pk=repo_sync.pk)
    assert (reopened.status, reopened.error_code) == (RepoSync.Status.QUEUED, "")
    # Its next page was sent on commit: the one it stopped at, not the first.
    assert (reopened.pages_done, reopened.dispatched_page) == (1, 1)
    assert resumed.repos_done == 0
    total = resumed.repo_syncs.aggregate(n=Sum("prs_synced"))["n"]
    assert total == resumed.prs_synced
