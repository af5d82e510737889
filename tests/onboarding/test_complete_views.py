from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sync.models import (
    Commit,
    Membership,
    PullRequest,
    RepoSync,
    Review,
    SyncJob,
    TeamMember,
    TrackedRepository,
)
from tests.onboarding.personas import Identity, join

COMPLETE = reverse("onboarding:complete")
RESYNC = reverse("onboarding:start_incremental_sync")


def _imported(membership: Membership) -> TrackedRepository:
    """A repository with two PRs, three reviews and four commits, imported by a finished job."""
    team = membership.team
    repo = TrackedRepository.objects.create(team=team, github_id=501, full_name="acme/api")
    TrackedRepository.objects.create(team=team, github_id=502, full_name="acme/web")
    now = timezone.now()
    for number in (1, 2):
        pr = PullRequest.objects.create(
            repository=repo,
            github_id=9000 + number,
            number=number,
            title=f"PR {number}",
            state="merged",
            created_at=now,
            updated_at=now,
        )
        for i in range(number + 1):
            Review.objects.create(
                pull_request=pr, github_id=pr.github_id * 10 + i, state="APPROVED"
            )
        for i in range(2):
            Commit.objects.create(pull_request=pr, sha=f"{number}{i}".ljust(40, "0"))
    TeamMember.objects.create(team=team, github_id=1, login="mona")
    TeamMember.objects.create(team=team, github_id=2, login="dependabot[bot]", is_bot=True)
    SyncJob.objects.create(
        team=team,
        status=SyncJob.Status.SUCCEEDED,
        finished_at=now - timedelta(minutes=5),
        repos_total=2,
        repos_done=2,
    )
    return repo


def _signed_in(client: Client, membership: Membership) -> Client:
    client.force_login(membership.user)
    return client


def test_it_shows_the_team_with_its_repositories_counts_members_and_last_sync(
    client: Client, acme: Membership
) -> None:
    _imported(acme)
    response = _signed_in(client, acme).get(COMPLETE)
    text = response.content.decode()
    assert response.status_code == 200
    assert (
        '<tr data-repo="acme/api"><td>acme/api</td><td class="num">2</td>'
        '<td class="num">5</td><td class="num">4</td>'
    ) in text
    assert '<tr data-repo="acme/web"><td>acme/web</td><td class="num">0</td>' in text
    assert '<dd data-testid="member-total">2</dd>' in text
    assert "dependabot[bot] (bot)" in text
    assert ">Done</a>, 5 minutes ago" in text
    assert "Sync new activity now" in text
    assert 'data-testid="current-job"' not in text


def test_it_shows_the_current_import_live_on_the_same_socket(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    job = SyncJob.objects.create(team=acme.team, status=SyncJob.Status.RUNNING, repos_total=1)
    RepoSync.objects.create(job=job, repository=repo, prs_total=10, prs_synced=4)
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert f'ws-connect="/ws/sync/{job.pk}/"' in text
    assert 'id="sync-status"' in text and f'data-version="{job.version}"' in text
    assert 'role="progressbar"' in text
    assert "htmx-ext-ws" in text


def test_it_starts_an_incremental_sync(client: Client, acme: Membership) -> None:
    _imported(acme)
    response = _signed_in(client, acme).post(RESYNC)
    job = SyncJob.objects.get(kind=SyncJob.Kind.INCREMENTAL)
    assert response["Location"] == f"/onboarding/sync/{job.pk}/"
    assert RepoSync.objects.filter(job=job).count() == 2


def test_it_sends_a_second_click_to_the_running_import(client: Client, acme: Membership) -> None:
    _imported(acme)
    _signed_in(client, acme)
    first = client.post(RESYNC)
    second = client.post(RESYNC)
    assert first["Location"] == second["Location"]
    assert SyncJob.objects.filter(kind=SyncJob.Kind.INCREMENTAL).count() == 1


def test_it_explains_that_there_is_nothing_to_sync(client: Client, acme: Membership) -> None:
    response = _signed_in(client, acme).post(RESYNC)
    assert response.status_code == 400
    assert b"No repositories are selected for import." in response.content


def test_it_shows_members_the_overview_but_not_the_sync_button(
    client: Client, acme: Membership, bob: User, bob_github: Identity
) -> None:
    _imported(acme)
    member = join(bob, bob_github)
    text = _signed_in(client, member).get(COMPLETE).content.decode()
    assert "acme/api" in text
    assert "Sync new activity now" not in text
    response = client.post(RESYNC)
    assert response.status_code == 403
    assert not SyncJob.objects.filter(kind=SyncJob.Kind.INCREMENTAL).exists()


def test_it_never_shows_a_team_to_someone_outside_it(
    client: Client, acme: Membership, charlie: User
) -> None:
    _imported(acme)
    client.force_login(charlie)
    session = client.session
    session["onboarding_team_id"] = acme.team_id
    session.save()
    for response in (client.get(COMPLETE), client.post(RESYNC)):
        assert response.status_code == 302
        assert response["Location"] == reverse("onboarding:select_org")
    assert SyncJob.objects.count() == 1
