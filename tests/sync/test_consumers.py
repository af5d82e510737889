from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from asgi import application
from sync import consumers, progress, sockets
from sync.models import SyncJob, Team
from tests.sync.jobs import change_job, make_job, no_worker, worker_alive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> None:
    # Each test runs its own event loop; the Redis layer keeps receive state per instance.
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


def _login(user: User | None) -> list[tuple[bytes, bytes]]:
    """Return the handshake headers of ``user``'s browser: its origin and session cookie."""
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def _socket(path: str, headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=headers)


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


async def _open(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, str]:
    communicator = _socket(path, headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await communicator.receive_from(timeout=5)


async def _close_code(communicator: WebsocketCommunicator) -> Any:
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    return output.get("code")


def _version(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}"[^>]*data-version="(\d+)"', html)
    assert match, f"no {element_id} in {html[:200]}"
    return int(match.group(1))


def test_it_refuses_a_stranger_with_a_code_the_browser_does_not_retry(
    charlie: User, team: Team
) -> None:
    job = make_job(team)

    charlie_browser = _login(charlie)

    async def scenario() -> None:
        communicator = _socket(f"/ws/sync/{job.pk}/", charlie_browser)
        connected, _ = await communicator.connect()
        assert connected  # accepted, then closed: a refused handshake is retried forever
        assert await _close_code(communicator) == 4403

    _run(scenario)


def test_it_refuses_an_anonymous_visitor(team: Team) -> None:
    job = make_job(team)

    async def scenario() -> None:
        communicator = _socket(f"/ws/sync/{job.pk}/", _login(None))
        await communicator.connect()
        assert await _close_code(communicator) == 4403

    _run(scenario)


def test_it_refuses_a_team_member_on_the_staff_socket(alice: User, team: Team) -> None:
    alice_browser = _login(alice)

    async def scenario() -> None:
        communicator = _socket("/ws/sync/staff/", alice_browser)
        await communicator.connect()
        assert await _close_code(communicator) == 4403

    _run(scenario)


def test_it_sends_a_member_the_snapshot_first(bob: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, prs_synced=120, version=3)

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert 'data-testid="prs-synced">120<' in first
        assert "acme/repo-1" in first and "acme/repo-2" in first
        assert _version(first, "sync-progress") == 3
        await communicator.disconnect()

    _run(scenario)


def test_it_forwards_an_update(bob: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        await asyncio.to_thread(change_job, job, prs_synced=57)
        update = await communicator.receive_from(timeout=5)
        assert 'data-testid="prs-synced">57<' in update
        assert _version(update, "sync-progress") == 1
        await communicator.disconnect()

    _run(scenario)


def test_it_shows_a_late_joiner_the_current_state(alice: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    change_job(job, prs_synced=10)
    change_job(job, prs_synced=80, repos_done=1, urgent=True)
    progress.publish_now(job.pk)

    alice_browser = _login(alice)

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", alice_browser)
        assert 'data-testid="prs-synced">80<' in first
        assert 'data-condition="running"' in first
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    _run(scenario)


def test_it_shows_staff_every_teams_jobs(sam: User, team: Team) -> None:
    other = Team.objects.create(name="Globex", github_org_id=2002, github_org_login="globex")
    acme_job = make_job(team, status=SyncJob.Status.RUNNING)
    globex_job = make_job(other, status=SyncJob.Status.RUNNING)

    sam_browser = _login(sam)

    async def scenario() -> None:
        communicator, first = await _open("/ws/sync/staff/", sam_browser)
        assert f'id="staff-sync-job-{acme_job.pk}"' in first
        assert f'id="staff-sync-job-{globex_job.pk}"' in first
        await asyncio.to_thread(
            change_job, globex_job, status=SyncJob.Status.SUCCEEDED, percent=100, urgent=True
        )
        update = await communicator.receive_from(timeout=5)
        assert f'id="staff-sync-job-{globex_job.pk}"' in update and ">Done<" in update
        await communicator.disconnect()
        job_socket, snapshot = await _open(f"/ws/sync/{globex_job.pk}/", sam_browser)
        assert 'data-testid="percent">100%<' in snapshot and 'data-testid="badge">Done<' in snapshot
        await job_socket.disconnect()

    _run(scenario)


def test_it_never_forwards_an_older_version_than_it_sent(bob: User, team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, prs_synced=50, version=5)
    newer = progress.build_message(SyncJob.objects.get(pk=job.pk))
    SyncJob.objects.filter(pk=job.pk).update(prs_synced=40, version=4)
    older = progress.build_message(SyncJob.objects.get(pk=job.pk))
    SyncJob.objects.filter(pk=job.pk).update(prs_synced=60, version=6)
    newest = progress.build_message(SyncJob.objects.get(pk=job.pk))
    SyncJob.objects.filter(pk=job.pk).update(prs_synced=50, version=5)
    group = progress.job_group(job.pk)

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert _version(first, "sync-progress") == 5
        layer = get_channel_layer()
        await layer.group_send(group, older)
        assert await communicator.receive_nothing(timeout=0.5)
        await layer.group_send(group, newest)
        await layer.group_send(group, older)
        await layer.group_send(group, newer)
        update = await communicator.receive_from(timeout=5)
        assert 'data-testid="prs-synced">60<' in update
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    _run(scenario)


def test_it_pushes_the_stalled_banner_when_no_worker_picks_the_job_up(
    bob: User, team: Team
) -> None:
    job = make_job(team, created_at=timezone.now() - timedelta(seconds=14))
    worker_alive()

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert "stalled-banner" not in first
        pushed = await communicator.receive_from(timeout=5)
        assert 'data-testid="stalled-banner"' in pushed
        assert "No worker has picked this import up" in pushed
        await communicator.disconnect()

    _run(scenario)


def test_it_pushes_the_stalled_banner_when_the_heartbeat_stops(bob: User, team: Team) -> None:
    beat = timezone.now() - timedelta(seconds=59)
    job = make_job(
        team, status=SyncJob.Status.RUNNING, started_at=beat, heartbeat_at=beat, version=2
    )
    worker_alive()

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert "stalled-banner" not in first
        pushed = await communicator.receive_from(timeout=5)
        assert "The import stopped responding" in pushed
        await communicator.disconnect()

    _run(scenario)


def test_it_pushes_that_no_worker_runs_seconds_after_the_last_one_stopped(
    bob: User, team: Team
) -> None:
    beat = timezone.now() - timedelta(seconds=5)
    job = make_job(
        team, status=SyncJob.Status.RUNNING, started_at=beat, heartbeat_at=beat, version=2
    )
    no_worker()

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert "worker-lost-banner" not in first and 'data-condition="running"' in first
        pushed = await communicator.receive_from(timeout=6)
        assert 'data-testid="worker-lost-banner"' in pushed
        assert "No worker is running" in pushed
        await communicator.disconnect()

    _run(scenario)


def test_it_closes_an_old_socket_with_a_code_the_browser_retries(
    bob: User, team: Team, settings: Any
) -> None:
    settings.SYNC_SOCKET_MAX_AGE = 0.3
    job = make_job(team)

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert await _close_code(communicator) == 4012

    _run(scenario)


def test_it_closes_a_socket_that_sends_large_frames(bob: User, team: Team) -> None:
    job = make_job(team)

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        await communicator.send_to(text_data="x" * 2000)
        assert await _close_code(communicator) == 4413

    _run(scenario)


def test_it_closes_a_socket_that_sends_too_many_frames(bob: User, team: Team) -> None:
    job = make_job(team)

    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        for _ in range(31):
            await communicator.send_to(text_data="ping")
        assert await _close_code(communicator) == 4429

    _run(scenario)


def test_it_tells_the_page_to_reconnect_while_the_progress_feed_is_down(
    bob: User, team: Team, settings: Any
) -> None:
    job = make_job(team)
    down = {"hosts": ["redis://127.0.0.1:9/0"], "prefix": "down"}
    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": down}}
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    bob_browser = _login(bob)

    async def scenario() -> None:
        communicator = _socket(f"/ws/sync/{job.pk}/", bob_browser)
        connected, _ = await communicator.connect()
        assert connected  # accepted, then told to come back: no snapshot without a feed
        assert await _close_code(communicator) == consumers.RECONNECT

    try:
        _run(scenario)
    finally:
        channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)


@pytest.mark.parametrize(
    "origin",
    ["http://testserver:9999", "https://testserver", "http://evil.example", "null", ""],
)
def test_it_refuses_a_handshake_from_another_origin(origin: str, bob: User, team: Team) -> None:
    job = make_job(team)
    headers = [(name, value) for name, value in _login(bob) if name != b"origin"]
    if origin:
        headers.append((b"origin", origin.encode()))

    async def scenario() -> None:
        communicator = _socket(f"/ws/sync/{job.pk}/", headers)
        connected, _ = await communicator.connect()
        assert not connected  # refused before accept: no snapshot reaches another origin

    _run(scenario)


def test_it_accepts_the_same_origin_with_its_port(bob: User, team: Team) -> None:
    job = make_job(team)
    headers = [
        *[(name, value) for name, value in _login(bob) if name not in (b"origin", b"host")],
        (b"origin", b"http://testserver:8000"),
        (b"host", b"testserver:8000"),
    ]

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", headers)
        assert 'id="sync-status"' in first
        await communicator.disconnect()

    _run(scenario)


def test_it_accepts_the_https_origin_behind_a_tls_proxy(
    bob: User, team: Team, settings: Any
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    job = make_job(team)
    browser = [(name, value) for name, value in _login(bob) if name != b"origin"]
    proxied = [*browser, (b"origin", b"https://testserver"), (b"x-forwarded-proto", b"https")]
    plain = [*browser, (b"origin", b"https://testserver")]  # no proxy said it was https

    async def scenario() -> None:
        communicator, first = await _open(f"/ws/sync/{job.pk}/", proxied)
        assert 'id="sync-status"' in first
        await communicator.disconnect()
        refused = _socket(f"/ws/sync/{job.pk}/", plain)
        assert not (await refused.connect())[0]

    _run(scenario)


def test_it_caps_the_sockets_of_one_user(bob: User, team: Team, settings: Any) -> None:
    settings.SYNC_SOCKETS_PER_USER = 2
    job = make_job(team)
    bob_browser = _login(bob)

    async def scenario() -> None:
        first, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        refused = _socket("/ws/sync/staff/", bob_browser)
        await refused.connect()
        assert await _close_code(refused) == 4403  # refused sockets do not count
        third, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        over = _socket(f"/ws/sync/{job.pk}/", bob_browser)
        connected, _ = await over.connect()
        assert connected  # accepted, then closed with a code the page explains
        assert await _close_code(over) == sockets.TOO_MANY_SOCKETS
        await first.disconnect()
        again, snapshot = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        assert 'id="sync-status"' in snapshot
        await again.disconnect()
        await third.disconnect()

    _run(scenario)


def test_it_closes_every_socket_of_a_user_whose_access_was_revoked(
    alice: User, bob: User, sam: User, team: Team
) -> None:
    job = make_job(team)
    User.objects.filter(pk=bob.pk).update(is_staff=True)
    bob_browser, alice_browser = _login(bob), _login(alice)

    async def scenario() -> None:
        bob_job, _ = await _open(f"/ws/sync/{job.pk}/", bob_browser)
        bob_staff, _ = await _open("/ws/sync/staff/", bob_browser)
        alice_job, _ = await _open(f"/ws/sync/{job.pk}/", alice_browser)

        await asyncio.to_thread(_revoke, bob)

        assert await _close_code(bob_job) == sockets.SIGNED_OUT
        assert await _close_code(bob_staff) == sockets.SIGNED_OUT
        assert await alice_job.receive_nothing(timeout=0.5)  # others keep theirs
        await alice_job.disconnect()

    _run(scenario)


def _revoke(user: User) -> None:
    with transaction.atomic():
        sockets.close_user_sockets(user.pk, reason="test")
