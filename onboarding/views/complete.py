from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from onboarding import overview
from onboarding.views.orgs import current_membership
from sync import access, accounts, memberships, services, webhooks
from sync.models import Integration, IntegrationCredential, Membership, TrackedRepository

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
    roles = access.roles_of(membership.user, team.pk, membership_role=membership.role)
    members = memberships.current_members(team).order_by("is_bot", "login")
    imports = overview.sync_context(team, roles)
    context: dict[str, Any] = {
        **overview.data_context(team, roles, overview.page_version(team)),
        **imports,
        "can_jira": access.allowed(roles, access.Action.JIRA),
        "can_slack": access.allowed(roles, access.Action.SLACK),
        "last_sync": imports["last"],
        "refreshed": team.refreshed_at is not None,
        "members": members[:MEMBERS_SHOWN],
        "members_total": members.count(),
        "history_days": settings.SYNC_HISTORY_DAYS,
        "webhook": webhooks.health(team),
        "sweep_minutes": round(settings.SWEEP_PERIOD_SECONDS / 60),
        **_connections(team.pk),
    }
    return render(request, "onboarding/complete.html", context)


class RemoveRepositoryForm(forms.Form):
    keep_data = forms.ChoiceField(
        choices=[
            (
                "keep",
                "Keep its imported pull requests (hidden; choosing it again brings them back)",
            ),
            ("delete", "Delete its imported pull requests, reviews and commits"),
        ],
        widget=forms.RadioSelect,
        initial="keep",
        error_messages={"required": "Choose whether to keep or delete its data."},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def remove_repository(request: HttpRequest, repository_id: int) -> HttpResponse:
    try:
        membership = current_membership(request)
    except accounts.NotAMember:
        return redirect("onboarding:select_org")
    if not access.permits(membership, access.Action.CHANGE_REPOSITORIES):
        return _refused(request, membership)
    repository = _tracked(membership, repository_id)
    form = RemoveRepositoryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            removed = services.remove_repository(
                repository=repository,
                keep_data=form.cleaned_data["keep_data"] == "keep",
                by=membership.user,
            )
        except services.RepositoryBusy as error:
            form.add_error(None, str(error))
        else:
            messages.info(request, _removed_message(removed))
            return redirect("onboarding:complete")
    pulls = repository.pull_requests.filter(deleted_at__isnull=True).count()
    context = {"repository": repository, "form": form, "pull_requests": pulls}
    status = 400 if request.method == "POST" else 200
    return render(request, "onboarding/remove_repository.html", context, status=status)


def _tracked(membership: Membership, repository_id: int) -> TrackedRepository:
    repository = TrackedRepository.objects.filter(
        pk=repository_id, team=membership.team, untracked_at__isnull=True
    ).first()
    if repository is None:
        raise Http404("No such repository in your team")
    return repository


def _refused(request: HttpRequest, membership: Membership) -> HttpResponse:
    context = {
        "title": "Only the team's admins remove repositories",
        "message": "You are a member of this team, not an admin.",
        "fix": "Ask an admin of the team to remove the repository.",
        "overview": True,
    }
    return render(request, "onboarding/github_problem.html", context, status=403)


def _removed_message(removed: services.RemovedRepository) -> str:
    pulls = f"{removed.pull_requests:,} pull request{'s' if removed.pull_requests != 1 else ''}"
    if removed.kept_data:
        return (
            f"{removed.full_name} is no longer tracked. Its {pulls} are kept: choose it again "
            "under Add repositories to bring them back."
        )
    return f"{removed.full_name} is no longer tracked, and its {pulls} were deleted."


def _connections(team_id: int) -> dict[str, Any]:
    """Return the Jira and Slack connections as the overview names them (or None)."""
    found = {i.provider: i for i in Integration.objects.filter(team_id=team_id)}
    jira = found.get(IntegrationCredential.Provider.JIRA)
    slack = found.get(IntegrationCredential.Provider.SLACK)
    return {
        "jira": _jira(jira) if jira else None,
        "slack": _slack(slack) if slack else None,
    }


def _status_label(integration: Integration) -> str:
    labels = {"revoked": "Access revoked: connect it again", "error": "Not working"}
    return labels.get(integration.status, integration.status)


def _jira(integration: Integration) -> dict[str, Any]:
    config = integration.config or {}
    site = config.get("site") or {}
    return {
        "status": integration.status,
        "status_label": _status_label(integration),
        "site": site.get("name", ""),
        "projects": config.get("projects") or [],
    }


def _slack(integration: Integration) -> dict[str, Any]:
    config = integration.config or {}
    return {
        "status": integration.status,
        "status_label": _status_label(integration),
        "channel_name": config.get("channel_name", ""),
        "workspace": config.get("workspace", ""),
    }


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
