"""Every optional provider's step (Jira, Slack, ...): one set of views over ``STEPS``.

The URLs pass the provider's name; the words, the picker and the problems come from its
``onboarding.providers.Step``, the work from ``sync.integrations``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from onboarding import oauth
from onboarding.providers import NOT_BY_CONNECTING, RETRYABLE, STEPS, Step
from onboarding.views.orgs import current_membership
from sync import access, accounts, integrations
from sync.models import Integration, Membership
from sync.providers.errors import IntegrationError, NotInChannel, ProviderError

logger = logging.getLogger(__name__)

FAILURES = (accounts.NotAdmin, IntegrationError, ProviderError)


@never_cache
@login_required
@require_GET
def step_page(request: HttpRequest, name: str) -> HttpResponse:
    step = STEPS[name]
    membership = _membership(request)
    if isinstance(membership, HttpResponse):
        return membership
    integration = integrations.get_integration(membership=membership, provider=name)
    revoked = integration is not None and integration.status == Integration.Status.REVOKED
    context = {
        "step": step,
        "team": membership.team,
        "purpose": step.purpose.format(org=membership.team.github_org_login),
        "integration": integration,
        "revoked": revoked,
        "status": step.status(integration) if integration and not revoked else "",
        "chosen": bool(integration and integration.config.get(step.chosen_key)) and not revoked,
        "is_admin": access.permits(membership, access.Action(name)),
    }
    return render(request, "onboarding/provider_step.html", context)


@login_required
@require_POST
def connect(request: HttpRequest, name: str) -> HttpResponse:
    state = oauth.new_state(request, _state_key(name))
    url = integrations.authorize_url(
        provider=name, redirect_uri=_callback_url(request, name), state=state
    )
    return HttpResponseRedirect(url)


@never_cache
@login_required
@require_GET
def callback(request: HttpRequest, name: str) -> HttpResponse:
    step = STEPS[name]
    answer = oauth.read_callback(request, _state_key(name), step.label)
    if answer.error == "state_mismatch" and _already_connected(request, name):
        # Back onto the provider's page after connecting, then on again: the state was used.
        # The code is not redeemed; the user lands on the step's choice. Others stay refused.
        logger.info("%s callback with a used state, already connected: back to the step", name)
        return redirect(step.pick_url_name)
    if problem := _callback_problem(answer):
        return _problem(request, step, problem)
    try:
        integrations.connect(
            provider=name,
            membership=current_membership(request),
            code=answer.code,
            redirect_uri=_callback_url(request, name),
        )
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    except FAILURES as error:
        return _problem(request, step, _code_for(step, error))
    return redirect(step.pick_url_name)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def pick(request: HttpRequest, name: str) -> HttpResponse:
    step = STEPS[name]
    membership = _membership(request)
    if isinstance(membership, HttpResponse):
        return membership
    if request.method == "GET":  # the shell: the list loads from the provider after it
        query = request.GET.urlencode()
        list_url = reverse(f"onboarding:{name}_{step.pick_path}_list")
        context = {
            "step": step,
            "team": membership.team,
            "list_url": f"{list_url}?{query}" if query else list_url,
        }
        return render(request, "onboarding/provider_pick.html", context)
    form = step.form(request.POST)
    if not form.is_valid():
        error = str(next(iter(form.errors.values()))[0])
        # What was sent scopes the list again; a scope the provider does not list is refused.
        return _list(request, step, membership, dict(request.POST.items()), error=error)
    try:
        integrations.choose(provider=name, membership=membership, pick=form.cleaned_data)
    except integrations.NotConnected:
        return redirect(f"onboarding:{name}")
    except FAILURES as failure:
        return _problem(request, step, _code_for(step, failure), error=failure, retry=True)
    return redirect(step.next_url)


@never_cache
@login_required
@require_GET
def pick_list(request: HttpRequest, name: str) -> HttpResponse:
    step = STEPS[name]
    membership = _membership(request)
    if isinstance(membership, HttpResponse):
        return membership
    return _list(request, step, membership, step.scope(request.GET))


@login_required
@require_POST
def disconnect(request: HttpRequest, name: str) -> HttpResponse:
    step = STEPS[name]
    try:
        integrations.disconnect(provider=name, membership=current_membership(request))
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    except accounts.NotAdmin:
        return _problem(request, step, "not_admin")
    return redirect(f"onboarding:{name}")


def _list(
    request: HttpRequest,
    step: Step,
    membership: Membership,
    pick: dict[str, Any],
    *,
    error: str = "",
) -> HttpResponse:
    """Render the picker (a fragment for htmx, else the whole page), or what went wrong."""
    fragment = request.headers.get("HX-Request") == "true"
    try:
        choices = integrations.choices(provider=step.name, membership=membership, pick=pick)
    except integrations.NotConnected:
        return _redirect(request, reverse(f"onboarding:{step.name}"))
    except FAILURES as failure:
        code = _code_for(step, failure)
        if fragment:  # htmx swaps only 2xx answers: the error is the fragment, with its way on
            context = _problem_context(step, code, error=failure, retry=True)
            return render(request, "onboarding/providers/_problem.html", context)
        return _problem(request, step, code, error=failure, retry=True)
    context = {
        "step": step,
        "team": membership.team,
        "offer": step.offer(choices),
        "error": error,
        "is_admin": access.permits(membership, access.Action(step.name)),
        "list_included": True,
    }
    template = (
        "onboarding/providers/_pick_list.html" if fragment else "onboarding/provider_pick.html"
    )
    return render(request, template, context, status=400 if error else 200)


def _membership(request: HttpRequest) -> Membership | HttpResponse:
    """The user's membership of their team, or the way to choose one."""
    try:
        return current_membership(request)
    except accounts.NotAMember:
        return _redirect(request, reverse("onboarding:select_org"))


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if request.headers.get("HX-Request") == "true":  # htmx would swap the page into the list
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)


def _already_connected(request: HttpRequest, name: str) -> bool:
    """Whether the user's team has ``name`` connected and working."""
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return False
    integration = integrations.get_integration(membership=membership, provider=name)
    return (
        integration is not None
        and integration.credential is not None
        and integration.status == Integration.Status.ACTIVE
    )


def _callback_problem(answer: oauth.Callback) -> str:
    """Name the problem page for a callback that brought no code ("" when it did)."""
    if answer.error in ("state_mismatch", "access_denied"):
        return answer.error
    if answer.error:
        return "bad_code" if answer.error == "missing_code" else "oauth_error"
    return ""


def _code_for(step: Step, error: Exception) -> str:
    """Name the page that explains ``error`` (one of FAILURES)."""
    logger.info("%s step failed: %s", step.label, type(error).__name__)
    if isinstance(error, accounts.NotAdmin):
        return "not_admin"
    return str(getattr(error, "problem", "oauth_error"))


def _state_key(name: str) -> str:
    return f"{name}_oauth_state"


def _callback_url(request: HttpRequest, name: str) -> str:
    return request.build_absolute_uri(reverse(f"onboarding:{name}_callback"))


def _problem_context(
    step: Step, code: str, *, error: Exception | None = None, retry: bool = False
) -> dict[str, Any]:
    title, message, status = step.problem(code)
    fix = ""
    if isinstance(error, NotInChannel):
        fix = format_html(
            "in Slack, open #{} and type <code>/invite @PR Insights</code>, then choose it "
            "again here, or choose a channel the app is already in.",
            error.channel_name,
        )
    return {
        "step": step,
        "title": title,
        "message": message,
        "status": status,
        "code": code,
        "fix": fix,
        "retry_url": reverse(step.pick_url_name) if retry and code in RETRYABLE else "",
        "retry_label": "Try again" if code == "unavailable" else "Choose again",
        "reconnect": code not in NOT_BY_CONNECTING,
    }


def _problem(
    request: HttpRequest,
    step: Step,
    code: str,
    *,
    error: Exception | None = None,
    retry: bool = False,
) -> HttpResponse:
    context = _problem_context(step, code, error=error, retry=retry)
    return render(request, "onboarding/provider_problem.html", context, status=context["status"])
