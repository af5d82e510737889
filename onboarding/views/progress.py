from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from onboarding import states
from onboarding.views.github import start_github_sign_in
from sync import access, progress, services
from sync.models import SyncJob


def _job_or_404(request: HttpRequest, job_id: int, action: access.Action) -> SyncJob:
    try:
        return access.get_job_for_user(request.user, job_id, action)
    except access.JobNotFound:
        raise Http404("No such import") from None


def _user(request: HttpRequest) -> User:
    """The signed-in user: every view here is behind ``login_required``."""
    assert isinstance(request.user, User)
    return request.user


def _answer(request: HttpRequest, page: str, *, message: str = "", go: str = "") -> HttpResponse:
    """Answer an action: htmx shows ``message`` (the socket shows the rest) or follows ``go``;
    a plain form post returns to the page (or ``go``) with ``message`` shown there."""
    if not request.headers.get("HX-Request"):
        if message:
            messages.info(request, message)
        return redirect(go or page)
    response = render(request, "sync/action_result.html", {"message": message})
    if go and go != page:
        response["HX-Redirect"] = go
    return response


def _act(
    request: HttpRequest,
    job_id: int,
    allowed: access.Action,
    action: Callable[[SyncJob], SyncJob],
    done: str,
) -> HttpResponse:
    try:
        job = _job_or_404(request, job_id, allowed)
    except access.NotAllowed as error:  # back to the page, which says why
        return _answer(request, _page(job_id), message=str(error))
    page = _page(job.pk)
    try:
        result = action(job)
    except services.SyncAlreadyRunning as error:
        return _answer(request, page, message=str(error), go=_page(error.job_id))
    except services.SyncError as error:
        return _answer(request, page, message=str(error))
    return _answer(request, page, message=done, go=_page(result.pk))


def _confirm(request: HttpRequest, job_id: int, action: states.Action) -> HttpResponse:
    try:
        job = _job_or_404(request, job_id, access.Action.CANCEL)
    except access.NotAllowed as error:
        return _answer(request, _page(job_id), message=str(error))
    context = {"job": job, "action": action, "back": _page(job.pk)}
    return render(request, "onboarding/sync_confirm.html", context)


def _page(job_id: int) -> str:
    return reverse("onboarding:sync", args=[job_id])


@login_required
def sync_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request, job_id, access.Action.VIEW)
    context = states.page_context(progress.snapshot(job))
    return render(request, "onboarding/sync.html", context)


# GET asks first (the button's form without JavaScript); POST cancels (htmx asks in a dialog).
@login_required
@require_http_methods(["GET", "POST"])
def sync_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    if request.method == "GET":
        return _confirm(request, job_id, states.CANCEL)
    return _act(
        request,
        job_id,
        access.Action.CANCEL,
        lambda job: services.cancel_job(job=job, by=_user(request)),
        "Cancelled. What was imported so far is kept.",
    )


@login_required
@require_POST
def sync_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    return _act(
        request,
        job_id,
        access.Action.RETRY,
        lambda job: services.retry_failed_repositories(job=job, by=_user(request)),
        "Retrying the failed repositories.",
    )


@login_required
@require_POST
def sync_run_now(request: HttpRequest, job_id: int) -> HttpResponse:
    return _act(
        request,
        job_id,
        access.Action.RUN_NOW,
        lambda job: services.resume_job(job=job, by=_user(request)),
        "Sent to the job queue again; it starts as soon as a worker takes it.",
    )


@login_required
@require_POST
def sync_reconnect(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        page = _page(_job_or_404(request, job_id, access.Action.RECONNECT).pk)
    except access.NotAllowed as error:
        return _answer(request, _page(job_id), message=str(error))
    return _answer(request, page, go=start_github_sign_in(request, next_url=page))
