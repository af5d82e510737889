"""Who may see which sync job: the one permission check shared by views and consumers."""

from __future__ import annotations

from typing import Any

from sync.models import SyncJob


class JobNotFound(Exception):
    """The job does not exist or the user may not see it (the two are not told apart)."""


def is_staff(user: Any) -> bool:
    """Return whether ``user`` may watch every team's sync jobs."""
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def get_job_for_user(user: Any, job_id: int) -> SyncJob:
    """Return the job if ``user`` is a member of its team or staff; raise JobNotFound otherwise."""
    if not (user.is_authenticated and user.is_active):
        raise JobNotFound(job_id)
    jobs = SyncJob.objects.select_related("team")
    if not is_staff(user):
        jobs = jobs.filter(team__memberships__user=user)
    try:
        return jobs.get(pk=job_id)
    except SyncJob.DoesNotExist:
        raise JobNotFound(job_id) from None
