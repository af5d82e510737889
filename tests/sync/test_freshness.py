from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers
from django.db import transaction

from sync import freshness, progress
from sync.models import Team

pytestmark = pytest.mark.django_db(transaction=True)


def _heard(team: Team) -> tuple[Any, str]:
    """A channel of the test's own in the team's group."""
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    channel = f"test-freshness-{uuid.uuid4().hex}"
    async_to_sync(layer.group_add)(progress.team_group(team.pk), channel)
    return layer, channel


def _drain(layer: Any, channel: str, quiet: float = 0.8) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while True:
            try:
                async with asyncio.timeout(quiet):
                    received.append(await layer.receive(channel))
            except TimeoutError:
                return received

    return async_to_sync(collect)()


def test_it_records_the_refresh_and_tells_the_team_only_after_commit(team: Team) -> None:
    layer, channel = _heard(team)

    with transaction.atomic():
        freshness.note_refresh(
            team_id=team.pk, source=freshness.Source.WEBHOOK, pull_request_ids=[7, 9]
        )
        assert _drain(layer, channel, quiet=0.3) == []

    team.refresh_from_db()
    assert team.refreshed_by == "webhook" and team.refreshed_at is not None
    [message] = _drain(layer, channel)
    assert message["type"] == "team.refreshed"
    assert (message["source"], message["pull_request_ids"]) == ("webhook", [7, 9])
    assert message["refreshed_at"] == team.refreshed_at.isoformat()


def test_it_tells_nothing_when_the_change_rolls_back(team: Team) -> None:
    layer, channel = _heard(team)

    with pytest.raises(RuntimeError), transaction.atomic():
        freshness.note_refresh(team_id=team.pk, source=freshness.Source.SWEEP)
        raise RuntimeError("the write failed")

    team.refresh_from_db()
    assert team.refreshed_at is None
    assert _drain(layer, channel) == []
