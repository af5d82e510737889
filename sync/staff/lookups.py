"""Staff-only lookups: the one permission check of the staff pages, per object type."""

from __future__ import annotations

from typing import Any

from sync import access
from sync.models import SyncJob, Team, TrackedRepository


class NotFound(Exception):
    """No such object, or the user is not staff (the two are not told apart)."""


def get_team_for_staff(user: Any, team_id: int) -> Team:
    """Return the team if ``user`` is staff; raise NotFound otherwise."""
    if not access.is_staff(user):
        raise NotFound(team_id)
    try:
        return Team.objects.get(pk=team_id)
    except Team.DoesNotExist:
        raise NotFound(team_id) from None


def get_job_for_staff(user: Any, job_id: int) -> SyncJob:
    """Return the job (with its team) if ``user`` is staff; raise NotFound otherwise."""
    if not access.is_staff(user):
        raise NotFound(job_id)
    try:
        return access.get_job_for_user(user, job_id)
    except access.JobNotFound:
        raise NotFound(job_id) from None


def get_repository_for_staff(user: Any, repository_id: int) -> TrackedRepository:
    """Return the tracked repository (with its team) if ``user`` is staff; raise NotFound."""
    if not access.is_staff(user):
        raise NotFound(repository_id)
    try:
        return TrackedRepository.objects.select_related("team").get(pk=repository_id)
    except TrackedRepository.DoesNotExist:
        raise NotFound(repository_id) from None
