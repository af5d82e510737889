"""``progress.snapshot`` for many jobs at once: a page of teams or the live list shows dozens of
jobs, and one query per job made the staff list slow (129 queries, ~0.8 s for 1,000 teams).

``tests/sync/test_staff.py`` holds these dicts equal to ``progress.snapshot``'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync.models import RepoSync, SyncJob


def snapshots(jobs: list[SyncJob]) -> list[dict[str, Any]]:
    """Return ``progress.snapshot`` of each job (the same dicts), reading all their repositories
    in one query instead of one query per job."""
    by_job: dict[int, list[dict[str, Any]]] = {job.pk: [] for job in jobs}
    rows = (
        RepoSync.objects.filter(job__in=jobs)
        .order_by("job_id", "repository__full_name")
        .values_list("job_id", *_REPO_FIELDS)
    )
    for job_id, *values in rows:
        repo = dict(zip(_REPO_KEYS, values, strict=True))
        repo["retry_at"] = _iso(repo["retry_at"])
        by_job[job_id].append(repo)
    return [_job_state(job, by_job[job.pk]) for job in jobs]


# progress.snapshot's keys for a repository, and the fields they are read from.
_REPO_KEYS = (
    "id",
    "repository",
    "status",
    "prs_total",
    "prs_synced",
    "reviews_synced",
    "commits_synced",
    "items_skipped",
    "attempts",
    "retry_at",
    "error_code",
    "error_message",
)
_REPO_FIELDS = tuple("repository__full_name" if key == "repository" else key for key in _REPO_KEYS)


def _job_state(job: SyncJob, repos: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": job.id,
        "team_id": job.team_id,
        "team_name": job.team.github_org_login,
        "kind": job.kind,
        "status": job.status,
        "version": job.version,
        "repos_total": job.repos_total,
        "repos_done": job.repos_done,
        "prs_total": job.prs_total,
        "prs_synced": job.prs_synced,
        "reviews_synced": job.reviews_synced,
        "commits_synced": job.commits_synced,
        "eta_seconds": job.eta_seconds,
        "rate_limit_reset_at": _iso(job.rate_limit_reset_at),
        "heartbeat_at": _iso(job.heartbeat_at),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error_code": job.error_code,
        "error_message": job.error_message,
        "repos": repos,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
