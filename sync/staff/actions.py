"""Staff actions on a team's sync, each a ``sync.services`` call, audited with its outcome.

The services refuse a second active job per team, queue on commit and write an audit row; here
that row is completed with what the staff asked (their parameters) and what came of it (the job
queued, or why it was refused). A refused action is recorded too: support needs to see "tried,
refused: already running" as much as a success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from sync import services
from sync.models import AuditEvent, SyncJob, Team, TrackedRepository
from sync.staff.audit import Action

logger = logging.getLogger(__name__)


def sync_team(*, team: Team, actor: User, kind: str, extend_to: datetime | None = None) -> SyncJob:
    """Start an incremental, full or extend-history sync of ``team``, audited with its outcome."""
    params: dict[str, Any] = {"kind": kind}
    if extend_to is not None:
        params["extend_to"] = extend_to.date().isoformat()
    return _audited(
        actor=actor,
        team=team,
        action=f"sync.{kind}",
        params=params,
        run=lambda: services.start_sync(
            team=team, kind=kind, requested_by=actor, extend_to=extend_to
        ),
        done=lambda job: f"queued job #{job.pk} for {_repositories(job.repos_total)}",
    )


def resync_repository(*, repository: TrackedRepository, actor: User) -> SyncJob:
    """Re-import one repository's whole imported range, audited with its outcome."""
    return _audited(
        actor=actor,
        team=repository.team,
        action=Action.RESYNC_REPOSITORY,
        params={"repository": repository.full_name, "repository_id": repository.pk},
        run=lambda: services.resync_repository(repository=repository, by=actor),
        done=lambda job: f"queued job #{job.pk}",
    )


def retry_failed(*, job: SyncJob, actor: User) -> SyncJob:
    """Start a job for the repositories that failed in ``job``, audited with its outcome."""
    return _audited(
        actor=actor,
        team=job.team,
        action=Action.RETRY_FAILED,
        params={"failed_job": job.pk},
        run=lambda: services.retry_failed_repositories(job=job, by=actor),
        done=lambda retry: f"queued job #{retry.pk} for {_repositories(retry.repos_total)}",
    )


def cancel(*, job: SyncJob, actor: User) -> SyncJob:
    """Cancel a queued or running job, audited with its outcome."""
    return _audited(
        actor=actor,
        team=job.team,
        action=Action.CANCEL,
        params={"job": job.pk},
        run=lambda: services.cancel_job(job=job, by=actor),
        done=lambda cancelled: f"cancelled job #{cancelled.pk}",
    )


def resume(*, job: SyncJob, actor: User) -> SyncJob:
    """Send a stalled job's next pages to the queue again, audited with its outcome."""
    return _audited(
        actor=actor,
        team=job.team,
        action=Action.RESUME,
        params={"job": job.pk},
        run=lambda: services.resume_job(job=job, by=actor),
        done=lambda resumed: f"sent job #{resumed.pk} to the queue again",
    )


def _audited(
    *,
    actor: User,
    team: Team,
    action: str,
    params: dict[str, Any],
    run: Callable[[], SyncJob],
    done: Callable[[SyncJob], str],
) -> SyncJob:
    """Run a service call; complete the audit row it wrote, or record why it was refused."""
    try:
        with transaction.atomic():
            before = AuditEvent.objects.aggregate(last=Max("pk"))["last"] or 0
            job = run()
            _complete_audit(actor, team, action, params | {"job": job.pk}, done(job), before)
    except services.SyncError as error:
        refusal = "failed" if isinstance(error, services.BrokerUnavailable) else "refused"
        if isinstance(error, services.SyncAlreadyRunning):
            params = params | {"running_job": error.job_id}
        AuditEvent.objects.create(
            actor=actor, team=team, action=action, params=params, outcome=f"{refusal}: {error}"
        )
        logger.info("staff action %s %s team=%s by=%s", action, refusal, team.pk, actor.pk)
        raise
    logger.info("staff action %s team=%s job=%s by=%s", action, team.pk, job.pk, actor.pk)
    return job


def _repositories(count: int) -> str:
    return f"{count} repositor{'y' if count == 1 else 'ies'}"


def _complete_audit(
    actor: User, team: Team, action: str, params: dict[str, Any], outcome: str, after: int
) -> None:
    """Give the row the service wrote in this transaction our action, parameters and outcome.

    The service's row names the action in its own terms (a one-repository resync is a
    ``sync.full``); the staff's parameters say what was asked.
    """
    written = AuditEvent.objects.filter(pk__gt=after, actor=actor, team=team, outcome="")
    event = written.order_by("-pk").first()
    if event is None:  # the service wrote none: write our own
        event = AuditEvent(actor=actor, team=team)
    event.action = action
    event.params = params
    event.outcome = outcome
    event.save()
