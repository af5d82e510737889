"""The words and actions a sync job shows in each of its conditions: one table for every page.

``sync.progress.JobState.condition`` says what a job is doing; this table says how the pages
put it: the heading, the badge, the banner and the actions, at most one of them primary. The
progress page, the team's pages and the staff pages all render from ``page_context``, so they
never disagree about a job. Every fragment's root element carries ``data-version`` (the job's
version): the browser never lets an older fragment replace a newer one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from sync.models import RepoSync
from sync.progress import Condition, JobState


@dataclass(frozen=True)
class Action:
    name: str  # the URL name under onboarding: and the test id
    label: str
    confirm: str = ""  # asked before the action is taken ("" for none)


CANCEL = Action(
    "sync_cancel",
    "Cancel import",
    "Cancel this import? What was imported so far is kept; the rest is not imported.",
)
RUN_NOW = Action("sync_run_now", "Run it now")
RETRY = Action("sync_retry", "Retry failed repositories")
RECONNECT = Action("sync_reconnect", "Reconnect GitHub")


@dataclass(frozen=True)
class Words:
    heading: str  # "{team}" is the organization
    badge: str
    tone: str  # "info", "good", "warn" or "bad": the badge's and banner's colour
    banner: str  # "" for none; the banner template adds the details of the condition
    primary: Action | None
    secondary: tuple[Action, ...] = ()


IMPORTING = "Importing {team}'s pull requests"
TABLE: dict[Condition, Words] = {
    Condition.QUEUED: Words(IMPORTING, "Waiting for a worker", "info", "", None, (CANCEL,)),
    Condition.COUNTING: Words(IMPORTING, "Counting pull requests", "info", "", None, (CANCEL,)),
    Condition.RUNNING: Words(IMPORTING, "Importing", "info", "", None, (CANCEL,)),
    Condition.RATE_LIMITED: Words(
        IMPORTING, "Paused by GitHub's rate limit", "warn", "rate_limited", None, (CANCEL,)
    ),
    Condition.RETRYING: Words(IMPORTING, "Retrying", "warn", "retrying", None, (CANCEL,)),
    Condition.STALLED: Words(IMPORTING, "Stalled", "bad", "stalled", RUN_NOW, (CANCEL,)),
    Condition.WORKER_LOST: Words(
        IMPORTING, "No worker running", "bad", "worker_lost", RUN_NOW, (CANCEL,)
    ),
    Condition.SUCCEEDED: Words("{team}'s pull requests are imported", "Done", "good", "", None),
    Condition.PARTIAL: Words(
        "{team}'s import finished with failures", "Done, with failures", "warn", "partial", RETRY
    ),
    Condition.FAILED: Words("{team}'s import failed", "Failed", "bad", "failed", RETRY),
    Condition.CANCELLED: Words(
        "{team}'s import was cancelled", "Cancelled", "info", "cancelled", None
    ),
}
FINISHED = (Condition.SUCCEEDED, Condition.PARTIAL, Condition.FAILED, Condition.CANCELLED)


def words_for(state: JobState, condition: Condition) -> Words:
    """Return the table's words, with Reconnect as the one primary action where only it helps."""
    words = TABLE[condition]
    if state.reconnect and condition in (Condition.PARTIAL, Condition.FAILED):
        return Words(words.heading, words.badge, words.tone, "reconnect", RECONNECT)
    return words


def page_context(state: JobState, now: datetime | None = None) -> dict[str, Any]:
    """Return the template context for ``state``: what the fragments show, already decided."""
    now = now or timezone.now()
    condition = state.condition(now)
    words = words_for(state, condition)
    failed = state.repos_failed
    context = {
        "job": state,
        "version": state.version,
        "condition": condition.value,
        "heading": words.heading.format(team=state.team_name),
        "status_label": words.badge,
        "tone": words.tone,
        "banner": words.banner,
        "primary": words.primary,
        "secondary": words.secondary,
        "active": state.is_active,
        "finished": not state.is_active,
        "done": condition in (Condition.SUCCEEDED, Condition.PARTIAL),
        "counting": condition in (Condition.QUEUED, Condition.COUNTING),
        "percent": state.percent,
        "eta": eta_text(state, condition, now),
        "stalled": condition in (Condition.STALLED, Condition.WORKER_LOST),
        "never_started": state.started_at is None,
        "rate_limited": condition == Condition.RATE_LIMITED,
        "reset_at": state.rate_limit_reset_at,
        "reconnect": state.reconnect,
        "failed_repos": failed,
        "repos_imported": sum(1 for r in state.repos if r.status == RepoSync.Status.SUCCEEDED),
        "repos": [_repo_context(repo, now, recent_days(state)) for repo in state.repos],
        "recent": recent_text(state),
        "recent_ready": state.recent_ready,
    }
    context["announcement"] = _announcement(context)
    return context


RECENT_PENDING = "Importing the last {days} days of every repository first ({done} of {total})"
RECENT_READY = "Recent activity ready: the last {days} days of every repository are imported"
RECENT_READY_OLDER = RECENT_READY + "; older history follows"


def recent_days(state: JobState) -> int:
    """Return how many days the job's recent phase covers (0: it has none)."""
    if state.recent_since is None:
        return 0
    return round((state.created_at - state.recent_since).total_seconds() / 86400)


def recent_text(state: JobState) -> str:
    """Say where a first import is with recent activity, while it runs ("" otherwise)."""
    if not state.is_active or state.recent_since is None:
        return ""
    days = recent_days(state)
    if state.recent_ready_at is not None:
        return RECENT_READY_OLDER.format(days=days)
    done, total = state.repos_recent_done, len(state.repos)
    return RECENT_PENDING.format(days=days, done=done, total=total)


def eta_text(state: JobState, condition: Condition, now: datetime) -> str:
    """Say how long is left, rounded as honestly as the estimate allows."""
    if condition not in (Condition.RUNNING, Condition.RATE_LIMITED, Condition.RETRYING):
        return ""
    if state.eta_seconds is None or state.eta_at is None:
        return "Estimating time left…"
    seconds = max(0.0, state.eta_seconds - (now - state.eta_at).total_seconds())
    if seconds < 60:
        return "Less than a minute left"
    minutes = round(seconds / 60)
    if minutes <= 10:
        return f"About {minutes} min left"
    if minutes < 60:
        return f"About {5 * round(minutes / 5)} min left"
    hours, rest = divmod(5 * round(minutes / 5), 60)
    return f"About {hours} h {rest} min left" if rest else f"About {hours} h left"


def render_page(state: JobState, now: datetime | None = None) -> str:
    """Render the progress page's pushed fragments (status, bar, banners, repository list)."""
    return render_to_string("sync/job_update.html", page_context(state, now))


def render_team(state: JobState, now: datetime | None = None) -> str:
    """Render the one-line summary a team's other pages show for a job."""
    return render_to_string("sync/team_job.html", page_context(state, now))


def _repo_context(repo: Any, now: datetime, days: int = 0) -> dict[str, Any]:
    retrying = repo.status == RepoSync.Status.RETRYING and repo.retry_at is not None
    retry_in = max(0, math.ceil((repo.retry_at - now).total_seconds())) if retrying else 0
    label = REPO_LABELS.get(repo.status, repo.status)
    if repo.recent_done_at is not None and repo.status == RepoSync.Status.QUEUED:
        label = RECENT_REPO_LABEL.format(days=days)  # it gave its turn to the others
    return {
        "id": repo.id,
        "repository": repo.repository,
        "status": repo.status,
        "label": label,
        "prs_synced": repo.prs_synced,
        "reviews_synced": repo.reviews_synced,
        "commits_synced": repo.commits_synced,
        "error_message": repo.error_message,
        # The window's size while there is more to come; a finished one shows what it held.
        "show_total": repo.prs_expected is not None and repo.status not in RepoSync.FINISHED,
        "prs_total": repo.prs_expected,
        "retry_at": repo.retry_at if retrying else None,
        "retry_in": retry_in,
    }


RECENT_REPO_LABEL = "Last {days} days imported; older history next"
REPO_LABELS = {
    "queued": "Queued",
    "running": "Importing",
    "waiting": "Paused",
    "retrying": "Retrying",
    "succeeded": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def _announcement(context: dict[str, Any]) -> str:
    """Return what a screen reader is told when it changes: the status and what needs action."""
    label = context["status_label"]
    if context["reconnect"] == "sso":
        return f"{label}: your organization requires single sign-on; reconnect GitHub to go on"
    if context["reconnect"]:
        return f"{label}: GitHub access was revoked; reconnect GitHub to go on"
    if context["failed_repos"]:
        return f"{label}: {context['failed_repos']} repositories failed"
    if context["active"] and context["recent_ready"]:
        return f"{label}: recent activity ready"
    return str(label)
