"""How the team's webhook is doing, as a typed state the staff page and the overview render."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Count, Max, Q
from django.utils import timezone

from sync.models import Integration, Team, WebhookDelivery

WINDOW = timedelta(hours=24)
# No delivery for this long while registered: GitHub may have disabled the hook.
SILENT_AFTER = timedelta(days=3)


class HookCondition(StrEnum):
    NOT_REGISTERED = "not_registered"
    WAITING = "waiting"  # registered, nothing received yet
    HEALTHY = "healthy"
    FAILING = "failing"  # refusals or failures in the last day
    SILENT = "silent"


@dataclass(frozen=True)
class WebhookHealth:
    condition: HookCondition
    hook_id: int | None
    registered_at: datetime | None
    last_delivery_at: datetime | None
    last_applied_at: datetime | None
    deliveries_24h: int
    failures_24h: int
    last_failure: str  # the reason of the latest refusal or failure, "" if none

    @property
    def registered(self) -> bool:
        return self.hook_id is not None


def health(team: Team) -> WebhookHealth:
    """Return the team's webhook health over the last day."""
    integration = Integration.objects.filter(team=team, provider="github").first()
    hook_id = integration.webhook_id if integration else None
    registered_at = integration.webhook_registered_at if integration else None
    now = timezone.now()
    failed = Q(status__in=[WebhookDelivery.Status.REFUSED, WebhookDelivery.Status.FAILED])
    rows = WebhookDelivery.objects.filter(team=team)
    totals = rows.aggregate(
        last=Max("received_at"),
        applied=Max("applied_at", filter=Q(status=WebhookDelivery.Status.APPLIED)),
        recent=Count("pk", filter=Q(received_at__gte=now - WINDOW)),
        failures=Count("pk", filter=failed & Q(received_at__gte=now - WINDOW)),
    )
    last_failure = rows.filter(failed).order_by("-received_at").values_list("reason", flat=True)
    return WebhookHealth(
        condition=_condition(hook_id, totals["last"], totals["failures"], now),
        hook_id=hook_id,
        registered_at=registered_at,
        last_delivery_at=totals["last"],
        last_applied_at=totals["applied"],
        deliveries_24h=totals["recent"],
        failures_24h=totals["failures"],
        last_failure=(last_failure.first() or "") if totals["failures"] else "",
    )


def _condition(
    hook_id: int | None, last: datetime | None, failures: int, now: datetime
) -> HookCondition:
    if hook_id is None and last is None:
        return HookCondition.NOT_REGISTERED
    if failures:
        return HookCondition.FAILING
    if last is None:
        return HookCondition.WAITING
    if now - last > SILENT_AFTER:
        return HookCondition.SILENT
    return HookCondition.HEALTHY
