"""Sync jobs for progress tests: rows written as the engine writes them, then published."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sync import progress
from sync.models import RepoSync, SyncJob, Team, TrackedRepository


def make_job(team: Team, repos: int = 2, **fields: Any) -> SyncJob:
    """Create a job of ``repos`` repositories of 100 pull requests each.

    A job past the queue was started, counted and has a fresh heartbeat, with the percent and
    the estimate's time the engine would have written, unless ``fields`` say otherwise.
    """
    now = timezone.now()
    status = fields.get("status", SyncJob.Status.QUEUED)
    if status != SyncJob.Status.QUEUED:
        for name in ("started_at", "counted_at", "heartbeat_at"):
            fields.setdefault(name, now)
    if fields.get("eta_seconds") is not None:
        fields.setdefault("eta_at", now)
    synced = fields.get("prs_synced", 0)
    fields.setdefault("prs_total", 100 * repos)
    fields.setdefault("percent", min(94, 100 * synced // (100 * repos)) if repos else 0)
    job = SyncJob.objects.create(team=team, repos_total=repos, **fields)
    for number in range(1, repos + 1):
        repository = TrackedRepository.objects.create(
            team=team,
            github_id=team.github_org_id * 100 + number,
            full_name=f"{team}/repo-{number}",
        )
        RepoSync.objects.create(job=job, repository=repository, prs_total=100, prs_expected=100)
    return job


def worker_alive() -> None:
    """Write a worker heartbeat now, as a running worker process does every few seconds."""
    from sync import heartbeat

    heartbeat._client().zadd(heartbeat._key(), {"test-worker": time.time()})


def no_worker() -> None:
    """Forget every worker heartbeat, as when no worker process runs."""
    from sync import heartbeat

    heartbeat._client().delete(heartbeat._key())


def change_job(job: SyncJob, *, urgent: bool = False, **fields: Any) -> SyncJob:
    """Update the job's row and bump its version in one transaction, then publish after commit."""
    with transaction.atomic():
        SyncJob.objects.filter(pk=job.pk).update(version=F("version") + 1, **fields)
        progress.job_changed(job.pk, urgent=urgent)
    return SyncJob.objects.get(pk=job.pk)


def change_repo(job: SyncJob, name: str, **fields: Any) -> SyncJob:
    """Update one repository's row of the job (and the job's version), then publish."""
    with transaction.atomic():
        RepoSync.objects.filter(job=job, repository__full_name=name).update(**fields)
        SyncJob.objects.filter(pk=job.pk).update(version=F("version") + 1)
        progress.job_changed(job.pk)
    return SyncJob.objects.get(pk=job.pk)
