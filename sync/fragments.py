"""Render a job's state (``progress.snapshot``) into the HTML fragments each audience sees.

Everything here works from the state dict alone, so the publisher renders once per audience
and a consumer forwards the result without touching the database. Every fragment's root
element carries ``data-version`` (the job's version): the browser never lets an older fragment
replace a newer one. Whether a job is stalled depends on the clock, so it is computed here at
render time, and ``stall_deadline`` says when a quiet job will turn stalled.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from sync.models import RepoSync, SyncJob

# A job that no worker picks up within this long is shown as stalled.
QUEUED_STALL_AFTER = timedelta(seconds=15)
# A started job whose heartbeat (or rate-limit reset, or repo retry) is older than this is stalled.
HEARTBEAT_STALL_AFTER = timedelta(seconds=settings.SYNC_STALL_AFTER_SECONDS)

ACTIVE = (SyncJob.Status.QUEUED, SyncJob.Status.RUNNING, SyncJob.Status.WAITING)
# Error codes (sync.engine) that only reconnecting GitHub fixes.
REVOKED_CODES = frozenset({"token_revoked", "bad_credentials"})
SSO_CODE = "sso_required"
JOB_LABELS = {
    "queued": "Waiting for a worker",
    "running": "Importing",
    "waiting": "Paused",
    "succeeded": "Done",
    "partial": "Done, with failures",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
REPO_LABELS = {
    "queued": "Queued",
    "running": "Importing",
    "waiting": "Paused",
    "retrying": "Retrying",
    "succeeded": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def stall_deadline(state: dict[str, Any]) -> datetime | None:
    """Return when the job turns stalled if nothing changes, or None for a finished job."""
    status = state["status"]
    if status not in ACTIVE:
        return None
    if status == SyncJob.Status.QUEUED and not state.get("started_at"):
        return _latest(state.get("created_at"), state.get("heartbeat_at")) + QUEUED_STALL_AFTER
    # The last sign of life, or a moment the worker is known to be waiting for.
    alive = state.get("heartbeat_at") or state.get("started_at") or state.get("created_at")
    retry_times = [repo.get("retry_at") for repo in state["repos"]]
    return _latest(alive, state.get("rate_limit_reset_at"), *retry_times) + HEARTBEAT_STALL_AFTER


def is_stalled(state: dict[str, Any], now: datetime) -> bool:
    deadline = stall_deadline(state)
    return deadline is not None and now >= deadline


def render_page(state: dict[str, Any], now: datetime | None = None) -> str:
    """Render the progress page's pushed fragments (status, bar, banners, repository list)."""
    return render_to_string("sync/job_update.html", page_context(state, now))


def render_team(state: dict[str, Any], now: datetime | None = None) -> str:
    """Render the one-line summary a team's other pages show for a job."""
    return render_to_string("sync/team_job.html", page_context(state, now))


def render_staff(state: dict[str, Any], now: datetime | None = None) -> str:
    """Render the job's rows on the staff page: its import row and its team's summary row."""
    context = page_context(state, now)
    # Both are table rows, each swapped by its own id, so their order does not matter.
    return render_to_string("sync/staff_job_row.html", context) + render_to_string(
        "staff/team_sync.html", context
    )


def page_context(state: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Return the template context for ``state``: what the fragments show, already decided."""
    now = now or timezone.now()
    status = state["status"]
    reset_at = parse_time(state["rate_limit_reset_at"])
    repos = [_repo_context(repo, now) for repo in state["repos"]]
    failed = sum(1 for repo in repos if repo["status"] == RepoSync.Status.FAILED)
    context = {
        "job": state,
        "version": state["version"],
        "status_label": JOB_LABELS.get(status, status),
        "active": status in ACTIVE,
        "finished": status not in ACTIVE,
        "done": status in (SyncJob.Status.SUCCEEDED, SyncJob.Status.PARTIAL),
        "percent": _percent(state),
        "eta": _eta_text(state),
        "stalled": is_stalled(state, now),
        "never_started": status == SyncJob.Status.QUEUED and not state.get("started_at"),
        "rate_limited": status == SyncJob.Status.WAITING and reset_at is not None,
        "reset_at": reset_at,
        "reconnect": _needs_reconnect(state),
        "failed_repos": failed,
        "repos": repos,
    }
    context["announcement"] = _announcement(context)
    return context


def _latest(*values: str | None) -> datetime:
    return max(parsed for value in values if (parsed := parse_time(value)) is not None)


def _percent(state: dict[str, Any]) -> int:
    if state["status"] == SyncJob.Status.SUCCEEDED:
        return 100
    if state["prs_total"]:  # the engine's estimate of the PRs in the job's history window
        return min(99, math.floor(100 * state["prs_synced"] / state["prs_total"]))
    repos = state["repos"]
    if not repos:
        total, done = state["repos_total"], state["repos_done"]
        return min(99, math.floor(100 * done / total)) if total else 0
    return min(99, math.floor(100 * sum(_repo_fraction(repo) for repo in repos) / len(repos)))


def _repo_fraction(repo: dict[str, Any]) -> float:
    # A failed or cancelled repository counts for what it imported: the bar never claims more.
    if repo["status"] == RepoSync.Status.SUCCEEDED:
        return 1.0
    total = repo["prs_total"]
    return min(repo["prs_synced"] / total, 0.99) if total else 0.0


def _eta_text(state: dict[str, Any]) -> str:
    seconds = state["eta_seconds"]
    if state["status"] not in ACTIVE:
        return ""
    if seconds is None:
        return "Estimating time left…"
    if seconds < 60:
        return "Less than a minute left"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"About {minutes} min left"
    return f"About {minutes // 60} h {minutes % 60} min left"


def _needs_reconnect(state: dict[str, Any]) -> str:
    """Return why GitHub must be reconnected ("revoked" or "sso"), or ""."""
    codes = {state["error_code"], *(repo["error_code"] for repo in state["repos"])}
    if codes & REVOKED_CODES:
        return "revoked"
    return "sso" if SSO_CODE in codes else ""


def _repo_context(repo: dict[str, Any], now: datetime) -> dict[str, Any]:
    retry_at = parse_time(repo["retry_at"])
    retrying = repo["status"] == RepoSync.Status.RETRYING and retry_at is not None
    return {
        **repo,
        "label": REPO_LABELS.get(repo["status"], repo["status"]),
        # GitHub's total counts every PR; a finished sync shows what its window held.
        "show_total": repo["prs_total"] is not None and repo["status"] not in RepoSync.FINISHED,
        "retry_at": retry_at if retrying else None,
        "retry_in": max(0, math.ceil((retry_at - now).total_seconds())) if retrying else 0,
    }


def _announcement(context: dict[str, Any]) -> str:
    """Return what a screen reader is told when it changes: the status and what needs action."""
    if context["stalled"]:
        return "Import stalled: no worker is making progress"
    if context["reconnect"] == "sso":
        return "Your organization requires single sign-on: reconnect GitHub to go on"
    if context["reconnect"]:
        return "GitHub access was revoked: reconnect GitHub to go on"
    if context["rate_limited"]:
        return "Paused by GitHub's rate limit"
    if context["failed_repos"]:
        return f"{context['status_label']}: {context['failed_repos']} repositories failed"
    return str(context["status_label"])
