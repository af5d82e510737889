"""The Slack notice of a finished sync job: what it says, and posting it exactly once.

When a job ends (succeeded, partial or failed) the engine asks, after its commit, for
:func:`enqueue_sync_notice`; the ``notify_sync_finished`` actor then calls
:func:`notify_sync_finished`, which posts to the channel the team chose, so someone who closed
the tab still hears how the import went. A SyncNotice row per job makes a redelivered message
harmless. Cancelled jobs are not announced: someone here cancelled them.
"""

from __future__ import annotations

import logging

import dramatiq
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from sync.models import Integration, RepoSync, SyncJob, SyncNotice
from sync.slack import client as slack

logger = logging.getLogger(__name__)

NOTIFIED = (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL, SyncJob.Status.FAILED)
# The actor in sync.actors, named here: the engine sends it without importing the actors.
NOTICE_ACTOR = "notify_sync_finished"
FAILURES_NAMED = 3
WHAT_TO_DO = {
    "token_revoked": "Connect GitHub again in PR Insights, then start the import again.",
    "not_connected": "Connect GitHub again in PR Insights, then start the import again.",
    "token_unreadable": "Connect GitHub again in PR Insights, then start the import again.",
    "repos_failed": "Open the import in PR Insights: each repository says what went wrong; "
    "retry the failed ones once that is fixed.",
}
DEFAULT_WHAT_TO_DO = "Open the import in PR Insights to see what went wrong, then retry it."


def enqueue_sync_notice(job_id: int) -> None:
    """Ask a worker to post the job's outcome (call after the finishing transaction commits)."""
    message: dramatiq.Message[None] = dramatiq.Message(
        queue_name="default", actor_name=NOTICE_ACTOR, args=(job_id,), kwargs={}, options={}
    )
    dramatiq.get_broker().enqueue(message)


def notify_sync_finished(job_id: int) -> SyncNotice | None:
    """Post the finished job's outcome to the team's Slack channel, once.

    Returns the notice (sent, or failed for good), or None when there is nothing to post: the
    job is not finished, was cancelled, or the team chose no channel. Raises the client's
    Transient so that the actor retries.
    """
    job = SyncJob.objects.select_related("team").filter(pk=job_id).first()
    if job is None or job.status not in NOTIFIED:
        return None
    integration = (
        Integration.objects.select_related("credential")
        .filter(team_id=job.team_id, provider="slack", status=Integration.Status.ACTIVE)
        .first()
    )
    channel = str(integration.config.get("channel_id") or "") if integration else ""
    if integration is None or integration.credential is None or not channel:
        return None
    notice = _claim(job, channel)
    if notice is None:
        return None  # posted before: a redelivered message
    try:
        posted = slack.make_client().post_message(
            token=integration.credential.access_token, channel=channel, text=notice.text
        )
    except slack.Transient:
        raise
    except slack.SlackError as error:
        return _failed(notice, integration, error)
    notice.status, notice.message_ts = SyncNotice.Status.SENT, posted.ts
    notice.sent_at = timezone.now()
    notice.save(update_fields=["status", "message_ts", "sent_at"])
    logger.info("sync notice posted job=%s team=%s", job.pk, job.team_id)
    return notice


def sync_notice_text(job: SyncJob) -> str:
    """Say how the import went, and for a failure what to do about it."""
    org = job.team.github_org_login
    repos = job.repo_syncs.select_related("repository")
    done = repos.filter(status=RepoSync.Status.SUCCEEDED).count()
    link = _link(job)
    if job.status == SyncJob.Status.SUCCEEDED:
        return f"Import of {org} finished: {_prs(job.prs_synced)} from {_repos(done)}.{link}"
    if job.status == SyncJob.Status.PARTIAL:
        failed = list(repos.filter(status=RepoSync.Status.FAILED).order_by("repository__full_name"))
        named = "; ".join(
            f"{r.repository.full_name} ({r.error_message or r.error_code})"
            for r in failed[:FAILURES_NAMED]
        )
        more = f" and {len(failed) - FAILURES_NAMED} more" if len(failed) > FAILURES_NAMED else ""
        return (
            f"Import of {org} finished: {_prs(job.prs_synced)} from {_repos(done)}; "
            f"{_repos(len(failed))} failed: {named}{more}. "
            f"What to do: {WHAT_TO_DO['repos_failed']}{link}"
        )
    reason = job.error_message or job.error_code or "unknown error"
    what = WHAT_TO_DO.get(job.error_code, DEFAULT_WHAT_TO_DO)
    return f"Import of {org} failed: {reason}. What to do: {what}{link}"


def _claim(job: SyncJob, channel: str) -> SyncNotice | None:
    """Create the job's notice, or take over one whose earlier attempt did not finish."""
    try:
        with transaction.atomic():
            return SyncNotice.objects.create(
                job=job, channel_id=channel, text=sync_notice_text(job)
            )
    except IntegrityError:
        notice = SyncNotice.objects.get(job=job)
    if notice.status != SyncNotice.Status.SENDING:
        return None
    return notice


def _failed(notice: SyncNotice, integration: Integration, error: slack.SlackError) -> SyncNotice:
    notice.status, notice.error_code = SyncNotice.Status.FAILED, error.code[:50]
    notice.save(update_fields=["status", "error_code"])
    if isinstance(error, slack.AccessRevoked):
        status, detail = Integration.Status.REVOKED, "Slack access was revoked: connect again."
    elif isinstance(error, slack.NotInChannel):
        name = integration.config.get("channel_name") or notice.channel_id
        status, detail = Integration.Status.ERROR, f"The app was removed from #{name}: invite it."
    else:
        status, detail = Integration.Status.ERROR, f"Slack refused the notice ({error.code})."
    Integration.objects.filter(pk=integration.pk).update(
        status=status, status_detail=detail, updated_at=timezone.now()
    )
    logger.warning(
        "sync notice failed job=%s team=%s code=%s", notice.job_id, integration.team_id, error.code
    )
    return notice


def _link(job: SyncJob) -> str:
    if not settings.SITE_URL:
        return ""
    url = settings.SITE_URL.rstrip("/") + reverse("onboarding:sync", args=[job.pk])
    return f" <{url}|Open the import>"


def _prs(count: int) -> str:
    return f"{count} pull request{'' if count == 1 else 's'}"


def _repos(count: int) -> str:
    return f"{count} repositor{'y' if count == 1 else 'ies'}"
