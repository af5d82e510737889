from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from onboarding.forms import ChooseOrganizationForm, OrganizationPageForm
from onboarding.views.github import github_error_context, render_github_error
from sync import accounts, github_access
from sync.github_access import GitHubError, NotFound
from sync.models import Membership, SyncJob, Team

logger = logging.getLogger(__name__)

# The team the user is onboarding, remembered across the flow's pages. Every page still checks
# membership through accounts.get_membership_for_user: the session only says which team.
TEAM_KEY = "onboarding_team_id"


def current_membership(request: HttpRequest) -> Membership:
    """Return the signed-in user's membership of the team they are onboarding.

    Raises accounts.NotAMember when they are in no team (or not in the remembered one).
    """
    team_id = request.session.get(TEAM_KEY)
    membership = accounts.get_membership_for_user(
        user=request.user,  # type: ignore[arg-type]
        team_id=int(team_id) if team_id is not None else None,
    )
    if team_id != membership.team_id:
        request.session[TEAM_KEY] = membership.team_id
    return membership


def current_step_url(request: HttpRequest) -> str:
    """Return the page of the step the signed-in user has reached in the flow.

    No team yet: the organizations; an admin whose team tracks no repository: the picker; an
    import running: its progress; otherwise the team overview.
    """
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return reverse("onboarding:select_org")
    team = membership.team
    if membership.role == Membership.Role.ADMIN and not team.repositories.exists():
        return reverse("onboarding:select_repos")
    running = SyncJob.objects.filter(team=team, status__in=SyncJob.ACTIVE).order_by("-pk").first()
    if running is not None:
        return reverse("onboarding:sync", args=[running.pk])
    return reverse("onboarding:complete")


@never_cache
@login_required
@require_GET
def select_org(request: HttpRequest) -> HttpResponse:
    # The shell answers at once; its list comes from organization_list, which asks GitHub.
    try:
        accounts.get_github_token(request.user)  # type: ignore[arg-type]
    except accounts.NotConnected:
        return redirect("onboarding:start")
    return render(request, "onboarding/select_org.html", {"list_url": _list_url(request)})


@never_cache
@login_required
@require_GET
def organization_list(request: HttpRequest) -> HttpResponse:
    fragment = request.headers.get("HX-Request") == "true"
    form = OrganizationPageForm(request.GET)
    page = form.cleaned_data["page"] if form.is_valid() else 1
    try:
        result = github_access.list_organizations(user=request.user, page=page)  # type: ignore[arg-type]
    except accounts.NotConnected:
        if fragment:  # htmx would swap the start page into the list: send the page there
            return HttpResponse(headers={"HX-Redirect": reverse("onboarding:start")})
        return redirect("onboarding:start")
    except GitHubError as error:
        if not fragment:
            return render_github_error(request, error)
        logger.info("organization list failed: %s", type(error).__name__)
        # htmx swaps only 2xx answers: for it the error is the fragment, with a retry button.
        problem = {"error": github_error_context(error), "list_url": _list_url(request)}
        return render(request, "onboarding/fragments/org_list.html", problem)
    assert isinstance(request.user, User)  # login_required
    context: dict[str, object] = {"rows": _rows(request.user, result), "result": result}
    if fragment:
        return render(request, "onboarding/fragments/org_list.html", context)
    # Without JavaScript the whole page comes back with the list already in it.
    page_context = {**context, "list_included": True, "list_url": _list_url(request)}
    return render(request, "onboarding/select_org.html", page_context)


def _list_url(request: HttpRequest) -> str:
    url = reverse("onboarding:organization_list")
    form = OrganizationPageForm(request.GET)
    page = form.cleaned_data["page"] if form.is_valid() else 1
    return f"{url}?page={page}" if page > 1 else url


def _rows(user: User, result: github_access.OrgPage) -> list[dict[str, object]]:
    ids = [org.id for org in result.organizations]
    teams = dict(Team.objects.filter(github_org_id__in=ids).values_list("github_org_id", "pk"))
    mine = set(
        Membership.objects.filter(user=user, team_id__in=teams.values()).values_list(
            "team_id", flat=True
        )
    )
    return [
        {"org": org, "has_team": org.id in teams, "member": teams.get(org.id) in mine}
        for org in result.organizations
    ]


@login_required
@require_POST
def choose_org(request: HttpRequest) -> HttpResponse:
    form = ChooseOrganizationForm(request.POST)
    if not form.is_valid():
        context = {
            "title": "That is not an organization",
            "message": "The organization you sent is not a GitHub organization name.",
            "fix": "Choose one of your organizations from the list.",
            "back": True,
        }
        return render(request, "onboarding/github_problem.html", context, status=400)
    login = form.cleaned_data["org"]
    try:
        org_membership = github_access.get_org_membership(
            user=request.user,  # type: ignore[arg-type]
            org_login=login,
        )
        choice = accounts.choose_organization(
            user=request.user,  # type: ignore[arg-type]
            org_membership=org_membership,
        )
    except accounts.NotConnected:
        return redirect("onboarding:start")
    except NotFound:
        return _not_in_org(request, login)
    except accounts.NotInOrganization:
        return _not_in_org(request, login, pending=True)
    except GitHubError as error:
        return render_github_error(request, error)
    request.session[TEAM_KEY] = choice.membership.team_id
    team = choice.membership.team
    if choice.membership.role == Membership.Role.ADMIN and not team.repositories.exists():
        return redirect("onboarding:select_repos")
    return redirect("onboarding:complete")  # members, and teams already set up


def _not_in_org(request: HttpRequest, login: str, *, pending: bool = False) -> HttpResponse:
    if pending:
        message = f"Your invitation to {login} on GitHub is not accepted yet."
        fix = f"Accept the invitation on GitHub, then choose {login} again."
    else:
        message = f"GitHub says your account is not a member of {login}."
        fix = "Choose one of your organizations below, or ask an owner to add you on GitHub."
    context = {
        "title": "You are not a member of this organization",
        "message": message,
        "fix": fix,
        "back": True,
    }
    return render(request, "onboarding/github_problem.html", context, status=403)
