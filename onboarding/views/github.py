from __future__ import annotations

import logging

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from onboarding import oauth as oauth_flow
from sync import accounts, github_access
from sync.github_access import (
    BadCredentials,
    BadVerificationCode,
    GitHubError,
    NotFound,
    OAuthError,
    PreflightFailed,
    RateLimited,
    SecondaryRateLimited,
    SSORequired,
    Transient,
)
from sync.models import GitHubAccount

logger = logging.getLogger(__name__)

STATE_KEY = "github_oauth_state"
NEXT_KEY = "github_oauth_next"

PROBLEMS = {
    "state_mismatch": (
        "This sign-in link is no longer valid",
        "The answer from GitHub did not match a sign-in started here: it was already used, it "
        "expired, or it was started in another browser. Nothing was connected.",
    ),
    "access_denied": (
        "GitHub access was not granted",
        "You cancelled on GitHub's page, so nothing was connected. We need read access to your "
        "organizations and repositories to import pull-request history.",
    ),
    "bad_verification_code": (
        "GitHub did not accept the sign-in code",
        "The code GitHub sent back was wrong, already used or expired (codes last ten minutes). "
        "Nothing was connected.",
    ),
    "incorrect_client_credentials": (
        "This service's GitHub app is misconfigured",
        "GitHub refused our app's client id or secret. An administrator must set "
        "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET to the OAuth app's values.",
    ),
    "redirect_uri_mismatch": (
        "This service's GitHub app is misconfigured",
        "GitHub refused the callback address. An administrator must set the OAuth app's "
        "callback URL to this site's /onboarding/github/callback/.",
    ),
    "oauth_error": (
        "GitHub refused the sign-in",
        "GitHub answered with an error we did not expect. Nothing was connected.",
    ),
    "transient": (
        "GitHub did not answer",
        "GitHub could not be reached or answered with an error. Nothing was connected.",
    ),
}
PREFLIGHT_STATUS = {"bad_token": 403, "missing_scopes": 403, "refused": 403, "rate_limited": 429}


# POST only: a GET would let any page (an <img> elsewhere) write a session row and replace a
# visitor's pending OAuth state.
@never_cache
@require_POST
def connect(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or ""
    return HttpResponseRedirect(start_github_sign_in(request, next_url=next_url))


def start_github_sign_in(
    request: HttpRequest, *, next_url: str, extra_scopes: tuple[str, ...] = ()
) -> str:
    """Keep a fresh OAuth state (and where to go after) in the session; return GitHub's URL.

    ``extra_scopes`` asks for more than sign-in needs (an incremental authorization).
    """
    state = oauth_flow.new_state(request, STATE_KEY)
    if url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        request.session[NEXT_KEY] = next_url
    else:
        request.session.pop(NEXT_KEY, None)
    return github_access.authorize_url(
        redirect_uri=_callback_url(request), state=state, extra_scopes=extra_scopes
    )


@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    answer = oauth_flow.read_callback(request, STATE_KEY, "GitHub")
    if answer.error == "state_mismatch" and _signed_in_with_github(request):
        # Back onto GitHub's page after signing in, then Authorize again: the state was used.
        # The code is not redeemed; the user goes on where they are. Strangers stay refused.
        logger.info("GitHub callback with a used state from a signed-in user: back to the flow")
        from onboarding.views.orgs import current_step_url  # orgs imports this module

        next_url = request.session.pop(NEXT_KEY, None)
        return redirect(next_url or current_step_url(request))
    if answer.error == "missing_code":
        return _problem(request, "bad_verification_code", status=400)
    if answer.error:
        known = answer.error if answer.error in PROBLEMS else "oauth_error"
        return _problem(request, known, status=403 if answer.error == "access_denied" else 400)
    try:
        connection = github_access.connect(code=answer.code, redirect_uri=_callback_url(request))
    except PreflightFailed as failure:
        return _preflight_problem(request, failure)
    except OAuthError as error:
        status = 400 if isinstance(error, BadVerificationCode) else 502
        return _problem(request, error.code, status=status)
    except (Transient, GitHubError):
        return _problem(request, "transient", status=502)
    viewer = connection.viewer
    user = accounts.sign_in_with_github(
        viewer=viewer, access_token=connection.grant.access_token, scopes=viewer.scopes
    )
    next_url = request.session.pop(NEXT_KEY, None)  # login() may start a fresh session
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(next_url or "onboarding:select_org")


def _signed_in_with_github(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and GitHubAccount.objects.filter(user=user).exists())


def _callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("onboarding:github_callback"))


def _problem(request: HttpRequest, code: str, *, status: int) -> HttpResponse:
    title, message = PROBLEMS[code]
    context = {"title": title, "message": message, "code": code, "connect_again": True}
    return render(request, "onboarding/github_problem.html", context, status=status)


def _preflight_problem(request: HttpRequest, failure: PreflightFailed) -> HttpResponse:
    logger.info("GitHub pre-flight failed: %s", failure.code)
    context = {
        "title": "GitHub access is not usable yet",
        "message": failure.problem,
        "fix": failure.fix,
        "code": failure.code,
        "connect_again": True,
    }
    status = PREFLIGHT_STATUS.get(failure.code, 502)
    return render(request, "onboarding/github_problem.html", context, status=status)


def github_error_context(error: Exception) -> dict[str, object]:
    """Return what a page says about a GitHub failure: title, message, fix, status."""
    if isinstance(error, BadCredentials):
        return {
            "title": "GitHub access was revoked",
            "message": "GitHub no longer accepts the access you granted: it was revoked or has "
            "expired.",
            "fix": "Connect GitHub again.",
            "reconnect": True,
            "status": 403,
        }
    if isinstance(error, RateLimited):
        return {
            "title": "GitHub's rate limit is used up",
            "message": f"Your GitHub API rate limit is used up until {error.reset_at:%H:%M} UTC.",
            "fix": "Try again after that; other tools using your GitHub account share this limit.",
            "retry": True,
            "status": 429,
        }
    if isinstance(error, SSORequired):
        return {
            "title": "Your organization requires SAML single sign-on",
            "message": "GitHub will not show this organization's data until you authorize this "
            "app for it with single sign-on.",
            "fix": "Connect GitHub again and choose Authorize next to the organization.",
            "reconnect": True,
            "status": 403,
        }
    if isinstance(error, NotFound):
        return {
            "title": "GitHub does not show this organization",
            "message": "The organization no longer exists, or your GitHub account can no longer "
            "see it.",
            "fix": "Choose another organization, or ask an owner to add you to it.",
            "status": 404,
        }
    if isinstance(error, SecondaryRateLimited):
        wait = int(error.retry_after or 60)
        return {
            "title": "GitHub asked us to slow down",
            "message": "GitHub's secondary rate limit stopped this request for a moment.",
            "fix": f"Try again in {wait} seconds.",
            "retry": True,
            "status": 429,
        }
    if isinstance(error, Transient):
        return {
            "title": "GitHub did not answer",
            "message": "GitHub could not be reached or answered with an error.",
            "fix": "Try again in a moment.",
            "retry": True,
            "status": 502,
        }
    return {
        "title": "GitHub refused the request",
        "message": "GitHub answered with an error we did not expect.",
        "fix": "Try again; if it keeps happening, connect GitHub again.",
        "retry": True,
        "reconnect": True,
        "status": 502,
    }


def render_github_error(request: HttpRequest, error: Exception) -> HttpResponse:
    """Render the full page that explains a GitHub failure (never a 500)."""
    logger.info("GitHub request failed on %s: %s", request.path, type(error).__name__)
    context = github_error_context(error)
    return render(
        request, "onboarding/github_problem.html", context, status=int(str(context["status"]))
    )
