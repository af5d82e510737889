"""Receive one delivery: verify its signature, de-duplicate it, record it, enqueue it.

GitHub waits 10 s for a 2xx and does not retry by itself, so nothing here talks to GitHub or
applies anything: the delivery is recorded and its actor enqueued after commit. Refusals are
recorded too (without the body), so the staff page shows what was tried and why it failed.

The team comes from the payload (its ``organization``), never from the URL alone, so a GitHub
App installation can deliver the same events to the same endpoint later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from sync.crypto import DecryptionError
from sync.models import Integration, WebhookDelivery
from sync.webhooks import signatures

logger = logging.getLogger(__name__)

# Events the service subscribes to; anything else is answered and ignored.
EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "push",
        "member",
        "membership",
        "organization",
        "repository",
    }
)


@dataclass(frozen=True)
class Receipt:
    """What the endpoint answers GitHub: a status and a sentence saying why."""

    status_code: int
    outcome: str
    delivery_id: int | None = None


def max_bytes() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_BYTES", 5 * 1024 * 1024))


def refuse_oversize(*, headers: Mapping[str, str], size: int) -> Receipt:
    """Record a delivery refused for its size (the body is never read); answer 413."""
    reason = f"the body is {size} bytes, over the {max_bytes()}-byte limit"
    return _refuse(headers, None, 413, reason, size=size)


def receive(*, headers: Mapping[str, str], body: bytes) -> Receipt:
    """Verify and record one delivery; enqueue it for the worker after commit."""
    if len(body) > max_bytes():
        return refuse_oversize(headers=headers, size=len(body))
    payload = _parse(body)
    integration = _integration_for(payload)
    signature = headers.get("X-Hub-Signature-256", "")
    if not signature:
        return _refuse(headers, integration, 401, "unsigned: no X-Hub-Signature-256", len(body))
    if payload is None:
        return _refuse(headers, integration, 400, "the body is not a JSON object", len(body))
    if integration is None:
        reason = "no team has connected the organization this delivery is about"
        return _refuse(headers, None, 404, reason, len(body))
    if not signatures.verify(_secret(integration), body, signature):
        reason = "wrongly signed: X-Hub-Signature-256 does not match the hook's secret"
        return _refuse(headers, integration, 401, reason, len(body))
    guid = headers.get("X-GitHub-Delivery", "")[:100]
    if not guid:
        return _refuse(headers, integration, 400, "no X-GitHub-Delivery id", len(body))
    return _accept(headers, integration, payload, guid, len(body))


def _accept(
    headers: Mapping[str, str],
    integration: Integration,
    payload: dict[str, Any],
    guid: str,
    size: int,
) -> Receipt:
    event = headers.get("X-GitHub-Event", "")[:50]
    applies = event in EVENTS
    row = WebhookDelivery(
        team_id=integration.team_id,
        guid=guid,
        event=event,
        action=str(payload.get("action") or "")[:50],
        hook_id=_int(headers.get("X-GitHub-Hook-ID")),
        installation_id=_int((payload.get("installation") or {}).get("id")),
        status=WebhookDelivery.Status.QUEUED if applies else WebhookDelivery.Status.IGNORED,
        status_code=202 if applies else 200,
        reason="" if applies else f"the service does not use {event or 'unnamed'} events",
        size=size,
        payload=payload if applies else None,
    )
    try:
        with transaction.atomic():
            row.save()
            if applies:
                transaction.on_commit(lambda: _enqueue(row.pk))
    except IntegrityError:
        return _duplicate(guid)
    logger.info("webhook accepted delivery=%s event=%s team=%s", guid, event, row.team_id)
    outcome = "queued" if applies else row.reason
    return Receipt(row.status_code, outcome, row.pk)


def _duplicate(guid: str) -> Receipt:
    updated = WebhookDelivery.objects.filter(guid=guid).exclude(
        status=WebhookDelivery.Status.REFUSED
    )
    updated.update(duplicates=F("duplicates") + 1)
    logger.info("webhook duplicate delivery=%s ignored", guid)
    return Receipt(200, "duplicate: this delivery id was already received; ignored")


def _enqueue(delivery_id: int) -> None:
    from sync.actors import apply_webhook_delivery  # actors import the engine, not the reverse

    apply_webhook_delivery.send(delivery_id)


def _refuse(
    headers: Mapping[str, str],
    integration: Integration | None,
    status_code: int,
    reason: str,
    size: int,
) -> Receipt:
    row = WebhookDelivery.objects.create(
        team_id=integration.team_id if integration else None,
        guid=headers.get("X-GitHub-Delivery", "")[:100],
        event=headers.get("X-GitHub-Event", "")[:50],
        hook_id=_int(headers.get("X-GitHub-Hook-ID")),
        status=WebhookDelivery.Status.REFUSED,
        status_code=status_code,
        reason=reason[:500],
        size=size,
    )
    logger.warning("webhook refused delivery=%s status=%s: %s", row.guid, status_code, reason)
    return Receipt(status_code, f"refused: {reason}", row.pk)


def _parse(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _integration_for(payload: dict[str, Any] | None) -> Integration | None:
    """Find the GitHub integration of the organization the payload is about."""
    organization = (payload or {}).get("organization")
    org_id = _int(organization.get("id")) if isinstance(organization, dict) else None
    if org_id is None:
        return None
    return (
        Integration.objects.filter(provider="github", team__github_org_id=org_id)
        .select_related("team")
        .first()
    )


def _secret(integration: Integration) -> str:
    try:
        return str(integration.webhook_secret or "")
    except DecryptionError:
        logger.error("webhook secret unreadable team=%s", integration.team_id)
        return ""


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None
