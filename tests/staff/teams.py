"""Teams, repositories and jobs in the states staff look for, written as the engine writes them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from sync.models import Integration, RepoSync, SyncJob, Team, TrackedRepository


def make_team(login: str, org_id: int, name: str = "") -> Team:
    return Team.objects.create(
        name=name or login.title(), github_org_id=org_id, github_org_login=login
    )


def add_repositories(team: Team, *names: str) -> list[TrackedRepository]:
    return [_repository(team, name) for name in names]


def connect_github(team: Team, status: str = Integration.Status.ACTIVE, detail: str = "") -> None:
    Integration.objects.create(team=team, provider="github", status=status, status_detail=detail)


def finished_job(team: Team, status: str, **repos: str) -> SyncJob:
    """A job that ended an hour ago, with one row per repository name -> status."""
    now = timezone.now()
    job = SyncJob.objects.create(
        team=team,
        status=status,
        repos_total=len(repos),
        repos_done=len(repos),
        created_at=now - timedelta(hours=1),
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(minutes=50),
    )
    for name, repo_status in repos.items():
        fields: dict[str, Any] = {"finished_at": job.finished_at}
        if repo_status == RepoSync.Status.FAILED:
            fields |= {"error_code": "repo_gone", "error_message": f"{name} is gone from GitHub"}
        RepoSync.objects.create(
            job=job, repository=_repository(team, name), status=repo_status, **fields
        )
    return job


def active_job(team: Team, status: str = SyncJob.Status.RUNNING, **fields: Any) -> SyncJob:
    """A job in progress (running unless told), heartbeating now, over the team's repositories."""
    now = timezone.now()
    defaults: dict[str, Any] = {"started_at": now, "heartbeat_at": now}
    if status == SyncJob.Status.QUEUED:
        defaults = {}
    job = SyncJob.objects.create(team=team, status=status, **(defaults | fields))
    repositories = list(team.repositories.all())
    RepoSync.objects.bulk_create(
        RepoSync(job=job, repository=repository, prs_total=100) for repository in repositories
    )
    SyncJob.objects.filter(pk=job.pk).update(repos_total=len(repositories))
    job.refresh_from_db()
    return job


def _repository(team: Team, name: str) -> TrackedRepository:
    full_name = f"{team.github_org_login}/{name}"
    found = TrackedRepository.objects.filter(team=team, full_name=full_name).first()
    if found is not None:
        return found
    number = TrackedRepository.objects.filter(team=team).count() + 1
    return TrackedRepository.objects.create(
        team=team, github_id=team.github_org_id * 1000 + number, full_name=full_name
    )
