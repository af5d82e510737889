"""The live progress page in Debian's Chromium, served by Daphne over the Redis layer.

These tests drive the job the way the engine does (write the rows, bump the version, publish
after commit) so each behaviour of the page is checked on its own; test_progress_live.py runs
the real worker against the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Dialog, Page, Request, WebSocketRoute, expect

from onboarding import states
from sync import progress
from sync.models import RepoSync, SyncJob, Team
from tests.browser.axe import check_fits
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.sync.jobs import change_job, change_repo, make_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker_beating"),
]

OpenPage = Callable[[User], Page]
SCREENSHOTS = ARTIFACTS / "screenshots"


def _watch_requests(page: Page) -> list[Request]:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    return requests


def test_it_fills_the_bar_to_100_percent_with_no_repeated_requests(
    page_as: OpenPage, daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(bob)
    requests = _watch_requests(page)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")

    for done in (25, 50, 100):
        change_repo(job, "acme/repo-1", prs_synced=done)
        change_repo(job, "acme/repo-2", prs_synced=done)
    RepoSync.objects.filter(job=job).update(status=RepoSync.Status.SUCCEEDED)
    change_job(
        job, status=SyncJob.Status.SUCCEEDED, repos_done=2, prs_synced=200, percent=100, urgent=True
    )

    expect(page.get_by_test_id("percent")).to_have_text("100%")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_test_id("continue")).to_be_visible()
    expect(page.locator("#sync-announcer")).to_have_text("Done")
    _shot(page, "done")
    urls = [request.url for request in requests]
    assert len(urls) == len(set(urls)), urls  # nothing fetched twice: no polling
    assert not [r for r in requests if r.resource_type in ("xhr", "fetch")]


def test_it_counts_down_to_the_rate_limit_reset_in_local_time(
    page_as: OpenPage, daphne: DaphneServer, alice: User, team: Team
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(alice)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")

    reset = timezone.now() + timedelta(minutes=2)
    change_job(job, status=SyncJob.Status.WAITING, rate_limit_reset_at=reset, urgent=True)

    banner = page.get_by_test_id("rate-limit-banner")
    expect(banner).to_contain_text("Paused by GitHub's rate limit")
    expect(banner.locator("[data-countdown]")).to_have_text(_re(r"^in (1:5\d|2:00) min$"))
    expect(page.locator("#sync-announcer")).to_have_text("Paused by GitHub's rate limit")


def test_it_keeps_the_newer_fragment_when_an_older_one_arrives_later(
    page_as: OpenPage, daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, prs_synced=10, version=10)
    older = _html(job, prs_synced=5, version=9)
    newer = _html(job, prs_synced=30, version=11)
    page = page_as(bob)
    sockets: list[WebSocketRoute] = []

    def intercept(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket("**/ws/sync/**", intercept)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")

    sockets[0].send(newer)
    sockets[0].send(older)

    expect(page.get_by_test_id("prs-synced")).to_have_text("30")
    time.sleep(0.3)
    expect(page.get_by_test_id("prs-synced")).to_have_text("30")


def test_it_reconnects_after_a_server_restart_and_shows_a_fresh_snapshot(
    page_as: OpenPage, daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(bob)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "connected")

    daphne.stop()
    expect(indicator).to_have_attribute("data-state", "reconnecting")
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-1").update(
        status=RepoSync.Status.SUCCEEDED
    )
    change_job(job, prs_synced=77, repos_done=1, urgent=True)  # published while nobody listens
    daphne.start()

    expect(indicator).to_have_attribute("data-state", "connected", timeout=30_000)
    expect(page.get_by_test_id("prs-synced")).to_have_text("77")
    expect(page.get_by_test_id("repos-done")).to_have_text("1 of 2 imported")


def test_it_tells_a_viewer_who_lost_access_and_stops_retrying(
    page_as: OpenPage, daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(bob)
    sockets: list[Any] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "connected")

    team.memberships.filter(user=bob).delete()
    daphne.stop()
    daphne.start()

    expect(indicator).to_have_attribute("data-state", "closed", timeout=30_000)
    expect(indicator).to_contain_text("no longer have access")
    opened = len(sockets)
    time.sleep(2)
    assert len(sockets) == opened  # a 4403 is final: no retry loop


def test_it_fits_a_320_pixel_wide_screen(
    page_as: OpenPage, daphne: DaphneServer, alice: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.PARTIAL, repos=3)
    RepoSync.objects.filter(job=job).update(
        status=RepoSync.Status.FAILED,
        error_message="Repository access blocked by the organization's SAML SSO policy",
    )
    page = page_as(alice)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")

    expect(page.get_by_role("button", name="Retry failed repositories")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    check_fits(page, "progress at 320 px")
    _shot(page, "320px-partial")


def test_it_reconnects_when_the_server_closes_an_old_socket(
    page_as: OpenPage, daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(bob)
    sockets: list[WebSocketRoute] = []

    def intercept(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket("**/ws/sync/**", intercept)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    indicator = page.get_by_test_id("connection")
    expect(indicator).to_have_attribute("data-state", "connected")

    sockets[0].close(code=4012, reason="socket lifetime reached")  # as the consumer does
    change_job(job, prs_synced=12, urgent=True)

    expect(page.get_by_test_id("prs-synced")).to_have_text("12", timeout=10_000)
    expect(indicator).to_have_attribute("data-state", "connected")
    assert len(sockets) == 2


def test_it_keeps_keyboard_focus_and_the_scroll_position_through_live_updates(
    page_as: OpenPage, daphne: DaphneServer, alice: User, team: Team
) -> None:
    job = make_job(team, repos=30, status=SyncJob.Status.RUNNING)
    page = page_as(alice)  # an admin: cancelling is theirs
    page.set_viewport_size({"width": 1280, "height": 500})
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    cancel = page.get_by_role("button", name="Cancel import")
    cancel.focus()
    page.mouse.wheel(0, 300)
    page.wait_for_function("window.scrollY > 0")
    scrolled = page.evaluate("window.scrollY")

    for count in (10, 20, 30, 40):
        change_job(job, prs_synced=count, urgent=True)
        expect(page.get_by_test_id("prs-synced")).to_have_text(str(count))

    expect(cancel).to_be_focused()
    assert page.evaluate("window.scrollY") == scrolled
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    page.keyboard.press("Enter")  # the focused control still works from the keyboard
    expect(page.get_by_test_id("badge")).to_have_text("Cancelled")
    assert asked == [states.CANCEL.confirm]


def test_it_acts_without_javascript_and_says_what_it_did(
    browser: Any, daphne: DaphneServer, alice: User, team: Team
) -> None:
    from tests.browser.conftest import signed_in

    job = make_job(team, status=SyncJob.Status.RUNNING)
    context = signed_in(browser, daphne, alice, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")

    page.get_by_role("button", name="Cancel import").click()

    # First a page that asks; going back from it changes nothing.
    expect(page.get_by_role("heading", name="Cancel import of acme?")).to_be_visible()
    page.get_by_role("link", name="No, keep importing").click()
    expect(page.get_by_test_id("badge")).to_have_text("Importing")
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.RUNNING
    page.get_by_role("button", name="Cancel import").click()
    page.get_by_role("button", name="Yes, cancel import").click()

    expect(page).to_have_url(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("action-message")).to_have_text(
        "Cancelled. What was imported so far is kept."
    )
    expect(page.get_by_test_id("badge")).to_have_text("Cancelled")
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED
    context.close()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"progress-{name}.png"), full_page=True)


def _html(job: SyncJob, **fields: Any) -> str:
    SyncJob.objects.filter(pk=job.pk).update(**fields)
    message = progress.build_message(SyncJob.objects.get(pk=job.pk))
    return str(message["html"])


def _re(pattern: str) -> Any:
    import re

    return re.compile(pattern)
