from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from onboarding import oauth
from onboarding.forms import SlackChannelForm
from onboarding.views import steps
from onboarding.views.orgs import current_membership
from sync import access, accounts, integrations
from sync.models import Membership
from sync.slack import client as slack

logger = logging.getLogger(__name__)

STATE_KEY = "slack_oauth_state"
PROBLEMS: dict[str, tuple[str, str, int]] = {
    "state_mismatch": (
        "This Slack link is no longer valid",
        "The answer from Slack did not match an install started here: it was already used, it "
        "expired, or it was started in another browser. Nothing was connected.",
        400,
    ),
    "access_denied": (
        "Slack was not connected",
        "You cancelled on Slack's page, so nothing was installed. Connect Slack to hear in a "
        "channel when an import finishes or fails, or skip this step.",
        403,
    ),
    "bad_code": (
        "Slack did not accept the install code",
        "The code Slack sent back was wrong, already used or expired (codes last ten minutes). "
        "Nothing was connected.",
        400,
    ),
    "misconfigured": (
        "This service's Slack app is misconfigured",
        "Slack refused our app's client id, secret or redirect URL. An administrator must set "
        "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, and add this site's /onboarding/slack/"
        "callback/ to the app's redirect URLs.",
        502,
    ),
    "oauth_error": (
        "Slack refused the request",
        "Slack answered with an error we did not expect. Nothing was changed.",
        400,
    ),
    "unavailable": (
        "Slack did not answer",
        "Slack could not be reached or answered with an error. Nothing was lost: try again in "
        "a moment.",
        502,
    ),
    "revoked": (
        "Slack access was revoked",
        "Slack no longer accepts this team's connection: the app was removed from the "
        "workspace, or its token was revoked.",
        403,
    ),
    "unknown_choice": (
        "That channel cannot be used",
        "The channel sent is not one of the workspace's open public channels now. Nothing was "
        "saved.",
        400,
    ),
    "not_in_channel": (
        "PR Insights is not in that channel yet",
        "Slack only lets the app post in channels it was invited to.",
        409,
    ),
    "not_admin": (
        "Only the team's admins connect Slack",
        "You are a member of this team, not an admin, so the team's Slack connection is "
        "theirs to set up.",
        403,
    ),
}
# Which page explains which failure: the first match wins.
_PAGES: tuple[tuple[type[Exception], str], ...] = (
    (accounts.NotAdmin, "not_admin"),
    (integrations.Revoked, "revoked"),
    (integrations.UnknownChoice, "unknown_choice"),
    (integrations.NotInChannel, "not_in_channel"),
    (integrations.IntegrationError, "oauth_error"),
    (slack.BadCode, "bad_code"),
    (slack.AccessRevoked, "revoked"),
    (slack.Misconfigured, "misconfigured"),
    (slack.Transient, "unavailable"),
    (slack.SlackError, "oauth_error"),
)
FAILURES = (accounts.NotAdmin, integrations.IntegrationError, slack.SlackError)
# Failures on the channel page that reloading it (or choosing again) can get past.
RETRYABLE = ("unavailable", "unknown_choice", "not_in_channel")


@never_cache
@login_required
@require_GET
def slack_step(request: HttpRequest) -> HttpResponse:
    return steps.render_step(request, provider="slack", template="onboarding/slack.html")


@login_required
@require_POST
def connect(request: HttpRequest) -> HttpResponse:
    state = oauth.new_state(request, STATE_KEY)
    url = integrations.slack_authorize_url(redirect_uri=_callback_url(request), state=state)
    return HttpResponseRedirect(url)


@never_cache
@login_required
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    answer = oauth.read_callback(request, STATE_KEY, "Slack")
    if problem := steps.callback_problem(answer):
        return _problem(request, problem)
    try:
        integrations.connect_slack(
            membership=current_membership(request),
            code=answer.code,
            redirect_uri=_callback_url(request),
        )
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    except FAILURES as error:
        return _problem(request, _code_for(error))
    return redirect("onboarding:slack_channel")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def channel(request: HttpRequest) -> HttpResponse:
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    if request.method == "GET":
        return _channel_page(request, membership)
    form = SlackChannelForm(request.POST)
    if not form.is_valid():
        return _channel_page(request, membership, error="Choose a channel, or skip this step.")
    try:
        integrations.choose_slack_channel(
            membership=membership, channel_id=form.cleaned_data["channel"]
        )
    except integrations.NotConnected:
        return redirect("onboarding:slack")
    except FAILURES as error:
        return _problem(request, _code_for(error), error=error, retry=True)
    return redirect("onboarding:complete")


def _channel_page(request: HttpRequest, membership: Membership, *, error: str = "") -> HttpResponse:
    try:
        choices = integrations.slack_choices(membership=membership)
    except integrations.NotConnected:
        return redirect("onboarding:slack")
    except FAILURES as failure:
        return _problem(request, _code_for(failure), retry=True)
    context = {
        "team": membership.team,
        "choices": choices,
        "is_admin": access.permits(membership, access.Action.SLACK),
        "error": error,
    }
    return render(request, "onboarding/slack_channel.html", context, status=400 if error else 200)


def _code_for(error: Exception) -> str:
    """Name the page that explains ``error`` (one of FAILURES)."""
    logger.info("Slack step failed: %s", type(error).__name__)
    return next(code for kind, code in _PAGES if isinstance(error, kind))


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("onboarding:slack_callback"))


def _problem(
    request: HttpRequest, code: str, *, error: Exception | None = None, retry: bool = False
) -> HttpResponse:
    title, message, status = PROBLEMS[code]
    context = {
        "title": title,
        "message": message,
        "code": code,
        "channel_name": error.channel_name if isinstance(error, integrations.NotInChannel) else "",
        "retry_url": reverse("onboarding:slack_channel") if retry and code in RETRYABLE else "",
    }
    return render(request, "onboarding/slack_problem.html", context, status=status)
