"""The team list of the staff page (filters, search, one page's rows) and a team's page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.template.loader import render_to_string
from django.utils import timezone

from onboarding import states
from sync import progress, stalls
from sync.models import (
    Commit,
    Integration,
    PullRequest,
    Review,
    SyncJob,
    Team,
    TrackedRepository,
)

# Finished jobs shown under the active ones in the live list (what the staff socket sends).
RECENT_JOBS = 50


class TeamFilter(models.TextChoices):
    ALL = "", "All teams"
    RUNNING = "running", "Importing now"
    WAITING = "waiting", "Waiting on rate limit"
    FAILING = "failing", "Failing"
    STALLED = "stalled", "Stalled"


@dataclass(frozen=True)
class TeamRow:
    team: Team
    github_status: str | None
    github_detail: str
    repositories: int
    pull_requests: int
    latest: dict[str, Any] | None  # states.page_context of the team's latest job
    latest_html: str  # its "latest import" cell, as the staff socket pushes it


def find_teams(*, show: str = "", search: str = "") -> QuerySet[Team]:
    """Return the teams matching the filter and the search, by organization login."""
    jobs = SyncJob.objects.filter(team=OuterRef("pk"))
    teams = Team.objects.all()
    if search:
        teams = teams.filter(Q(github_org_login__icontains=search) | Q(name__icontains=search))
    if show == TeamFilter.RUNNING:
        teams = teams.filter(Exists(jobs.filter(status__in=SyncJob.ACTIVE)))
    elif show == TeamFilter.WAITING:
        teams = teams.filter(Exists(jobs.filter(status=SyncJob.Status.WAITING)))
    elif show == TeamFilter.STALLED:
        teams = teams.filter(pk__in=[job.team_id for job in stalls.stalled_jobs(timezone.now())])
    elif show == TeamFilter.FAILING:
        finished = jobs.filter(status__in=SyncJob.FINISHED).order_by("-created_at", "-pk")
        broken = Integration.objects.filter(
            team=OuterRef("pk"),
            provider="github",
            status__in=[Integration.Status.REVOKED, Integration.Status.ERROR],
        )
        teams = teams.annotate(last_status=Subquery(finished.values("status")[:1])).filter(
            Q(last_status__in=[SyncJob.Status.FAILED, SyncJob.Status.PARTIAL]) | Exists(broken)
        )
    return teams.order_by("github_org_login", "pk")


def describe_teams(teams: Iterable[Team]) -> list[TeamRow]:
    """Return one row per team with its GitHub status, counts and latest job (a page's worth).

    A fixed number of queries whatever the number of teams: each reads the page's teams only.
    """
    teams = list(teams)
    ids = [team.pk for team in teams]
    github = {
        integration.team_id: integration
        for integration in Integration.objects.filter(team__in=ids, provider="github")
    }
    repositories = _counts(
        TrackedRepository.objects.filter(team__in=ids, archived=False), "team_id"
    )
    pulls = _counts(PullRequest.objects.filter(repository__team__in=ids), "repository__team_id")
    newest = SyncJob.objects.filter(team=OuterRef("pk")).order_by("-created_at", "-pk")
    latest_ids = dict(
        Team.objects.filter(pk__in=ids)
        .annotate(latest=Subquery(newest.values("pk")[:1]))
        .values_list("pk", "latest")
    )
    contexts = job_contexts(SyncJob.objects.filter(pk__in=[i for i in latest_ids.values() if i]))
    rows = []
    for team in teams:
        context = contexts.get(latest_ids.get(team.pk) or 0)
        integration = github.get(team.pk)
        rows.append(
            TeamRow(
                team=team,
                github_status=integration.status if integration else None,
                github_detail=integration.status_detail if integration else "",
                repositories=repositories.get(team.pk, 0),
                pull_requests=pulls.get(team.pk, 0),
                latest=context,
                latest_html=render_team_sync(context, team.pk),
            )
        )
    return rows


def live_jobs() -> list[dict[str, Any]]:
    """Return the contexts of the jobs the staff socket shows: every active one, then recent."""
    jobs = SyncJob.objects.order_by("-created_at", "-pk")
    active = list(jobs.filter(status__in=SyncJob.ACTIVE).values_list("pk", flat=True))
    recent = list(
        jobs.exclude(status__in=SyncJob.ACTIVE).values_list("pk", flat=True)[:RECENT_JOBS]
    )
    contexts = job_contexts(SyncJob.objects.filter(pk__in=[*active, *recent]))
    return [contexts[job_id] for job_id in [*active, *recent] if job_id in contexts]


def job_contexts(jobs: QuerySet[SyncJob]) -> dict[int, dict[str, Any]]:
    """Return ``states.page_context`` of each job, by id, in two queries."""
    now = timezone.now()
    return {
        state.id: states.page_context(state, now)
        for state in progress.snapshots(list(jobs.select_related("team")))
    }


def team_totals(team: Team) -> dict[str, int]:
    """Return what is imported for ``team``: repositories, pull requests, reviews, commits."""
    return {
        "repositories": team.repositories.filter(archived=False).count(),
        "pull_requests": PullRequest.objects.filter(repository__team=team).count(),
        "reviews": Review.objects.filter(pull_request__repository__team=team).count(),
        "commits": Commit.objects.filter(pull_request__repository__team=team).count(),
    }


def team_repositories(team: Team) -> list[tuple[TrackedRepository, int]]:
    """Return the team's repositories (archived last), each with its imported PR count."""
    pulls = _counts(PullRequest.objects.filter(repository__team=team), "repository_id")
    return [
        (repository, pulls.get(repository.pk, 0))
        for repository in team.repositories.order_by("archived", "full_name")
    ]


def job_context(job: SyncJob) -> dict[str, Any]:
    """Return what the live job fragments show for ``job`` (as the progress page renders it)."""
    return states.page_context(progress.snapshot(job))


def render_live_job(context: dict[str, Any]) -> str:
    """Render the progress page's fragments a staff page shows: status, bar, repositories."""
    return render_to_string("staff/live_job.html", context)


def render_staff(state: progress.JobState, now: datetime) -> str:
    """Render the job's rows on the staff page: its import row and its team's summary row."""
    context = states.page_context(state, now)
    # Both are table rows, each swapped by its own id, so their order does not matter.
    return render_to_string("sync/staff_job_row.html", context) + render_team_sync(
        context, state.team_id
    )


def render_staff_jobs(job_states: list[progress.JobState], now: datetime) -> str:
    """Render the staff page's live list of jobs (what its socket opens on)."""
    rows = [states.page_context(state, now) for state in job_states]
    return render_to_string("sync/staff_jobs.html", {"rows": rows})


def render_team_sync(context: dict[str, Any] | None, team_id: int) -> str:
    """Render a team's "latest import" cell (``staff/team_sync.html``) from a job's context.

    The staff socket pushes the same template rendered from ``states.page_context``.
    """
    return render_to_string("staff/team_sync.html", {**(context or {}), "team_id": team_id})


def _counts(rows: QuerySet[Any], key: str) -> dict[int, int]:
    return dict(rows.values(key).annotate(n=Count("pk")).values_list(key, "n"))
