from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from sync.models import AuditEvent, RepoSync, SyncJob, Team
from tests.sync.jobs import make_job, no_worker, worker_alive


def _browser(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_it_shows_a_member_the_progress_page(bob: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, prs_synced=150, eta_seconds=200)
    RepoSync.objects.filter(job=job).update(prs_synced=75, status=RepoSync.Status.RUNNING)

    response = _browser(bob).get(f"/onboarding/sync/{job.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'ws-connect="/ws/sync/{job.pk}/"' in page
    assert 'role="progressbar"' in page and 'aria-valuenow="75"' in page
    assert 'data-testid="prs-synced">150<' in page
    assert "About 3 min left" in page
    assert page.count('data-testid="repo-row"') == 2
    assert "<noscript>" in page
    assert "htmx-2.0.11.min.js" in page and "htmx-ext-ws-2.0.4.min.js" in page


def test_it_hides_the_job_from_someone_outside_the_team(charlie: User, team: Team) -> None:
    job = make_job(team)

    assert _browser(charlie).get(f"/onboarding/sync/{job.pk}/").status_code == 404
    assert _browser(charlie).post(f"/onboarding/sync/{job.pk}/cancel/").status_code == 404
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.QUEUED


def test_it_sends_an_anonymous_visitor_to_sign_in(team: Team) -> None:
    job = make_job(team)

    response = _browser(None).get(f"/onboarding/sync/{job.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/onboarding/start/")


def test_it_shows_the_rate_limit_pause_with_its_resume_time(alice: User, team: Team) -> None:
    reset = timezone.now().replace(microsecond=0) + timedelta(minutes=7)
    job = make_job(team, status=SyncJob.Status.WAITING, rate_limit_reset_at=reset)

    page = _browser(alice).get(f"/onboarding/sync/{job.pk}/").content.decode()

    assert "Paused by GitHub's rate limit" in page
    assert f'<time datetime="{reset.isoformat()}" data-local-time>{reset:%H:%M} UTC</time>' in page
    assert f'data-countdown="{reset.isoformat()}"' in page


def test_it_offers_reconnect_when_the_token_was_revoked(alice: User, team: Team) -> None:
    job = make_job(
        team,
        status=SyncJob.Status.FAILED,
        error_code="token_revoked",
        error_message="GitHub access was revoked: reconnect",
    )

    client = _browser(alice)
    page = client.get(f"/onboarding/sync/{job.pk}/").content.decode()
    response = client.post(f"/onboarding/sync/{job.pk}/reconnect/", HTTP_HX_REQUEST="true")

    assert 'data-testid="reconnect-banner"' in page and "Reconnect GitHub" in page
    # The sign-in starts here (the connect URL takes only POSTs) and comes back to the page.
    assert "/login/oauth/authorize?" in response["HX-Redirect"]
    assert client.session["github_oauth_next"] == f"/onboarding/sync/{job.pk}/"


def test_it_offers_retry_and_continue_when_some_repositories_failed(
    alice: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.PARTIAL, repos_done=2)
    RepoSync.objects.filter(job=job).update(status=RepoSync.Status.SUCCEEDED)
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-2").update(
        status=RepoSync.Status.FAILED, error_code="repo_gone", error_message="Repository deleted"
    )

    page = _browser(alice).get(f"/onboarding/sync/{job.pk}/").content.decode()

    assert "1 of 2 repositories could not be imported" in page
    assert "Retry failed repositories" in page
    assert "Repository deleted" in page
    assert 'data-testid="continue"' in page


def test_it_shows_a_job_no_worker_picked_up_as_stalled(bob: User, team: Team) -> None:
    job = make_job(team, created_at=timezone.now() - timedelta(seconds=20))
    worker_alive()

    page = _browser(bob).get(f"/onboarding/sync/{job.pk}/").content.decode()

    assert 'data-testid="stalled-banner"' in page and "Run it now" in page
    assert "No worker has picked this import up" in page


def test_it_says_no_worker_is_running_when_none_beats(bob: User, team: Team) -> None:
    job = make_job(
        team, status=SyncJob.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=10)
    )
    no_worker()

    page = _browser(bob).get(f"/onboarding/sync/{job.pk}/").content.decode()

    assert 'data-testid="worker-lost-banner"' in page and "No worker is running" in page
    assert 'data-testid="badge">No worker running<' in page
    assert page.count("button primary") == 1 and "Run it now" in page


def test_it_runs_an_action_without_javascript_and_says_what_it_did(alice: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    client = _browser(alice)

    response = client.post(f"/onboarding/sync/{job.pk}/cancel/", follow=True)

    assert response.redirect_chain == [(f"/onboarding/sync/{job.pk}/", 302)]
    page = response.content.decode()
    assert "Cancelled. What was imported so far is kept." in page
    assert "import was cancelled" in page and 'data-testid="sync_cancel"' not in page


def test_it_asks_before_cancelling_without_javascript(alice: User, bob: User, team: Team) -> None:
    import re

    job = make_job(team, status=SyncJob.Status.RUNNING)
    client = _browser(alice)
    page = client.get(f"/onboarding/sync/{job.pk}/").content.decode()
    form = re.search(r'<form method="(\w+)" action="/onboarding/sync/\d+/cancel/"[^>]*>', page)
    assert form is not None and form.group(1) == "get"  # asks first, without JavaScript
    assert 'hx-confirm="Cancel this import?' in form.group(0)  # asks in a dialog, with it

    asked = client.get(f"/onboarding/sync/{job.pk}/cancel/")

    text = asked.content.decode()
    assert asked.status_code == 200 and "Cancel import of acme?" in text
    assert "What was imported so far is kept" in text and "No, keep importing" in text
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.RUNNING
    assert _browser(bob).get(f"/onboarding/sync/{job.pk}/cancel/").status_code == 302  # not hers


def test_it_cancels_the_import(alice: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)

    response = _browser(alice).post(f"/onboarding/sync/{job.pk}/cancel/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "Cancelled" in response.content.decode()
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED


def test_it_explains_why_a_finished_import_cannot_be_cancelled(alice: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.SUCCEEDED)

    response = _browser(alice).post(f"/onboarding/sync/{job.pk}/cancel/", HTTP_HX_REQUEST="true")

    assert "already finished" in response.content.decode()


def test_it_retries_failed_repositories_in_a_new_job(alice: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.PARTIAL)
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-2").update(
        status=RepoSync.Status.FAILED
    )

    response = _browser(alice).post(f"/onboarding/sync/{job.pk}/retry/", HTTP_HX_REQUEST="true")

    retry = SyncJob.objects.exclude(pk=job.pk).get()
    assert response["HX-Redirect"] == f"/onboarding/sync/{retry.pk}/"
    assert [rs.repository.full_name for rs in retry.repo_syncs.all()] == ["acme/repo-2"]


def test_it_sends_a_plain_form_back_to_the_page(alice: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)

    response = _browser(alice).post(f"/onboarding/sync/{job.pk}/cancel/")

    assert response.status_code == 302 and response["Location"] == f"/onboarding/sync/{job.pk}/"


def test_it_asks_for_sso_authorization_when_the_organization_requires_it(
    alice: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.PARTIAL)
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-1").update(
        status=RepoSync.Status.FAILED,
        error_code="sso_required",
        error_message="Resource protected by organization SAML enforcement",
    )

    page = _browser(alice).get(f"/onboarding/sync/{job.pk}/").content.decode()

    assert "requires SAML single sign-on" in page and "Reconnect GitHub" in page
    assert "revoked" not in page


@pytest.mark.parametrize("action", ["cancel", "retry", "run-now", "reconnect"])
def test_it_refuses_a_plain_member_the_admins_actions(
    action: str, alice: User, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, requested_by=alice)
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-2").update(
        status=RepoSync.Status.FAILED
    )

    plain = _browser(bob).post(f"/onboarding/sync/{job.pk}/{action}/", follow=True)
    htmx = _browser(bob).post(f"/onboarding/sync/{job.pk}/{action}/", HTTP_HX_REQUEST="true")

    assert plain.redirect_chain == [(f"/onboarding/sync/{job.pk}/", 302)]  # back, saying why
    assert "Only the team&#x27;s admins" in plain.content.decode()
    assert "Only the team&#x27;s admins" in htmx.content.decode()
    assert "HX-Redirect" not in htmx
    assert SyncJob.objects.get().status == SyncJob.Status.RUNNING  # no new job, not cancelled
    assert not AuditEvent.objects.exists()


def test_it_lets_staff_cancel_from_the_progress_page(sam: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)

    response = _browser(sam).post(f"/onboarding/sync/{job.pk}/cancel/", HTTP_HX_REQUEST="true")

    assert "Cancelled" in response.content.decode()
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED
