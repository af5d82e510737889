"""The Content-Security-Policy in Chromium: pages load only this site's scripts and styles, and
htmx, its WebSocket extension and the progress bar still work under it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import ConsoleMessage, Page, expect

from sync.models import SyncJob, Team
from tests.browser.servers import DaphneServer
from tests.sync.jobs import change_job, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _violations(page: Page) -> list[str]:
    found: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", note)
    return found


def test_it_runs_the_live_progress_page_under_the_policy(
    page_as: Callable[[User], Page], daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(bob)
    violations = _violations(page)

    response = page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    change_job(job, prs_synced=100, percent=50)

    expect(page.get_by_test_id("percent")).to_have_text("50%")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src-attr")[0]
    )
    fill = page.locator(".bar-fill").evaluate("element => element.getBoundingClientRect().width")
    assert fill > 0  # the bar's width, a style attribute, applies
    assert page.locator("style").count() == 0  # htmx added no <style> element
    assert violations == []


def test_it_refuses_an_inline_script(
    page_as: Callable[[User], Page], daphne: DaphneServer, bob: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    page = page_as(bob)
    violations = _violations(page)
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")

    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'document.body.dataset.injected = 1'; document.body.append(s); }"
    )

    expect(page.locator("body")).not_to_have_attribute("data-injected", "1")
    assert violations
