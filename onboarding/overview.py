"""What the team overview shows, and its fragments: drawn for the page and for its socket.

The page renders the same fragments as ``sync.consumers.TeamOverviewConsumer`` pushes, from
the same functions: ``data_context`` (what a refresh changes: freshness, counts, insights, the
recent pull requests, the repositories) and ``sync_context`` (the import running now and the
last one's outcome). Team data fragments carry the refresh's version (``data-version``); the
imports fragment carries its job and that job's version, so the browser never lets an older
one replace a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from onboarding import states
from sync import access, insights, memberships, progress
from sync.consumers import refresh_version
from sync.models import Commit, PullRequest, Review, SyncJob, Team

RECENT_PULLS = 10
SOURCES = {
    "import": "an import",
    "webhook": "a GitHub webhook",
    "sweep": "the periodic check",
}


def data_context(
    team: Team, roles: frozenset[str], version: int, changed: Sequence[int] = ()
) -> dict[str, Any]:
    """Return the context of the fragments a refresh of the team's data changes."""
    repositories = repositories_with_counts(team)
    return {
        "team": team,
        "version": version,
        "can_remove": access.allowed(roles, access.Action.CHANGE_REPOSITORIES),
        "refreshed_at": team.refreshed_at,
        "refreshed_by": SOURCES.get(team.refreshed_by, team.refreshed_by),
        "repositories": repositories,
        "totals": {
            "repositories": len(repositories),
            "pull_requests": sum(r.pr_count for r in repositories),
            "reviews": sum(r.review_count for r in repositories),
            "commits": sum(r.commit_count for r in repositories),
            "members": memberships.current_members(team).count(),
        },
        "insights": insights.team_insights(team_id=team.pk),
        "recent": _recent_pulls(team),
        "changed": set(changed),
    }


def sync_context(team: Team, roles: frozenset[str]) -> dict[str, Any]:
    """Return the context of the imports fragment: the running import, the last outcome."""
    jobs = team.sync_jobs.select_related("team").order_by("-created_at")
    current = jobs.filter(status__in=SyncJob.ACTIVE).first()
    last = jobs.filter(status__in=SyncJob.FINISHED).first()
    now = timezone.now()
    newest = max((job for job in (current, last) if job), key=lambda job: job.pk, default=None)
    return {
        "job_id": newest.pk if newest else 0,
        "job_version": newest.version if newest else 0,
        "current": _job_context(current, now) if current else None,
        "last": _job_context(last, now) if last else None,
        "can_start": access.allowed(roles, access.Action.START),
        "can_retry": access.allowed(roles, access.Action.RETRY),
        "can_reconnect": access.allowed(roles, access.Action.RECONNECT),
    }


def render_data(team_id: int, roles: frozenset[str], version: int, changed: Sequence[int]) -> str:
    """Render the team data fragments for the socket (``version``: the refresh shown)."""
    team = Team.objects.get(pk=team_id)
    return render_to_string(
        "onboarding/overview/data.html", data_context(team, roles, version, changed)
    )


def render_sync(team_id: int, roles: frozenset[str], version: int, changed: Sequence[int]) -> str:
    """Render the imports fragment for the socket."""
    team = Team.objects.get(pk=team_id)
    return render_to_string("onboarding/overview/sync.html", sync_context(team, roles))


def page_version(team: Team) -> int:
    return refresh_version(team.refreshed_at)


@dataclass(frozen=True)
class RepositoryRow:
    pk: int
    full_name: str
    archived: bool
    high_water_mark: datetime | None
    pr_count: int
    review_count: int
    commit_count: int


def repositories_with_counts(team: Team) -> list[RepositoryRow]:
    """Return the tracked repositories with their stored pull requests, reviews and commits.

    One grouped query per kind of row (not one subquery per repository and kind).
    """
    repos = list(
        team.repositories.filter(untracked_at__isnull=True).order_by("archived", "full_name")
    )
    ids = [repo.pk for repo in repos]
    pulls = _counted(
        PullRequest.objects.filter(repository_id__in=ids, deleted_at=None), "repository_id"
    )
    reviews = _counted(
        Review.objects.filter(pull_request__repository_id__in=ids, pull_request__deleted_at=None),
        "pull_request__repository_id",
    )
    commits = _counted(
        Commit.objects.filter(pull_request__repository_id__in=ids, pull_request__deleted_at=None),
        "pull_request__repository_id",
    )
    return [
        RepositoryRow(
            pk=repo.pk,
            full_name=repo.full_name,
            archived=repo.archived,
            high_water_mark=repo.high_water_mark,
            pr_count=pulls.get(repo.pk, 0),
            review_count=reviews.get(repo.pk, 0),
            commit_count=commits.get(repo.pk, 0),
        )
        for repo in repos
    ]


def _counted(rows: QuerySet[Any], group: str) -> dict[int, int]:
    return dict(rows.order_by().values_list(group).annotate(n=Count("pk")))


def _recent_pulls(team: Team) -> list[PullRequest]:
    """Return the most recently updated pull requests, each with its ``review_count``.

    GitHub's ``updated_at`` counts whole seconds: among pull requests updated within the same
    second, the one written last (a webhook just applied) comes first.
    """
    return list(
        PullRequest.objects.filter(
            repository__team=team,
            repository__untracked_at__isnull=True,
            deleted_at__isnull=True,
        )
        .select_related("repository", "author")
        .annotate(review_count=Count("reviews"))
        .order_by("-updated_at", F("seen_at").desc(nulls_last=True), "-pk")[:RECENT_PULLS]
    )


def _job_context(job: SyncJob, now: datetime) -> dict[str, Any]:
    state = progress.snapshot(job)
    condition = state.condition(now)
    words = states.words_for(state, condition)
    failed = [repo for repo in state.repos if repo.status == "failed"]
    return {
        "id": job.pk,
        "kind": job.get_kind_display(),
        "label": words.badge,
        "tone": words.tone,
        "condition": condition.value,
        "percent": state.percent,
        "eta": states.eta_text(state, condition, now),
        "when": job.finished_at or job.created_at,
        "error_message": state.error_message,
        "failed": failed,
        "reconnect": state.reconnect,
        "action": words.primary,
        "prs_synced": state.prs_synced,
        "repos_total": state.repos_total,
        "recent": states.recent_text(state),
        "recent_ready": state.recent_ready,
    }
