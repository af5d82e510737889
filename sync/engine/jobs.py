"""Starting and settling a job; the pages in between are :mod:`sync.engine.pages`."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from sync import progress
from sync.engine import members, sizes, state
from sync.engine.steps import Step, SyncMembers
from sync.engine.tokens import MissingToken, team_token
from sync.github.client import Session
from sync.github.errors import BadCredentials, GitHubError
from sync.models import SyncJob, Team

logger = logging.getLogger(__name__)


def start_job(job_id: int) -> list[Step]:
    """Refresh the team's members, mark the job running and start its first repositories.

    A bad token fails the job here, before any repository starts. Repositories start a few at
    a time (``state.start_next_repositories``). Idempotent: a redelivered start claims only
    repositories not started yet.
    """
    job = SyncJob.objects.select_related("team").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return []
    try:
        token = team_token(job.team_id)
    except MissingToken as error:
        state.job_failed(job_id, code=error.code, message=str(error))
        return []
    session = Session(token.token)
    later: list[Step] = []
    if job.status == SyncJob.Status.QUEUED:
        try:
            members.sync_members(team=job.team, session=session, owner_id=token.user_id)
        except BadCredentials:
            state.job_failed(job_id, code="token_revoked", message=state.REVOKED)
            return []
        except GitHubError as error:
            # The import goes on; the members actor tries again with backoff and links the
            # authors imported meanwhile once the members arrive.
            logger.warning("members not refreshed job=%s: %s", job_id, error)
            later.append(SyncMembers(job.team_id))
    _mark_running(job_id, points=session.points)
    if job.counted_at is None:
        try:
            sizes.count_job(job, session)
        except BadCredentials:
            state.job_failed(job_id, code="token_revoked", message=state.REVOKED)
            return []
    return later + state.finish_if_done(job_id)  # the first repositories, or the finish


@transaction.atomic
def _mark_running(job_id: int, *, points: int) -> None:
    now = timezone.now()
    changed = SyncJob.objects.filter(pk=job_id, status=SyncJob.Status.QUEUED).update(
        status=SyncJob.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if changed:
        state.bump_job(job_id, github_points=points)
        progress.job_changed(job_id, urgent=True)


def finish_job(job_id: int) -> None:
    """Settle the job once every repository is done, relinking authors that arrived late."""
    job = SyncJob.objects.select_related("team").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return
    members.relink_authors(job.team)
    state.finish_job(job_id)


def sync_team_members(team_id: int) -> int:
    """Refresh a team's members with its GitHub token (the select-organization step)."""
    team = Team.objects.get(pk=team_id)
    token = team_token(team_id)
    return members.sync_members(team=team, session=Session(token.token), owner_id=token.user_id)
