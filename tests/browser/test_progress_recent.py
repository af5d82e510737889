"""A first import's progress page says it imports every repository's last days first, then,
live, that recent activity is ready while older history goes on; at 1280 and 375 px, with
screenshots in artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from sync.models import RepoSync, Team
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.sync.jobs import change_job, change_repo, make_job, worker_alive

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ARTIFACTS / "screenshots"


def _shoot(page: Page, name: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SCREENSHOTS / f"progress-{name}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(SCREENSHOTS / f"progress-{name}-375.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_it_says_live_when_recent_activity_is_ready(
    page_as: Callable[[User], Page], daphne: DaphneServer, alice: User, team: Team
) -> None:
    now = timezone.now()
    job = make_job(
        team, repos=3, status="running", prs_synced=50, recent_since=now - timedelta(days=30)
    )
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-1").update(
        status=RepoSync.Status.QUEUED, prs_synced=50, recent_done_at=now
    )
    worker_alive()
    page = page_as(alice)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")

    recent = page.get_by_test_id("recent")
    expect(recent).to_have_text("Importing the last 30 days of every repository first (1 of 3)")
    row = page.locator('[data-repository="acme/repo-1"]')
    expect(row).to_contain_text("Last 30 days imported; older history next")
    _shoot(page, "recent-pending")

    change_repo(job, "acme/repo-2", recent_done_at=now, status=RepoSync.Status.SUCCEEDED)
    change_repo(job, "acme/repo-3", recent_done_at=now)
    change_job(job, urgent=True, recent_ready_at=timezone.now(), prs_synced=160, percent=53)

    expect(recent).to_have_text(
        "Recent activity ready: the last 30 days of every repository are imported; "
        "older history follows"
    )
    expect(page.get_by_test_id("percent")).to_have_text("53%")
    expect(page.locator("#sync-status")).to_have_attribute(
        "data-announce", "Importing: recent activity ready"
    )
    _shoot(page, "recent-ready")

    change_job(job, urgent=True, status="succeeded", finished_at=timezone.now(), percent=100)
    expect(recent).to_have_count(0)  # the whole import is done: the heading says so
