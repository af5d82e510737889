"""The webhook's health: a typed state from the recorded deliveries, shown on the staff page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sync.models import Integration, Team, WebhookDelivery
from sync.webhooks import health
from sync.webhooks.health import HookCondition

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def _hook(team: Team) -> None:
    Integration.objects.create(
        team=team, provider="github", webhook_id=77, webhook_registered_at=timezone.now()
    )


def _delivery(
    team: Team, status: str, code: int, *, ago: timedelta = timedelta(0), **kw: str
) -> None:
    WebhookDelivery.objects.create(
        team=team,
        guid=f"g-{WebhookDelivery.objects.count()}",
        event="pull_request",
        status=status,
        status_code=code,
        received_at=timezone.now() - ago,
        **kw,
    )


def test_it_tells_each_condition(team: Team) -> None:
    assert health(team).condition == HookCondition.NOT_REGISTERED
    _hook(team)
    assert health(team).condition == HookCondition.WAITING
    _delivery(team, Status.APPLIED, 202, ago=timedelta(days=4))
    assert health(team).condition == HookCondition.SILENT
    _delivery(team, Status.APPLIED, 202)
    state = health(team)
    assert state.condition == HookCondition.HEALTHY and state.deliveries_24h == 1
    _delivery(team, Status.REFUSED, 401, reason="wrongly signed: X-Hub-Signature-256 differs")
    state = health(team)
    assert state.condition == HookCondition.FAILING and state.failures_24h == 1
    assert state.last_failure.startswith("wrongly signed") and state.hook_id == 77


def test_it_shows_the_health_on_the_staff_page(team: Team, sam: User, client: Client) -> None:
    _hook(team)
    _delivery(team, Status.APPLIED, 202)
    _delivery(team, Status.REFUSED, 401, reason="unsigned: no X-Hub-Signature-256")
    client.force_login(sam)
    page = client.get(reverse("staff:team", args=[team.pk])).content.decode()
    assert 'data-condition="failing"' in page
    assert "hook 77" in page and "2 in 24 h, 1 failed (latest: unsigned" in page
