"""The webhook pages in Chromium over Daphne: the optional step before and after the owner
creates the hook (GitHub's ping and a wrongly signed delivery arrive over HTTP), the overview's
link to it, and the hook's health on the staff page. Screenshots at 1280 and 375 px go to
artifacts/screenshots/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from sandbox.testing import RunningSandbox
from sync.models import IntegrationCredential
from tests.browser.conftest import signed_in
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.sync.webhooking import hooked_team, register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ARTIFACTS / "screenshots"
WIDTHS = (1280, 375)


def _shoot(browser: Browser, web: DaphneServer, user: User, path: str, name: str) -> str:
    text = ""
    for width in WIDTHS:
        context = signed_in(browser, web, user, viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(f"{web.url}{path}")
        page.screenshot(path=str(SCREENSHOTS / f"webhooks-{name}-{width}.png"), full_page=True)
        text = page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
        context.close()
    return text


def test_it_shows_the_step_the_link_and_the_staff_health(
    browser: Browser, web: DaphneServer, github: RunningSandbox, alice: User, sam: User
) -> None:
    team = hooked_team(github, alice)
    before = _shoot(browser, web, alice, "/onboarding/webhooks/", "step-ready")
    assert "Create the webhook" in before
    IntegrationCredential.objects.filter(user=alice).update(scopes="read:org repo")
    explained = _shoot(browser, web, alice, "/onboarding/webhooks/", "step-explain")
    assert "Grant the webhook permission on GitHub" in explained and "admin:org_hook" in explained

    register(team, web.url)
    github.control.set_hook_faults(bad_signature=1.0)
    github.control.update_pull("acme", "api", 1, title="Signed with the wrong secret")
    github.control.wait_for_deliveries()

    after = _shoot(browser, web, alice, "/onboarding/webhooks/", "step-registered")
    assert "The webhook is set up" in after and "wrongly signed" in after
    overview = _shoot(browser, web, alice, "/onboarding/complete/", "overview-link")
    assert "Keep this data fresh with GitHub webhooks" in overview
    staff = _shoot(browser, web, sam, f"/staff/syncs/teams/{team.pk}/", "staff-health")
    assert "failing" in staff and "1 failed" in staff

    context = signed_in(browser, web, sam)
    page = context.new_page()
    page.goto(f"{web.url}/staff/syncs/teams/{team.pk}/")
    expect(page.get_by_test_id("webhook-health")).to_have_attribute("data-condition", "failing")
    context.close()
