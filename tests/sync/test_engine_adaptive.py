"""Adaptive pages, one page at a time in this process against the real sandbox: a timeout
halves the page and its nested sizes, a timeout at the floor is a failed attempt, and the last
failed attempt fails the repository."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync.engine import adaptive, pages, state
from sync.models import RepoSync, SyncJob, Team, TrackedRepository
from tests.sync.importing import connect, forget_github_budgets, track_all

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(team: Team, alice: User, github: RunningSandbox) -> RepoSync:
    forget_github_budgets()
    github.control.set_graphql(wait_s=0)
    connect(team, alice, github)
    track_all(team, team.integrations.get().credential.access_token)  # type: ignore[union-attr]
    job = SyncJob.objects.create(team=team, kind=SyncJob.Kind.INITIAL, status="running")
    repository = TrackedRepository.objects.get(full_name="acme/api")
    since = timezone.now() - timedelta(days=800)
    return RepoSync.objects.create(job=job, repository=repository, since=since, pages_done=1)


def test_it_halves_the_page_and_its_nested_sizes_on_a_timeout(
    api: RepoSync, github: RunningSandbox
) -> None:
    github.control.set_heavy("acme", "api")

    steps = pages.sync_page(api.pk, page=1)

    api.refresh_from_db()
    assert (api.status, api.page_cap, api.attempts) == (RepoSync.Status.RETRYING, 50, 0)
    assert api.error_message == "GitHub is slow; fetching smaller pages (50 pull requests a page)"
    assert adaptive.nested_sizes(api, 100) == (25, 50)
    assert [s.page for s in steps] == [1]  # type: ignore[attr-defined]
    assert SyncJob.objects.get(pk=api.job_id).github_points == 2  # the timeout was charged

    pages.sync_page(api.pk, page=1)

    api.refresh_from_db()
    assert (api.status, api.pages_done, api.page_cap) == (RepoSync.Status.RUNNING, 2, 50)


def test_it_counts_a_timeout_at_the_floor_as_a_failed_attempt(
    api: RepoSync, github: RunningSandbox
) -> None:
    github.control.set_heavy("acme", "api")
    github.control.set_graphql(heavy_factor=100_000)  # even ten pull requests take too long
    RepoSync.objects.filter(pk=api.pk).update(page_cap=adaptive.FLOOR)

    pages.sync_page(api.pk, page=1)

    api.refresh_from_db()
    assert (api.status, api.page_cap, api.attempts) == (RepoSync.Status.RETRYING, 10, 1)
    RepoSync.objects.filter(pk=api.pk).update(attempts=state.MAX_ATTEMPTS)
    pages.sync_page(api.pk, page=1)
    api.refresh_from_db()
    assert api.status == RepoSync.Status.FAILED
    assert api.error_code == "github_unavailable"


def test_it_grows_the_pages_back_after_answers_at_the_smaller_size(api: RepoSync) -> None:
    RepoSync.objects.filter(pk=api.pk).update(page_cap=25, pages_at_cap=adaptive.GROW_AFTER - 1)

    pages.sync_page(api.pk, page=1)
    api.refresh_from_db()
    grown = (api.page_cap, api.pages_at_cap, api.prs_synced)
    RepoSync.objects.filter(pk=api.pk).update(pages_at_cap=adaptive.GROW_AFTER - 1)
    pages.sync_page(api.pk, page=2)
    api.refresh_from_db()

    assert grown == (50, 0, 25)
    assert (api.page_cap, api.prs_synced, api.error_message) == (0, 75, "")
