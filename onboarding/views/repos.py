from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from html import escape

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from onboarding.forms import RepositorySelectionForm
from onboarding.views.github import github_error_context
from onboarding.views.orgs import current_membership
from sync import access, accounts, services
from sync.github_access import GitHubError, Repository
from sync.models import Membership

logger = logging.getLogger(__name__)


def _admin_membership(request: HttpRequest) -> Membership | HttpResponse:
    """Return the user's admin membership of their current team, or the page to show instead."""
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    if not access.can(request.user, membership.team_id, access.Action.CHANGE_REPOSITORIES):
        context = {
            "title": "Only the team's admins choose repositories",
            "message": f"You are a member of {membership.team.github_org_login}, not an admin.",
            "fix": "Ask an admin of the team to change its repositories.",
            "overview": True,
        }
        return render(request, "onboarding/github_problem.html", context, status=403)
    return membership


@never_cache
@login_required
@require_GET
def select_repos(request: HttpRequest) -> HttpResponse:
    membership = _admin_membership(request)
    if isinstance(membership, HttpResponse):
        return membership
    context = {"team": membership.team, "list_url": reverse("onboarding:repository_list")}
    return render(request, "onboarding/select_repos.html", context)


@never_cache
@login_required
@require_GET
def repository_list(request: HttpRequest) -> HttpResponse:
    membership = _admin_membership(request)
    if isinstance(membership, HttpResponse):
        return membership
    fragment = request.headers.get("HX-Request") == "true"
    team = membership.team
    started = time.perf_counter()
    try:
        repositories = accounts.list_selectable_repositories(membership=membership)
    except accounts.NotConnected:
        if fragment:  # htmx would swap the start page into the list: send the page there
            return HttpResponse(headers={"HX-Redirect": reverse("onboarding:start")})
        return redirect("onboarding:start")
    except GitHubError as error:
        logger.info("repository list failed team=%s: %s", team.pk, type(error).__name__)
        problem = github_error_context(error)
        # htmx swaps only 2xx answers: for it the error is the fragment, with a retry button.
        status = 200 if fragment else int(str(problem["status"]))
        return _list_response(request, fragment, {"team": team, "error": problem}, status)
    github_ms = (time.perf_counter() - started) * 1000
    tracked = set(
        team.repositories.filter(untracked_at__isnull=True).values_list("github_id", flat=True)
    )
    context = {
        "team": team,
        "rows": _repository_rows(repositories, tracked),
        "tracked_count": sum(1 for r in repositories if r.id in tracked),
        "archived_count": sum(1 for r in repositories if r.archived),
        "total": len(repositories),
    }
    response = _list_response(request, fragment, context, 200)
    render_ms = (time.perf_counter() - started) * 1000 - github_ms
    # Where the list's time went, for the browser's devtools and the benchmark.
    response["Server-Timing"] = f"github;dur={github_ms:.1f}, render;dur={render_ms:.1f}"
    return response


def _repository_rows(repositories: list[Repository], tracked: set[int]) -> SafeString:
    """Render the picker's rows: one ``<li>`` per repository, most recently pushed first.

    Written out here rather than in a template loop: for 2,000 repositories Django's template
    engine takes about 250 ms, this about 10, and the list must be on screen within GitHub's
    own time plus 300 ms. Every value from GitHub is escaped.
    """
    now = timezone.now()
    rows = []
    for repo in repositories:
        imported = repo.id in tracked
        name = escape(repo.name)
        rows.append(
            "".join(
                (
                    _ROW_ARCHIVED if repo.archived else _ROW,
                    f'<input type="checkbox" name="repos" value="{repo.id}"',
                    " checked disabled>" if imported else ">",
                    f'<span class="pick-name" title="{name}">{name}</span>',
                    '<span class="pick-meta">',
                    _IMPORTED if imported else "",
                    _PRIVATE if repo.private else _PUBLIC,
                    _ARCHIVED if repo.archived else "",
                    _pushed(repo.pushed_at, now),
                    "</span></label></li>",
                )
            )
        )
    return mark_safe("\n".join(rows))  # noqa: S308 -- built from escaped values above


_ROW = '<li class="pick"><label>'
_ROW_ARCHIVED = '<li class="pick pick-archived"><label>'
_IMPORTED = '<span class="tag tag-imported">Imported</span>'
_PRIVATE = '<span class="tag">Private</span>'
_PUBLIC = '<span class="tag">Public</span>'
_ARCHIVED = '<span class="tag tag-archived">Archived</span>'


def _pushed(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return '<span class="pick-pushed">never pushed</span>'
    return (
        f'<time class="pick-pushed" datetime="{moment.isoformat()}">'
        f"pushed {ago(now - moment)}</time>"
    )


def ago(delta: timedelta) -> str:
    """Say how long ago, in the largest whole unit: "just now", "3 hours ago"."""
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in _UNITS:
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


_UNITS = (
    ("year", 365 * 86400),
    ("month", 30 * 86400),
    ("day", 86400),
    ("hour", 3600),
    ("minute", 60),
)


def _list_response(
    request: HttpRequest, fragment: bool, context: dict[str, object], status: int
) -> HttpResponse:
    if fragment:
        return render(request, "onboarding/fragments/repo_list.html", context, status=status)
    # Without JavaScript the whole page comes back with the list already in it.
    page = {**context, "list_included": True, "list_url": reverse("onboarding:repository_list")}
    return render(request, "onboarding/select_repos.html", page, status=status)


@login_required
@require_POST
def submit_repos(request: HttpRequest) -> HttpResponse:
    membership = _admin_membership(request)
    if isinstance(membership, HttpResponse):
        return membership
    form = RepositorySelectionForm(request.POST)
    if not form.is_valid():
        return _refused(
            request, membership, " ".join(str(error) for error in form.errors["repos"]), status=400
        )
    try:
        repositories = accounts.find_selectable_repositories(
            membership=membership, ids=form.cleaned_data["repos"]
        )
        job = accounts.select_repositories(membership=membership, repositories=repositories)
    except accounts.NotConnected:
        return redirect("onboarding:start")
    except accounts.UnknownRepositories as unknown:
        logger.warning(
            "refused repository ids not in the org team=%s user=%s count=%s",
            membership.team_id,
            membership.user_id,
            len(unknown.ids),
        )
        message = (
            f"{len(unknown.ids)} of the repositories you sent are not repositories of "
            f"{membership.team.github_org_login} that your GitHub account can see. Nothing was "
            "saved."
        )
        return _refused(request, membership, message, status=400)
    except services.SyncAlreadyRunning as running:
        return redirect("onboarding:sync", job_id=running.job_id)
    except services.BrokerUnavailable:
        message = (
            "The job queue could not be reached, so the import could not start. Nothing was "
            "saved: try again in a minute. If it keeps happening, the service's Redis is down."
        )
        return _refused(request, membership, message, status=503)
    except GitHubError as error:
        problem = github_error_context(error)
        status = int(str(problem["status"]))
        return _refused(request, membership, str(problem["message"]), status=status)
    return redirect("onboarding:sync", job_id=job.pk)


def _refused(
    request: HttpRequest, membership: Membership, message: str, *, status: int
) -> HttpResponse:
    context = {
        "team": membership.team,
        "list_url": reverse("onboarding:repository_list"),
        "form_error": message,
    }
    return render(request, "onboarding/select_repos.html", context, status=status)
