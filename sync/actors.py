"""Dramatiq entry points: thin, id-only, idempotent; the logic lives in the modules they call.

The sync runs as one message per page of one repository: a killed worker loses at most one
page, and repositories (and teams) take turns on the workers. Retries of GitHub failures are
the engine's own (it knows the attempt and shows it); Dramatiq's retries only cover what the
engine could not even record, such as a database that is down.
"""

from __future__ import annotations

import logging

import dramatiq
from django.db import DatabaseError
from django.utils import timezone
from dramatiq.middleware import TimeLimitExceeded

from sync import credentials, engine
from sync.crypto import DecryptionError
from sync.engine.tokens import MissingToken
from sync.github.errors import BadCredentials, RateLimited, RepositoryUnavailable
from sync.models import Integration, RepoSync, Team

logger = logging.getLogger(__name__)

# A page is one GraphQL request plus follow-ups for long pull requests, each under
# GITHUB_TIMEOUT: minutes are a generous bound, and far under Dramatiq's default of 10.
PAGE_TIME_LIMIT_MS = 5 * 60_000


@dramatiq.actor(
    max_retries=3,
    min_backoff=1_000,
    time_limit=60_000,
    # Retrying cannot fix a key that is missing or a row that is gone.
    throws=(DecryptionError, Integration.DoesNotExist),
)
def verify_github_integration(integration_id: int) -> None:
    credentials.verify_github_integration(integration_id)


@dramatiq.actor(max_retries=3, min_backoff=2_000, max_backoff=30_000, time_limit=120_000)
def start_sync_job(job_id: int) -> None:
    """Refresh members, mark the job running, send every repository's first page."""
    send_steps(engine.start_job(job_id))


def _page_log_ids(repo_sync_id: int, page: int = 0) -> dict[str, object]:
    """Return the ids every log line of a page carries (only the row's id if it is unreadable)."""
    try:
        row = (
            RepoSync.objects.filter(pk=repo_sync_id)
            .values("job_id", "job__team_id", "repository_id")
            .first()
        )
    except DatabaseError:  # the page itself meets the outage and reports it
        row = None
    if row is None:
        return {"repo_sync_id": repo_sync_id}
    return {
        "job_id": row["job_id"],
        "team_id": row["job__team_id"],
        "repository_id": row["repository_id"],
        "repo_sync_id": repo_sync_id,
    }


@dramatiq.actor(
    max_retries=5,
    min_backoff=2_000,
    max_backoff=60_000,
    time_limit=PAGE_TIME_LIMIT_MS,
    log_ids=_page_log_ids,  # project.logs.ActorLogContext: every line of a page carries them
)
def sync_repository_page(repo_sync_id: int, page: int) -> None:
    """Sync one page of one repository, then send the next page (or finish the job)."""
    try:
        steps = engine.sync_page(repo_sync_id, page=page)
    except (Exception, TimeLimitExceeded) as error:
        logger.exception("page crashed repo_sync=%s page=%s", repo_sync_id, page)
        steps = engine.page_crashed(repo_sync_id, page=page, error=error)
    send_steps(steps)


@dramatiq.actor(max_retries=5, min_backoff=1_000, max_backoff=30_000, time_limit=60_000)
def finish_sync_job(job_id: int) -> None:
    """Settle the job's outcome once its last repository is done."""
    engine.finish_job(job_id)


@dramatiq.actor(
    max_retries=3,
    min_backoff=5_000,
    max_backoff=60_000,
    time_limit=120_000,
    throws=(Team.DoesNotExist, MissingToken, BadCredentials, RepositoryUnavailable),
)
def sync_team_members(team_id: int) -> None:
    """Import the team's organization members."""
    engine.sync_team_members(team_id)


def send_steps(steps: list[engine.Step]) -> None:
    """Send what the engine asked for next."""
    for step in steps:
        if isinstance(step, engine.SendPage):
            sync_repository_page.send_with_options(
                args=(step.repo_sync_id, step.page), delay=step.delay_ms or None
            )
            engine.note_dispatched(step.repo_sync_id, page=step.page)
        elif isinstance(step, engine.StartNext):
            send_steps(engine.start_next_repositories(step.job_id))
        elif isinstance(step, engine.SyncMembers):
            sync_team_members.send(step.team_id)
        else:
            finish_sync_job.send(step.job_id)


# -- the Slack notice of a finished job (sync.notifications) -------------------------------------


@dramatiq.actor(
    max_retries=5,
    min_backoff=5_000,
    max_backoff=120_000,
    time_limit=60_000,
    # Slack's refusals are settled inside (recorded, not retried); a missing key stays missing.
    throws=(DecryptionError,),
)
def notify_sync_finished(job_id: int) -> None:
    """Post the finished job's outcome to the team's Slack channel, once."""
    from sync import notifications  # imported here to keep this block self-contained

    notifications.notify_sync_finished(job_id)


# -- GitHub webhook deliveries (sync.webhooks) ---------------------------------------------------


@dramatiq.actor(
    max_retries=5,
    min_backoff=1_000,
    max_backoff=30_000,
    time_limit=120_000,
    # Nothing a retry can fix: no token to read GitHub with, or a key that is missing.
    throws=(MissingToken, BadCredentials, DecryptionError),
)
def apply_webhook_delivery(delivery_id: int) -> None:
    """Apply one recorded webhook delivery through the import's write path."""
    from sync.webhooks import events

    try:
        events.apply_delivery(delivery_id)
    except (MissingToken, BadCredentials, RepositoryUnavailable) as error:
        events.mark_failed(delivery_id, f"{type(error).__name__}: {error}")
    except RateLimited as error:
        # No worker sleeps for GitHub's reset: the same message comes back after it.
        delay = max(1_000, int((error.reset_at - timezone.now()).total_seconds() * 1000))
        apply_webhook_delivery.send_with_options(args=(delivery_id,), delay=delay)


# -- the reconciliation sweep (sync.sweep), sent by the scheduler (manage.py runscheduler) -------


@dramatiq.actor(max_retries=3, min_backoff=5_000, max_backoff=60_000, time_limit=60_000)
def sweep_teams() -> None:
    """Send every connected team's sweep, spread over the jitter window."""
    from sync import sweep  # the sweep starts jobs through sync.services, which sends actors

    for team_id in sweep.teams_to_sweep():
        sweep_team.send_with_options(args=(team_id,), delay=sweep.spread_ms() or None)


@dramatiq.actor(
    max_retries=2,
    min_backoff=10_000,
    max_backoff=60_000,
    time_limit=PAGE_TIME_LIMIT_MS,
    log_ids=lambda team_id: {"team_id": team_id},
    # A missing key stays missing; the next period sweeps again anyway.
    throws=(DecryptionError,),
)
def sweep_team(team_id: int) -> None:
    """Ask GitHub what changed for one team and sync only that (or skip, or defer)."""
    from sync import sweep

    sweep.sweep_team(team_id)
