from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from staff import directory
from staff.decorators import staff_only
from staff.forms import (
    AuditFilterForm,
    ConfirmForm,
    ExtendHistoryForm,
    JobChoiceForm,
    TeamSearchForm,
)
from sync import services, webhooks
from sync.access import Action
from sync.models import SyncJob, Team, TrackedRepository
from sync.staff import actions, audit, lookups

TEAMS_PER_PAGE = 50
EVENTS_PER_PAGE = 50
JOBS_SHOWN = 20
EVENTS_SHOWN = 10


def _team_or_404(request: HttpRequest, team_id: int, action: Action = Action.VIEW) -> Team:
    try:
        return lookups.get_team_for_staff(request.user, team_id, action)
    except lookups.NotFound:
        raise Http404("No such team") from None


def _job_or_404(request: HttpRequest, job_id: int, action: Action = Action.VIEW) -> SyncJob:
    try:
        return lookups.get_job_for_staff(request.user, job_id, action)
    except lookups.NotFound:
        raise Http404("No such import") from None


def _repository_or_404(
    request: HttpRequest, repository_id: int, action: Action = Action.VIEW
) -> TrackedRepository:
    try:
        return lookups.get_repository_for_staff(request.user, repository_id, action)
    except lookups.NotFound:
        raise Http404("No such repository") from None


def _team_page(team: Team, job_id: int | None = None) -> HttpResponse:
    url = reverse("staff:team", args=[team.pk])
    return redirect(f"{url}?job={job_id}" if job_id else url)


def _act(
    request: HttpRequest, team: Team, action: Callable[[], SyncJob], done: Callable[[SyncJob], str]
) -> HttpResponse:
    """Run a staff action; say what happened and show the job it started or touched."""
    try:
        job = action()
    except services.SyncAlreadyRunning as error:
        messages.error(request, str(error))
        return _team_page(team, error.job_id)
    except services.SyncError as error:
        messages.error(request, str(error))
        return _team_page(team)
    messages.success(request, done(job))
    return _team_page(team, job.pk)


def _confirm(
    request: HttpRequest, *, title: str, text: str, button: str, back: str
) -> HttpResponse:
    context = {"title": title, "text": text, "button": button, "back": back}
    return render(request, "staff/confirm.html", context)


@never_cache
@staff_only
@require_GET
def sync_list(request: HttpRequest) -> HttpResponse:
    form = TeamSearchForm(request.GET)
    form.is_valid()  # a field that is not valid is left out, the others still apply
    search = {"q": "", "show": "", "page": 1, **form.cleaned_data}
    teams = directory.find_teams(show=search["show"], search=search["q"])
    page = Paginator(teams, TEAMS_PER_PAGE).get_page(search["page"])
    context: dict[str, Any] = {
        "form": form,
        "page": page,
        "rows": directory.describe_teams(page.object_list),
        "live_rows": directory.live_jobs(),
    }
    return render(request, "staff/syncs.html", context)


@never_cache
@staff_only
@require_GET
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_or_404(request, team_id)
    form = JobChoiceForm(request.GET)
    chosen = form.cleaned_data["job"] if form.is_valid() else None
    jobs = team.sync_jobs.select_related("requested_by").order_by("-created_at", "-pk")
    job = jobs.filter(pk=chosen).first() if chosen else jobs.first()
    if chosen and job is None:
        raise Http404("No such import for this team")
    live = directory.job_context(job) if job else None
    context: dict[str, Any] = {
        "team": team,
        "github": team.integrations.filter(provider="github").first(),
        "totals": directory.team_totals(team),
        "job": job,
        "live": live,
        "live_html": directory.render_live_job(live) if live else "",
        "jobs": jobs[:JOBS_SHOWN],
        "repositories": directory.team_repositories(team),
        "events": audit.describe_events(audit.find_audit_events(team=team)[:EVENTS_SHOWN]),
        "extend_form": ExtendHistoryForm(),
        "webhook": webhooks.health(team),
    }
    return render(request, "staff/team.html", context)


@never_cache
@staff_only
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    form.is_valid()  # a field that is not valid is left out, the others still apply
    search = {"team": "", "action": "", "actor": "", "page": 1, **form.cleaned_data}
    events = audit.find_audit_events(
        team=search["team"], action=search["action"], actor=search["actor"]
    )
    page = Paginator(events, EVENTS_PER_PAGE).get_page(search["page"])
    context = {"form": form, "page": page, "events": audit.describe_events(page.object_list)}
    return render(request, "staff/audit.html", context)


@staff_only
@require_POST
def sync_now(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_or_404(request, team_id, Action.START)
    return _act(
        request,
        team,
        lambda: actions.sync_team(
            team=team, actor=_staff_user(request), kind=SyncJob.Kind.INCREMENTAL
        ),
        lambda job: f"Import #{job.pk} queued: new changes since the last sync.",
    )


@staff_only
@require_POST
def full_resync(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_or_404(request, team_id, Action.START)
    if not (form := ConfirmForm(request.POST)).is_valid() or not form.cleaned_data["confirmed"]:
        return _confirm(
            request,
            title=f"Fully resync {team.github_org_login}?",
            text="Every repository is imported again over its whole imported range, ignoring "
            "what is already there. It spends the team's GitHub rate limit and takes as long as "
            "the first import did.",
            button="Yes, resync everything",
            back=reverse("staff:team", args=[team.pk]),
        )
    return _act(
        request,
        team,
        lambda: actions.sync_team(team=team, actor=_staff_user(request), kind=SyncJob.Kind.FULL),
        lambda job: f"Full resync queued as import #{job.pk}.",
    )


@staff_only
@require_POST
def extend_history(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _team_or_404(request, team_id, Action.START)
    form = ExtendHistoryForm(request.POST)
    if not form.is_valid():
        problems = form.errors.get("extend_to") or ["Choose a date."]
        messages.error(request, " ".join(str(problem) for problem in problems))
        return _team_page(team)
    return _act(
        request,
        team,
        lambda: actions.sync_team(
            team=team,
            actor=_staff_user(request),
            kind=SyncJob.Kind.EXTEND,
            extend_to=form.extend_to_moment(),
        ),
        lambda job: f"Import #{job.pk} queued: history back to {form.cleaned_data['extend_to']}.",
    )


@staff_only
@require_POST
def resync_repository(request: HttpRequest, repository_id: int) -> HttpResponse:
    repository = _repository_or_404(request, repository_id, Action.START)
    return _act(
        request,
        repository.team,
        lambda: actions.resync_repository(repository=repository, actor=_staff_user(request)),
        lambda job: f"Resync of {repository.full_name} queued as import #{job.pk}.",
    )


@staff_only
@require_POST
def retry_failed(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id, Action.RETRY)
    return _act(
        request,
        job.team,
        lambda: actions.retry_failed(job=job, actor=_staff_user(request)),
        lambda job: f"Import #{job.pk} queued: retrying the repositories that failed.",
    )


@staff_only
@require_POST
def cancel_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id, Action.CANCEL)
    if not (form := ConfirmForm(request.POST)).is_valid() or not form.cleaned_data["confirmed"]:
        return _confirm(
            request,
            title=f"Cancel import #{job.pk} of {job.team.github_org_login}?",
            text="Repositories still importing stop at their next page. What was imported so "
            "far is kept; a later sync picks up from there.",
            button="Yes, cancel the import",
            back=f"{reverse('staff:team', args=[job.team_id])}?job={job.pk}",
        )
    return _act(
        request,
        job.team,
        lambda: actions.cancel(job=job, actor=_staff_user(request)),
        lambda job: f"Import #{job.pk} cancelled. What was imported so far is kept.",
    )


@staff_only
@require_POST
def run_now(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id, Action.RUN_NOW)
    return _act(
        request,
        job.team,
        lambda: actions.resume(job=job, actor=_staff_user(request)),
        lambda job: f"Import #{job.pk} sent to the job queue again.",
    )


def _staff_user(request: HttpRequest) -> User:
    """Return the signed-in staff user (``staff_only`` let only them through)."""
    assert isinstance(request.user, User)
    return request.user
