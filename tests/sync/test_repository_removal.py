from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import accounts, services
from sync.github import orgs
from sync.models import (
    AuditEvent,
    Commit,
    Membership,
    PullRequest,
    RepoSync,
    Review,
    SyncJob,
    Team,
    TrackedRepository,
    WebhookDelivery,
)
from tests.sync.webhooking import apply_queued, hooked_team, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(team: Team) -> TrackedRepository:
    repo = TrackedRepository.objects.create(team=team, github_id=1, full_name="acme/api")
    TrackedRepository.objects.create(team=team, github_id=2, full_name="acme/web")
    now = timezone.now()
    pr = PullRequest.objects.create(
        repository=repo, github_id=11, number=1, title="One", state="open",
        created_at=now, updated_at=now,
    )  # fmt: skip
    Review.objects.create(pull_request=pr, github_id=111, state="APPROVED")
    Commit.objects.create(pull_request=pr, sha="a" * 40)
    return repo


def test_it_keeps_the_data_of_a_repository_no_longer_tracked(
    team: Team, alice: User, api: TrackedRepository
) -> None:
    removed = services.remove_repository(repository=api, keep_data=True, by=alice)

    assert (removed.full_name, removed.kept_data, removed.pull_requests) == ("acme/api", True, 1)
    assert TrackedRepository.objects.get(pk=api.pk).untracked_at is not None
    assert (PullRequest.objects.count(), Review.objects.count(), Commit.objects.count()) == (
        1,
        1,
        1,
    )
    event = AuditEvent.objects.get(action="repository.remove")
    assert event.params == {"repository": "acme/api", "keep_data": True, "pull_requests": 1}
    # Imports leave it out from now on.
    job = services.start_sync(team=team, requested_by=alice, kind=SyncJob.Kind.INCREMENTAL)
    assert list(job.repo_syncs.values_list("repository__full_name", flat=True)) == ["acme/web"]


def test_it_deletes_a_repository_with_its_pull_requests_reviews_and_commits(
    team: Team, alice: User, api: TrackedRepository
) -> None:
    removed = services.remove_repository(repository=api, keep_data=False, by=alice)

    assert (removed.kept_data, removed.pull_requests) == (False, 1)
    assert list(team.repositories.values_list("full_name", flat=True)) == ["acme/web"]
    assert (PullRequest.objects.count(), Review.objects.count(), Commit.objects.count()) == (
        0,
        0,
        0,
    )


def test_it_refuses_while_an_import_of_the_repository_runs(
    team: Team, alice: User, api: TrackedRepository
) -> None:
    job = SyncJob.objects.create(team=team, status=SyncJob.Status.RUNNING, repos_total=1)
    RepoSync.objects.create(job=job, repository=api, status=RepoSync.Status.RUNNING)

    with pytest.raises(services.RepositoryBusy, match="An import of acme/api is running"):
        services.remove_repository(repository=api, keep_data=False, by=alice)
    assert PullRequest.objects.count() == 1
    assert TrackedRepository.objects.get(pk=api.pk).untracked_at is None


def test_it_tracks_a_kept_repository_again_when_it_is_chosen_again(
    team: Team, alice: User, api: TrackedRepository
) -> None:
    services.remove_repository(repository=api, keep_data=True, by=alice)
    membership = Membership.objects.get(user=alice, team=team)
    chosen = orgs.Repository(
        id=1,
        name="api",
        full_name="acme/api",
        private=False,
        archived=False,
        fork=False,
        pushed_at=None,
        description="",
    )

    accounts.select_repositories(membership=membership, repositories=[chosen])

    assert TrackedRepository.objects.get(pk=api.pk).untracked_at is None
    assert PullRequest.objects.filter(repository=api).count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_lets_no_webhook_change_a_repository_no_longer_tracked(
    github: RunningSandbox, alice: User, live_server: Any
) -> None:
    team = hooked_team(github, alice)
    register(team, live_server.url)
    repository = TrackedRepository.objects.filter(team=team).order_by("full_name").first()
    assert repository is not None
    PullRequest.objects.create(
        repository=repository, github_id=repository.github_id * 100_000 + 1, number=1,
        title="As imported", state="open", created_at=timezone.now() - timedelta(days=30),
        updated_at=timezone.now() - timedelta(days=30),
    )  # fmt: skip
    services.remove_repository(repository=repository, keep_data=True, by=alice)

    github.control.update_pull("acme", repository.full_name.split("/")[1], 1, title="Changed")
    github.control.wait_for_deliveries()
    apply_queued()

    assert PullRequest.objects.get(repository=repository, number=1).title == "As imported"
    edited = WebhookDelivery.objects.get(event="pull_request")
    assert edited.status == WebhookDelivery.Status.IGNORED, edited.reason
    assert edited.reason == "the team does not track this repository"
