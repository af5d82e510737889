from __future__ import annotations

import re
from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sync import freshness
from sync.models import (
    Commit,
    Integration,
    Membership,
    PullRequest,
    RepoSync,
    Review,
    SyncJob,
    TeamMember,
    TrackedRepository,
    WebhookDelivery,
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
    TeamMember.objects.create(team=team, github_id=1, login="mona", role="member")
    TeamMember.objects.create(
        team=team, github_id=2, login="dependabot[bot]", is_bot=True, role="member"
    )
    # Left the organization: kept for the pull requests written, no longer a member.
    TeamMember.objects.create(team=team, github_id=3, login="octo-left")
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
    assert re.search(
        r'<tr data-repo="acme/api"><td class="repo-cell">acme/api.*?</td><td class="num">2</td>'
        r'<td class="num">5</td><td class="num">4</td>',
        text,
    )
    assert re.search(
        r'<tr data-repo="acme/web"><td class="repo-cell">acme/web.*?</td><td class="num">0<', text
    )
    assert '<dd data-testid="member-total">2</dd>' in text
    assert "dependabot[bot] (bot)" in text
    assert "octo-left" not in text
    assert re.search(r'>Done</a>, <time datetime="[^"]+">', text)
    assert "You're all set" in text
    assert "Sync new activity now" in text
    assert 'data-testid="current-job"' not in text


def test_it_shows_the_current_import_live_on_the_same_socket(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    job = SyncJob.objects.create(team=acme.team, status=SyncJob.Status.RUNNING, repos_total=1)
    RepoSync.objects.create(job=job, repository=repo, prs_total=10, prs_synced=4)
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert f'ws-connect="/ws/team/{acme.team_id}/"' in text
    assert 'data-testid="current-job" data-status="queued"' in text
    assert f'data-job-id="{job.pk}" data-job-version="{job.version}"' in text
    assert "Waiting for a worker</span> Initial import" in text
    assert "htmx-ext-ws" in text


def test_it_says_when_a_first_imports_recent_activity_is_ready(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    now = timezone.now()
    job = SyncJob.objects.create(
        team=acme.team,
        status=SyncJob.Status.RUNNING,
        repos_total=1,
        started_at=now,
        heartbeat_at=now,
        recent_since=now - timedelta(days=30),
    )
    RepoSync.objects.create(job=job, repository=repo, prs_total=10, prs_synced=4)
    page = _signed_in(client, acme)

    text = page.get(COMPLETE).content.decode()
    assert "Importing the last 30 days of every repository first (0 of 1)" in text

    SyncJob.objects.filter(pk=job.pk).update(recent_ready_at=now)
    text = page.get(COMPLETE).content.decode()
    assert "Recent activity ready: the last 30 days of every repository are imported" in text


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


def _failed_import(membership: Membership, repo: TrackedRepository) -> SyncJob:
    job = SyncJob.objects.create(
        team=membership.team,
        status=SyncJob.Status.PARTIAL,
        finished_at=timezone.now(),
        repos_total=2,
        repos_done=2,
    )
    RepoSync.objects.create(
        job=job,
        repository=repo,
        status=RepoSync.Status.FAILED,
        error_code="not_found",
        error_message="GitHub no longer knows this repository: it was deleted or renamed.",
    )
    return job


def test_it_says_why_the_last_sync_failed_and_offers_the_retry(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    job = _failed_import(acme, repo)
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert ">Done, with failures</a>" in text
    assert "<strong>acme/api</strong>: GitHub no longer knows this repository" in text
    assert f'action="/onboarding/sync/{job.pk}/retry/"' in text
    assert 'data-testid="overview-sync_retry">Retry failed repositories</button>' in text


def test_it_tells_members_to_ask_an_admin_for_the_retry(
    client: Client, acme: Membership, bob: User, bob_github: Identity
) -> None:
    repo = _imported(acme)
    _failed_import(acme, repo)
    member = join(bob, bob_github)
    text = _signed_in(client, member).get(COMPLETE).content.decode()
    assert "GitHub no longer knows this repository" in text
    assert "Ask an admin of the team to retry failed repositories." in text
    assert "overview-sync_retry" not in text
    assert "remove_repository" not in text and "/remove/" not in text


def test_it_writes_numbers_with_thousands_separators(client: Client, acme: Membership) -> None:
    repo = _imported(acme)
    now = timezone.now()
    PullRequest.objects.bulk_create(
        PullRequest(
            repository=repo,
            github_id=100_000 + n,
            number=100 + n,
            title=f"Bulk {n}",
            state="open",
            created_at=now,
            updated_at=now,
        )
        for n in range(1_234)
    )
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert '<dd data-testid="pr-total">1,236</dd>' in text
    assert re.search(r'<td class="repo-cell">acme/api.*?</td><td class="num">1,236</td>', text)


def test_it_shows_the_first_insight_with_the_pull_requests_behind_it(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    opened = timezone.now() - timedelta(days=2)
    for number, hours in ((11, 2), (12, 4), (13, 9)):
        pr = PullRequest.objects.create(
            repository=repo,
            github_id=7000 + number,
            number=number,
            title=f"Timed {number}",
            state="merged",
            author_login="mona",
            created_at=opened,
            updated_at=opened + timedelta(hours=hours),
            merged_at=opened + timedelta(hours=hours),
        )
        Review.objects.create(
            pull_request=pr,
            github_id=pr.github_id * 10,
            author_login="hubot",
            state="APPROVED",
            submitted_at=opened + timedelta(hours=1),
        )
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert re.search(r'data-testid="team-merge" data-seconds="14400(\.0)?">4 h</dd>', text)
    assert "3 pull requests</dd>" in text
    assert re.search(r'data-testid="team-first-review" data-seconds="3600(\.0)?">1 h</dd>', text)


def test_it_shows_the_connected_jira_projects_and_slack_channel_with_change_links(
    client: Client, acme: Membership
) -> None:
    _imported(acme)
    Integration.objects.create(
        team=acme.team,
        provider="jira",
        config={
            "site": {"id": "s1", "name": "acme", "url": "https://acme.atlassian.net"},
            "projects": [{"id": "1", "key": "OPS", "name": "Operations"}],
        },
    )
    Integration.objects.create(
        team=acme.team,
        provider="slack",
        status=Integration.Status.REVOKED,
        config={"workspace": "Acme", "channel_id": "C1", "channel_name": "pr-notices"},
    )
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert '<span class="tag">OPS</span> Operations' in text
    assert 'href="/onboarding/jira/projects/">Change projects</a>' in text
    assert "#pr-notices in Acme" in text and "Access revoked: connect it again" in text
    assert 'href="/onboarding/slack/">Connect Slack again</a>' in text


def test_it_shows_the_organization_and_member_avatars(client: Client, acme: Membership) -> None:
    _imported(acme)
    acme.team.avatar_url = "https://avatars.githubusercontent.com/u/1001?v=4"
    acme.team.save(update_fields=["avatar_url"])
    TeamMember.objects.filter(login="mona").update(
        avatar_url="https://avatars.githubusercontent.com/u/1?v=4"
    )
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert 'src="https://avatars.githubusercontent.com/u/1001?v=4&amp;s=96"' in text
    assert 'src="https://avatars.githubusercontent.com/u/1?v=4&amp;s=48"' in text


def test_it_says_when_and_by_what_the_data_was_last_refreshed(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    freshness.note_refresh(team_id=acme.team_id, source=freshness.Source.WEBHOOK)
    text = _signed_in(client, acme).get(COMPLETE).content.decode()
    assert 'by <span data-testid="refreshed-by">a GitHub webhook</span>' in text
    assert repo.full_name in text


def _remove_url(repo: TrackedRepository) -> str:
    return reverse("onboarding:remove_repository", args=[repo.pk])


def test_it_confirms_before_removing_a_repository_and_keeps_its_data_when_asked(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    _signed_in(client, acme)
    overview = client.get(COMPLETE).content.decode()
    assert f'href="{_remove_url(repo)}"' in overview
    confirm = client.get(_remove_url(repo)).content.decode()
    assert "Stop tracking acme/api?" in confirm and "2 pull requests of it are stored" in confirm
    assert TrackedRepository.objects.get(pk=repo.pk).untracked_at is None

    response = client.post(_remove_url(repo), {"keep_data": "keep"}, follow=True)
    text = response.content.decode()
    assert "acme/api is no longer tracked. Its 2 pull requests are kept" in text
    assert 'data-repo="acme/api"' not in text
    assert TrackedRepository.objects.get(pk=repo.pk).untracked_at is not None
    assert PullRequest.objects.filter(repository=repo).count() == 2


def test_it_deletes_the_data_of_a_removed_repository_when_asked(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    response = _signed_in(client, acme).post(_remove_url(repo), {"keep_data": "delete"})
    assert response["Location"] == COMPLETE
    assert not TrackedRepository.objects.filter(pk=repo.pk).exists()
    assert not PullRequest.objects.filter(github_id__in=[9001, 9002]).exists()
    assert not Review.objects.exists() and not Commit.objects.exists()


def test_it_asks_again_when_no_choice_was_made(client: Client, acme: Membership) -> None:
    repo = _imported(acme)
    response = _signed_in(client, acme).post(_remove_url(repo), {})
    assert response.status_code == 400
    assert b"Choose whether to keep or delete its data." in response.content
    assert TrackedRepository.objects.get(pk=repo.pk).untracked_at is None


def test_it_refuses_to_remove_a_repository_while_it_is_imported(
    client: Client, acme: Membership
) -> None:
    repo = _imported(acme)
    job = SyncJob.objects.create(team=acme.team, status=SyncJob.Status.RUNNING, repos_total=1)
    RepoSync.objects.create(job=job, repository=repo, status=RepoSync.Status.RUNNING)
    response = _signed_in(client, acme).post(_remove_url(repo), {"keep_data": "delete"})
    assert response.status_code == 400
    assert b"An import of acme/api is running; cancel it or wait until it ends" in response.content
    assert PullRequest.objects.filter(repository=repo).count() == 2


def test_it_lets_only_admins_remove_repositories(
    client: Client, acme: Membership, bob: User, bob_github: Identity, charlie: User
) -> None:
    repo = _imported(acme)
    member = join(bob, bob_github)
    response = _signed_in(client, member).post(_remove_url(repo), {"keep_data": "delete"})
    assert response.status_code == 403
    assert b"Only the team&#x27;s admins remove repositories" in response.content
    client.force_login(charlie)
    session = client.session
    session["onboarding_team_id"] = acme.team_id
    session.save()
    assert client.post(_remove_url(repo), {"keep_data": "delete"})["Location"] == reverse(
        "onboarding:select_org"
    )
    assert PullRequest.objects.filter(repository=repo).count() == 2


def _webhook(membership: Membership, *deliveries: tuple[str, int, timedelta, str]) -> None:
    Integration.objects.update_or_create(
        team=membership.team,
        provider="github",
        defaults={"webhook_id": 77, "webhook_registered_at": timezone.now() - timedelta(days=5)},
    )
    for n, (status, code, ago, reason) in enumerate(deliveries):
        WebhookDelivery.objects.create(
            team=membership.team,
            guid=f"g-{n}",
            event="pull_request",
            status=status,
            status_code=code,
            reason=reason,
            received_at=timezone.now() - ago,
        )


def _stays_current(client: Client, membership: Membership) -> str:
    text = _signed_in(client, membership).get(COMPLETE).content.decode()
    found = re.search(r'<li data-testid="webhook-health".*?</li>', text, re.S)
    assert found, "the overview says how the data stays current"
    return " ".join(found.group(0).split())


def test_it_says_a_periodic_check_keeps_the_data_current_without_a_webhook(
    client: Client, acme: Membership, settings: object
) -> None:
    settings.SWEEP_PERIOD_SECONDS = 600  # type: ignore[attr-defined]
    _imported(acme)
    line = _stays_current(client, acme)
    assert 'data-condition="not_registered"' in line
    assert "No webhook is set up: a periodic check every 10 minutes" in line
    assert "as they happen" not in line
    text = client.get(COMPLETE).content.decode()
    assert 'data-testid="webhook-link"><a href="/onboarding/webhooks/">' in text


def test_it_offers_the_webhook_link_to_admins_only(
    client: Client, acme: Membership, bob: User, bob_github: Identity
) -> None:
    _imported(acme)
    text = _signed_in(client, join(bob, bob_github)).get(COMPLETE).content.decode()
    assert "No webhook is set up" in text
    assert 'data-testid="webhook-link"' not in text


def test_it_says_the_webhook_is_registered_and_waits_for_its_first_delivery(
    client: Client, acme: Membership
) -> None:
    _imported(acme)
    _webhook(acme)
    line = _stays_current(client, acme)
    assert "acme's webhook is registered: GitHub tells us" in line
    assert "No delivery yet: the first arrives when something changes on GitHub." in line
    assert "No webhook is set up" not in line
    assert 'data-testid="webhook-link"' not in client.get(COMPLETE).content.decode()


def test_it_shows_a_healthy_webhooks_last_delivery_and_counts(
    client: Client, acme: Membership
) -> None:
    _imported(acme)
    applied = (WebhookDelivery.Status.APPLIED, 202, timedelta(minutes=3), "")
    _webhook(acme, applied, applied)
    line = _stays_current(client, acme)
    assert 'data-condition="healthy"' in line
    assert re.search(r"Last delivery <time datetime=\"[^\"]+\">3 minutes ago</time>", line)
    assert "2 in the last day, 0 failed." in line
    assert '<span class="tag tag-active">Healthy</span>' in line


def test_it_shows_a_failing_webhooks_last_failure_and_what_happens_to_it(
    client: Client, acme: Membership
) -> None:
    _imported(acme)
    _webhook(
        acme,
        (WebhookDelivery.Status.APPLIED, 202, timedelta(hours=2), ""),
        (WebhookDelivery.Status.REFUSED, 401, timedelta(hours=1), "wrongly signed"),
    )
    line = _stays_current(client, acme)
    assert 'data-condition="failing"' in line
    assert "2 in the last day, 1 failed." in line
    assert '<span class="tag tag-bad">Failing</span> Latest: wrongly signed.' in line
    assert "The periodic check asks GitHub to resend failed deliveries" in line
    assert "an organization owner can check the webhook's recent deliveries on GitHub" in line


def test_it_says_a_silent_webhook_may_be_disabled(client: Client, acme: Membership) -> None:
    _imported(acme)
    _webhook(acme, (WebhookDelivery.Status.APPLIED, 202, timedelta(days=4), ""))
    line = _stays_current(client, acme)
    assert 'data-condition="silent"' in line
    assert "Last delivery" in line and "0 in the last day, 0 failed." in line
    assert "GitHub has sent nothing for days and may have disabled the webhook" in line
    assert "re-enable it in the organization's webhook settings on GitHub" in line
