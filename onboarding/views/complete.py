from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from onboarding import states
from onboarding.views.orgs import current_membership
from onboarding.views.repos import ago
from sync import access, accounts, progress, services
from sync.models import Commit, PullRequest, Review, SyncJob, Team, TrackedRepository

MEMBERS_SHOWN = 60


@never_cache
@login_required
@require_GET
def complete(request: HttpRequest) -> HttpResponse:
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    team = membership.team
    jobs = team.sync_jobs.order_by("-created_at")
    current = jobs.filter(status__in=SyncJob.ACTIVE).first()
    members = team.members.order_by("is_bot", "login")
    last_sync = jobs.filter(status__in=SyncJob.FINISHED).first()
    context: dict[str, Any] = {
        "team": team,
        "is_admin": access.permits(membership, access.Action.START),
        "repositories": _repositories_with_counts(team),
        "members": members[:MEMBERS_SHOWN],
        "members_total": members.count(),
        "last_sync": last_sync,
        "last_sync_label": _label(last_sync) if last_sync else "",
        "last_sync_ago": _ago(last_sync) if last_sync else "",
        "current": current,
        # The progress page's own fragments, kept live by the same socket.
        "live_html": states.render_page(progress.snapshot(current)) if current else "",
    }
    return render(request, "onboarding/complete.html", context)


@login_required
@require_POST
def start_incremental_sync(request: HttpRequest) -> HttpResponse:
    try:
        membership = current_membership(request)
        job = accounts.start_incremental_sync(membership=membership)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    except accounts.NotAdmin:
        context = {
            "title": "Only the team's admins start imports",
            "message": "You are a member of this team, not an admin.",
            "fix": "Ask an admin of the team to start the import.",
            "overview": True,
        }
        return render(request, "onboarding/github_problem.html", context, status=403)
    except services.SyncAlreadyRunning as running:
        return redirect("onboarding:sync", job_id=running.job_id)
    except services.SyncError as error:  # the queue is unreachable, or nothing to sync
        context = {
            "title": "The import could not start",
            "message": str(error),
            "overview": True,
        }
        status = 503 if isinstance(error, services.BrokerUnavailable) else 400
        return render(request, "onboarding/github_problem.html", context, status=status)
    return redirect("onboarding:sync", job_id=job.pk)


def _ago(job: SyncJob) -> str:
    return ago(timezone.now() - (job.finished_at or job.created_at))


def _repositories_with_counts(team: Team) -> QuerySet[TrackedRepository]:
    prs = PullRequest.objects.filter(repository=OuterRef("pk"))
    reviews = Review.objects.filter(pull_request__repository=OuterRef("pk"))
    commits = Commit.objects.filter(pull_request__repository=OuterRef("pk"))
    return team.repositories.annotate(
        pr_count=_count(prs, "repository"),
        review_count=_count(reviews, "pull_request__repository"),
        commit_count=_count(commits, "pull_request__repository"),
    ).order_by("archived", "full_name")


def _count(rows: QuerySet[Any], group: str) -> Coalesce:
    counted = rows.order_by().values(group).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _label(job: SyncJob) -> str:
    state = progress.snapshot(job)
    return states.words_for(state, state.condition(timezone.now())).badge
