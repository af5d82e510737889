from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import notifications, services
from sync.models import (
    Integration,
    Membership,
    RepoSync,
    SyncJob,
    SyncNotice,
    Team,
    TrackedRepository,
)
from sync.slack import client as slack
from tests.processes import Process, wait_for
from tests.sync.importing import connect, forget_github_budgets, track_all, wait_finished
from tests.sync.integrating import connect_slack

ALL_HISTORY = timedelta(days=800)
WHAT_TO_DO_GITHUB = "What to do: Connect GitHub again in PR Insights, then start the import again."


@pytest.fixture
def admin(team: Team, alice: User) -> Membership:
    return Membership.objects.select_related("team", "user").get(team=team, user=alice)


@pytest.fixture
def acme(team: Team, alice: User, slack_sandbox: RunningSandbox) -> Team:
    """Acme with GitHub connected and every repository tracked (Slack not yet)."""
    forget_github_budgets()
    token = connect(team, alice, slack_sandbox)
    track_all(team, token)
    return team


def _imports(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    """The messages about imports the app posted (not the one greeting a new channel)."""
    return [m for m in sandbox.control.slack_messages() if m["text"].startswith("Import of")]


def _job(team: Team, status: str, **fields: Any) -> SyncJob:
    """A job of three repositories as the engine leaves it, for notices without a worker."""
    job = SyncJob.objects.create(team=team, status=status, repos_total=3, **fields)
    for number in (1, 2, 3):
        repository, _ = TrackedRepository.objects.get_or_create(
            team=team, github_id=number, defaults={"full_name": f"acme/repo-{number}"}
        )
        RepoSync.objects.create(job=job, repository=repository, status=RepoSync.Status.SUCCEEDED)
    return job


def _sent_notice(job: SyncJob) -> SyncNotice:
    """Wait for the worker to record the notice as sent (it posts first, then records)."""
    sent = SyncNotice.objects.filter(job=job, status=SyncNotice.Status.SENT)
    return wait_for(sent.first, timeout=10)  # type: ignore[return-value]


def _finished_job(team: Team, status: str, **fields: Any) -> SyncJob:
    return _job(team, status, finished_at=timezone.now(), **fields)


# -- with a real worker ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_posts_the_outcome_to_slack_when_an_import_succeeds(
    acme: Team, admin: Membership, slack_sandbox: RunningSandbox, worker: Process
) -> None:
    connect_slack(admin, channel="pr-notices")
    repos = acme.repositories.count()

    job = wait_finished(services.start_sync(team=acme, history_since=timezone.now() - ALL_HISTORY))

    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    message = wait_for(lambda: _imports(slack_sandbox), timeout=30)[0]  # type: ignore[index]
    assert message["text"] == (
        f"Import of acme finished: {job.prs_synced} pull requests from {repos} repositories."
    )
    assert job.prs_synced == 400
    assert message["channel_name"] == "pr-notices"
    notice = _sent_notice(job)
    assert notice.message_ts == message["ts"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_posts_what_to_do_when_an_import_fails(
    acme: Team, admin: Membership, slack_sandbox: RunningSandbox, worker: Process
) -> None:
    connect_slack(admin, channel="pr-notices")
    token = Integration.objects.get(team=acme, provider="github").credential.access_token  # type: ignore[union-attr]
    slack_sandbox.control.revoke_token(token)

    job = wait_finished(services.start_sync(team=acme))

    assert job.status == SyncJob.Status.FAILED
    message = wait_for(lambda: _imports(slack_sandbox), timeout=30)[0]  # type: ignore[index]
    assert message["text"] == (
        f"Import of acme failed: GitHub access was revoked: reconnect. {WHAT_TO_DO_GITHUB}"
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_names_the_failed_repositories_of_a_partial_import(
    acme: Team, admin: Membership, slack_sandbox: RunningSandbox, worker: Process
) -> None:
    connect_slack(admin, channel="pr-notices")
    gone = acme.repositories.order_by("full_name").first()
    assert gone is not None
    slack_sandbox.control.delete_repo(*gone.full_name.split("/"))

    job = wait_finished(services.start_sync(team=acme))

    assert job.status == SyncJob.Status.PARTIAL
    text = wait_for(lambda: _imports(slack_sandbox), timeout=30)[0]["text"]  # type: ignore[index]
    done = acme.repositories.count() - 1
    assert text.startswith(
        f"Import of acme finished: {job.prs_synced} pull requests from {done} repositories; "
        f"1 repository failed: {gone.full_name} ("
    )
    assert text.endswith("retry the failed ones once that is fixed.")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_announces_an_import_that_finished_before_slack_was_connected(
    acme: Team, admin: Membership, slack_sandbox: RunningSandbox, worker: Process
) -> None:
    job = wait_finished(services.start_sync(team=acme))
    assert job.status == SyncJob.Status.SUCCEEDED
    assert _imports(slack_sandbox) == []

    connect_slack(admin, channel="pr-notices")

    message = wait_for(lambda: _imports(slack_sandbox), timeout=30)[0]  # type: ignore[index]
    assert message["text"].startswith("Import of acme finished:")
    assert _sent_notice(job).channel_id == slack_sandbox.control.slack_channel_id("pr-notices")


# -- the notice itself -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_posts_once_however_often_it_is_asked(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel="pr-notices")
    job = _finished_job(admin.team, SyncJob.Status.SUCCEEDED, prs_synced=12)

    first = notifications.notify_sync_finished(job.pk)
    second = notifications.notify_sync_finished(job.pk)

    assert first is not None and first.status == SyncNotice.Status.SENT
    assert second is None
    assert [m["text"] for m in _imports(slack_sandbox)] == [
        "Import of acme finished: 12 pull requests from 3 repositories."
    ]


@pytest.mark.django_db
def test_it_says_nothing_about_unfinished_or_cancelled_jobs_or_without_a_channel(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)
    done = _finished_job(admin.team, SyncJob.Status.SUCCEEDED)
    assert notifications.notify_sync_finished(done.pk) is None  # no channel chosen yet
    done.delete()
    connect_slack(admin, channel="pr-notices")
    running = _job(admin.team, SyncJob.Status.RUNNING)
    assert notifications.notify_sync_finished(running.pk) is None
    running.delete()
    cancelled = _finished_job(admin.team, SyncJob.Status.CANCELLED)
    assert notifications.notify_sync_finished(cancelled.pk) is None
    assert notifications.notify_sync_finished(999_999) is None
    assert _imports(slack_sandbox) == []


@pytest.mark.django_db
def test_it_links_to_the_import_when_the_site_url_is_known(
    admin: Membership, slack_sandbox: RunningSandbox, settings: object
) -> None:
    settings.SITE_URL = "https://insights.example.com/"  # type: ignore[attr-defined]
    connect_slack(admin, channel="pr-notices")
    job = _finished_job(
        admin.team,
        SyncJob.Status.FAILED,
        error_code="token_revoked",
        error_message="GitHub access was revoked: reconnect",
    )

    notifications.notify_sync_finished(job.pk)

    assert _imports(slack_sandbox)[0]["text"] == (
        f"Import of acme failed: GitHub access was revoked: reconnect. {WHAT_TO_DO_GITHUB} "
        f"<https://insights.example.com/onboarding/sync/{job.pk}/|Open the import>"
    )


@pytest.mark.django_db
def test_it_records_that_the_app_was_removed_from_the_channel(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel="pr-notices")
    slack_sandbox.control.kick_slack_bot(slack_sandbox.control.slack_channel_id("pr-notices"))
    job = _finished_job(admin.team, SyncJob.Status.SUCCEEDED)

    notice = notifications.notify_sync_finished(job.pk)

    assert notice is not None
    assert (notice.status, notice.error_code) == (SyncNotice.Status.FAILED, "not_in_channel")
    integration = Integration.objects.get(provider="slack")
    assert integration.status == Integration.Status.ERROR
    assert integration.status_detail == "The app was removed from #pr-notices: invite it."
    assert _imports(slack_sandbox) == []


@pytest.mark.django_db
def test_it_marks_slack_revoked_when_the_app_was_uninstalled(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel="pr-notices")
    slack_sandbox.control.revoke_slack()
    job = _finished_job(admin.team, SyncJob.Status.SUCCEEDED)

    notice = notifications.notify_sync_finished(job.pk)

    assert notice is not None and notice.error_code == "token_revoked"
    assert Integration.objects.get(provider="slack").status == Integration.Status.REVOKED
    later = _finished_job(admin.team, SyncJob.Status.SUCCEEDED)
    assert notifications.notify_sync_finished(later.pk) is None  # no more calls to Slack


@pytest.mark.django_db
def test_it_leaves_a_notice_to_retry_when_slack_is_down(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel="pr-notices")
    job = _finished_job(admin.team, SyncJob.Status.SUCCEEDED)
    slack_sandbox.control.add_fault("chat.postMessage", status=503, count=1)

    with pytest.raises(slack.Transient):  # the actor's retry takes it from here
        notifications.notify_sync_finished(job.pk)

    assert SyncNotice.objects.get(job=job).status == SyncNotice.Status.SENDING
    notice = notifications.notify_sync_finished(job.pk)
    assert notice is not None and notice.status == SyncNotice.Status.SENT
    assert len(_imports(slack_sandbox)) == 1
