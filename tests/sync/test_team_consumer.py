from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from asgi import application
from sync import consumers, freshness, progress
from sync.models import PullRequest, SyncJob, Team, TrackedRepository
from tests.sync.jobs import change_job, make_job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> None:
    # Each test runs its own event loop; the Redis layer keeps receive state per instance.
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


@pytest.fixture
def api(team: Team) -> TrackedRepository:
    repo = TrackedRepository.objects.create(team=team, github_id=501, full_name="acme/api")
    _pull(repo, 1, "Add the login page")
    return repo


def _pull(repo: TrackedRepository, number: int, title: str) -> PullRequest:
    now = timezone.now()
    return PullRequest.objects.create(
        repository=repo,
        github_id=9000 + number,
        number=number,
        title=title,
        state="open",
        created_at=now - timedelta(hours=1),
        updated_at=now,
    )


def _browser(user: User | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


async def _open(
    team: Team, browser: list[tuple[bytes, bytes]]
) -> tuple[WebsocketCommunicator, str]:
    communicator = WebsocketCommunicator(application, f"/ws/team/{team.pk}/", browser)
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await communicator.receive_from(timeout=5)


async def _close_code(communicator: WebsocketCommunicator) -> object:
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    return output.get("code")


def _version(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}"[^>]*data-version="(\d+)"', html)
    assert match, f"no {element_id} in {html[:300]}"
    return int(match.group(1))


def _refresh(team: Team, *pulls: PullRequest) -> None:
    with transaction.atomic():
        freshness.note_refresh(
            team_id=team.pk,
            source=freshness.Source.WEBHOOK,
            pull_request_ids=[pr.pk for pr in pulls],
        )


@pytest.mark.parametrize("who", ["charlie", "anonymous"])
def test_it_refuses_anyone_outside_the_team(
    who: str, charlie: User, team: Team, api: TrackedRepository
) -> None:
    browser = _browser(charlie if who == "charlie" else None)

    async def scenario() -> None:
        communicator = WebsocketCommunicator(application, f"/ws/team/{team.pk}/", browser)
        connected, _ = await communicator.connect()
        assert connected  # accepted, then closed: a refused handshake is retried forever
        assert await _close_code(communicator) == 4403

    _run(scenario)


def test_it_refuses_a_team_that_does_not_exist(bob: User, team: Team) -> None:
    browser = _browser(bob)

    async def scenario() -> None:
        communicator = WebsocketCommunicator(application, f"/ws/team/{team.pk + 99}/", browser)
        await communicator.connect()
        assert await _close_code(communicator) == 4403

    _run(scenario)


def test_it_sends_a_member_the_snapshot_then_each_refresh(
    bob: User, team: Team, api: TrackedRepository
) -> None:
    browser = _browser(bob)

    async def scenario() -> None:
        communicator, first = await _open(team, browser)
        assert "Add the login page" in first
        assert 'id="overview-sync"' in first and 'id="overview-insights"' in first
        assert _version(first, "recent-pulls") == 0  # never refreshed yet
        assert "/remove/" not in first  # a member sees no admin action

        new = await asyncio.to_thread(_pull, api, 2, "Fix the flaky billing test")
        await asyncio.to_thread(_refresh, team, new)
        update = await communicator.receive_from(timeout=5)
        assert "Fix the flaky billing test" in update and "just updated" in update
        assert 'data-testid="pr-total">2<' in update
        assert "a GitHub webhook" in update
        refreshed_at = (await asyncio.to_thread(Team.objects.get, pk=team.pk)).refreshed_at
        assert refreshed_at is not None
        assert _version(update, "recent-pulls") == int(refreshed_at.timestamp() * 1_000_000)
        await communicator.disconnect()

    _run(scenario)


def test_it_shows_admins_their_actions_in_pushed_fragments(
    alice: User, team: Team, api: TrackedRepository
) -> None:
    browser = _browser(alice)

    async def scenario() -> None:
        communicator, first = await _open(team, browser)
        assert f"/onboarding/complete/repositories/{api.pk}/remove/" in first
        await asyncio.to_thread(_refresh, team)
        update = await communicator.receive_from(timeout=5)
        assert f"/onboarding/complete/repositories/{api.pk}/remove/" in update
        await communicator.disconnect()

    _run(scenario)


def test_it_forwards_the_teams_imports(bob: User, team: Team, api: TrackedRepository) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, percent=10)

    browser = _browser(bob)

    async def scenario() -> None:
        communicator, first = await _open(team, browser)
        assert f'data-job-id="{job.pk}"' in first and 'data-testid="current-job"' in first
        await asyncio.to_thread(
            change_job, job, status=SyncJob.Status.SUCCEEDED, percent=100, urgent=True
        )
        update = await communicator.receive_from(timeout=5)
        assert f'data-job-id="{job.pk}" data-job-version="1"' in update
        assert 'data-testid="current-job"' not in update
        assert f'<a href="/onboarding/sync/{job.pk}/">Done</a>' in update
        await communicator.disconnect()

    _run(scenario)


def test_it_never_sends_an_older_refresh_than_it_showed(
    bob: User, team: Team, api: TrackedRepository
) -> None:
    _refresh(team)
    shown = Team.objects.get(pk=team.pk).refreshed_at
    assert shown is not None
    older = {
        "type": "team.refreshed",
        "group": progress.team_group(team.pk),
        "team_id": team.pk,
        "source": "sweep",
        "refreshed_at": (shown - timedelta(seconds=5)).isoformat(),
        "pull_request_ids": [],
    }

    browser = _browser(bob)

    async def scenario() -> None:
        communicator, first = await _open(team, browser)
        assert _version(first, "overview-counts") == int(shown.timestamp() * 1_000_000)
        await get_channel_layer().group_send(progress.team_group(team.pk), older)
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    _run(scenario)


def test_it_draws_the_refreshes_arriving_meanwhile_once_marking_each_change(
    bob: User, team: Team, api: TrackedRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = PullRequest.objects.get(repository=api, number=1)
    second = _pull(api, 2, "Fix the flaky billing test")
    third = _pull(api, 3, "Tidy the footer")
    drawn: list[tuple[int, ...]] = []
    draw = consumers._OVERVIEW_RENDERERS["data"]

    def slow(team_id: int, roles: frozenset[str], version: int, changed: Sequence[int]) -> str:
        drawn.append(tuple(changed))
        time.sleep(0.5)  # a team with much data: refreshes arrive while one is drawn
        return draw(team_id, roles, version, changed)

    monkeypatch.setitem(consumers._OVERVIEW_RENDERERS, "data", slow)
    start = timezone.now()
    refreshes = [
        {
            "type": "team.refreshed",
            "group": progress.team_group(team.pk),
            "team_id": team.pk,
            "source": "webhook",
            "refreshed_at": (start + timedelta(milliseconds=index)).isoformat(),
            "pull_request_ids": [pull.pk],
        }
        for index, pull in enumerate((first, second, third), start=1)
    ]
    browser = _browser(bob)

    async def scenario() -> None:
        communicator, _ = await _open(team, browser)
        drawn.clear()
        for refresh in refreshes:
            await get_channel_layer().group_send(progress.team_group(team.pk), refresh)
        alone = await communicator.receive_from(timeout=5)
        together = await communicator.receive_from(timeout=5)
        assert await communicator.receive_nothing(timeout=1)
        await communicator.disconnect()
        assert drawn == [(first.pk,), tuple(sorted((second.pk, third.pk)))]
        assert alone.count("just updated") == 1 and together.count("just updated") == 2
        newest = int((start + timedelta(milliseconds=3)).timestamp() * 1_000_000)
        assert _version(together, "recent-pulls") == newest

    _run(scenario)
