"""The audit log: who did what to which team's sync, with what parameters and outcome."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import QuerySet

from sync.models import AuditEvent, SyncJob, Team


class Action(models.TextChoices):
    """What the audit log records, named as ``sync.services`` names them."""

    INITIAL = "sync.initial", "First import"
    INCREMENTAL = "sync.incremental", "Sync new changes"
    FULL = "sync.full", "Full resync"
    EXTEND = "sync.extend", "Extend history"
    RESYNC_REPOSITORY = "sync.resync_repository", "Resync one repository"
    RETRY_FAILED = "sync.retry_failed", "Retry failed repositories"
    CANCEL = "sync.cancel", "Cancel"
    RESUME = "sync.resume", "Run it now"
    MEMBER_REMOVED = "member.removed", "Left the organization on GitHub"


def find_audit_events(
    *, team: Team | str = "", action: str = "", actor: str = ""
) -> QuerySet[AuditEvent]:
    """Return audit events, newest first, by team (or its login), action and actor username."""
    events = AuditEvent.objects.select_related("actor", "team").order_by("-created_at", "-pk")
    if isinstance(team, Team):
        events = events.filter(team=team)
    elif team:
        events = events.filter(team__github_org_login__iexact=team)
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor__username__iexact=actor)
    return events


def describe_events(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    """Return each event with its action's label and the current status of the job it names."""
    events = list(events)
    job_ids = {job_id for event in events if (job_id := _job_of(event)) is not None}
    statuses = dict(SyncJob.objects.filter(pk__in=job_ids).values_list("pk", "status"))
    labels = dict(Action.choices)
    return [
        {
            "event": event,
            "label": labels.get(event.action, event.action),
            "job_id": _job_of(event),
            "job_status": statuses.get(_job_of(event) or 0, ""),
        }
        for event in events
    ]


def _job_of(event: AuditEvent) -> int | None:
    job = event.params.get("job") if isinstance(event.params, dict) else None
    return job if isinstance(job, int) else None
