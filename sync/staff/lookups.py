"""Staff-only lookups: the one permission check of the staff pages, per object type."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from sync import access
from sync.access import Action
from sync.models import SyncJob, Team, TrackedRepository


class NotFound(Exception):
    """No such object, or the user is not staff (the two are not told apart)."""


def get_team_for_staff(user: Any, team_id: int, action: Action = Action.VIEW) -> Team:
    """Return the team if ``user`` is staff and may do ``action`` on it; raise NotFound otherwise.

    An action the permission table (``sync.access``) refuses staff raises PermissionDenied.
    """
    if not access.is_staff(user):
        raise NotFound(team_id)
    try:
        team = Team.objects.get(pk=team_id)
    except Team.DoesNotExist:
        raise NotFound(team_id) from None
    try:
        return access.require_team(user, team, action)
    except access.NotAllowed as error:
        raise PermissionDenied(str(error)) from None


def get_job_for_staff(user: Any, job_id: int, action: Action = Action.VIEW) -> SyncJob:
    """Return the job (with its team) if ``user`` is staff and may do ``action`` on it.

    Raise NotFound otherwise, PermissionDenied for an action the table refuses staff.
    """
    if not access.is_staff(user):
        raise NotFound(job_id)
    try:
        return access.get_job_for_user(user, job_id, action)
    except access.JobNotFound:
        raise NotFound(job_id) from None
    except access.NotAllowed as error:
        raise PermissionDenied(str(error)) from None


def get_repository_for_staff(
    user: Any, repository_id: int, action: Action = Action.VIEW
) -> TrackedRepository:
    """Return the tracked repository (with its team) if ``user`` is staff; raise NotFound."""
    if not access.is_staff(user):
        raise NotFound(repository_id)
    try:
        repository = TrackedRepository.objects.select_related("team").get(pk=repository_id)
    except TrackedRepository.DoesNotExist:
        raise NotFound(repository_id) from None
    try:
        access.require_team(user, repository.team, action)
    except access.NotAllowed as error:
        raise PermissionDenied(str(error)) from None
    return repository
