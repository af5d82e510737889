from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from onboarding import oauth
from onboarding.forms import JiraProjectsForm, JiraSiteForm
from onboarding.views import steps
from onboarding.views.orgs import current_membership
from sync import access, accounts, integrations
from sync.jira import client as jira
from sync.models import Membership

logger = logging.getLogger(__name__)

STATE_KEY = "jira_oauth_state"
PROBLEMS: dict[str, tuple[str, str, int]] = {
    "state_mismatch": (
        "This Jira link is no longer valid",
        "The answer from Atlassian did not match a connection started here: it was already "
        "used, it expired, or it was started in another browser. Nothing was connected.",
        400,
    ),
    "access_denied": (
        "Jira access was not granted",
        "You cancelled on Atlassian's page, so Jira is not connected. Connect it to link pull "
        "requests to Jira issues, or skip this step: the import does not need it.",
        403,
    ),
    "bad_code": (
        "Atlassian did not accept the connection code",
        "The code Atlassian sent back was wrong, already used or expired (codes last ten "
        "minutes). Nothing was connected.",
        400,
    ),
    "misconfigured": (
        "This service's Jira app is misconfigured",
        "Atlassian refused our app's client id or secret. An administrator must set "
        "JIRA_CLIENT_ID and JIRA_CLIENT_SECRET to the Atlassian app's values.",
        502,
    ),
    "oauth_error": (
        "Atlassian refused the connection",
        "Atlassian answered with an error we did not expect. Nothing was connected.",
        400,
    ),
    "unavailable": (
        "Jira did not answer",
        "Atlassian could not be reached or answered with an error. Nothing was lost: try "
        "again in a moment.",
        502,
    ),
    "revoked": (
        "Jira access was revoked",
        "Jira no longer accepts the access this team granted: it was removed from the "
        "Atlassian account, or has expired.",
        403,
    ),
    "no_site": (
        "No Jira site to use",
        "Atlassian says this connection may use no Jira site. Connect again and choose your "
        "site on Atlassian's page under \u201cUse app on\u201d.",
        400,
    ),
    "unknown_choice": (
        "That is not one of your Jira projects",
        "The site or projects sent are not among the ones Jira lists for your account now. "
        "Nothing was saved.",
        400,
    ),
    "not_admin": (
        "Only the team's admins connect Jira",
        "You are a member of this team, not an admin, so the team's Jira connection is "
        "theirs to set up.",
        403,
    ),
}


# Which page explains which failure: the first match wins.
_PAGES: tuple[tuple[type[Exception], str], ...] = (
    (accounts.NotAdmin, "not_admin"),
    (integrations.Revoked, "revoked"),
    (integrations.UnknownChoice, "unknown_choice"),
    (integrations.IntegrationError, "oauth_error"),
    (jira.BadCode, "bad_code"),
    (jira.AccessRevoked, "revoked"),
    (jira.Misconfigured, "misconfigured"),
    (jira.Transient, "unavailable"),
    (jira.JiraError, "oauth_error"),
)
FAILURES = (accounts.NotAdmin, integrations.IntegrationError, jira.JiraError)
# Failures on the projects page that reloading it (or choosing again) can get past.
RETRYABLE = ("unavailable", "unknown_choice")


@never_cache
@login_required
@require_GET
def jira_step(request: HttpRequest) -> HttpResponse:
    return steps.render_step(request, provider="jira", template="onboarding/jira.html")


@login_required
@require_POST
def connect(request: HttpRequest) -> HttpResponse:
    state = oauth.new_state(request, STATE_KEY)
    url = integrations.jira_authorize_url(redirect_uri=_callback_url(request), state=state)
    return HttpResponseRedirect(url)


@never_cache
@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    answer = oauth.read_callback(request, STATE_KEY, "Jira")
    if problem := steps.callback_problem(answer):
        return _problem(request, problem)
    try:
        integrations.connect_jira(
            membership=current_membership(request),
            code=answer.code,
            redirect_uri=_callback_url(request),
        )
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    except FAILURES as error:
        return _problem(request, _code_for(error))
    return redirect("onboarding:jira_projects")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def projects(request: HttpRequest) -> HttpResponse:
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    if request.method == "GET":
        site_form = JiraSiteForm(request.GET)
        site_id = site_form.cleaned_data["site"] if site_form.is_valid() else ""
        return _projects_page(request, membership, site_id or None)
    form = JiraProjectsForm(request.POST)
    if not form.is_valid():
        return _projects_page(request, membership, request.POST.get("site") or None, form=form)
    try:
        integrations.choose_jira_projects(
            membership=membership,
            site_id=form.cleaned_data["site"],
            project_keys=form.cleaned_data["projects"],
        )
    except integrations.NotConnected:
        return redirect("onboarding:jira")
    except FAILURES as error:
        return _problem(request, _code_for(error), retry=True)
    return redirect("onboarding:slack")


def _projects_page(
    request: HttpRequest,
    membership: Membership,
    site_id: str | None,
    *,
    form: JiraProjectsForm | None = None,
) -> HttpResponse:
    try:
        choices = integrations.jira_choices(membership=membership, site_id=site_id)
    except integrations.NotConnected:
        return redirect("onboarding:jira")
    except FAILURES as error:
        return _problem(request, _code_for(error), retry=True)
    if not choices.sites:
        return _problem(request, "no_site")
    context: dict[str, Any] = {
        "team": membership.team,
        "choices": choices,
        "is_admin": access.permits(membership, access.Action.JIRA),
        "errors": form.errors.get("projects") if form is not None else None,
    }
    return render(request, "onboarding/jira_projects.html", context, status=400 if form else 200)


def _code_for(error: Exception) -> str:
    """Name the page that explains ``error`` (one of FAILURES)."""
    logger.info("Jira step failed: %s", type(error).__name__)
    return next(code for kind, code in _PAGES if isinstance(error, kind))


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("onboarding:jira_callback"))


def _problem(request: HttpRequest, code: str, *, retry: bool = False) -> HttpResponse:
    title, message, status = PROBLEMS[code]
    retry_url = reverse("onboarding:jira_projects") if retry and code in RETRYABLE else ""
    context = {"title": title, "message": message, "code": code, "retry_url": retry_url}
    return render(request, "onboarding/jira_problem.html", context, status=status)
