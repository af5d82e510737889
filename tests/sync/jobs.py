"""Sync jobs for progress tests: rows written as the engine writes them, then published."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F

from sync import progress
from sync.models import RepoSync, SyncJob, Team, TrackedRepository


def make_job(team: Team, repos: int = 2, **fields: Any) -> SyncJob:
    job = SyncJob.objects.create(team=team, repos_total=repos, **fields)
    for number in range(1, repos + 1):
        repository = TrackedRepository.objects.create(
            team=team,
            github_id=team.github_org_id * 100 + number,
            full_name=f"{team}/repo-{number}",
        )
        RepoSync.objects.create(job=job, repository=repository, prs_total=100)
    return job


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
