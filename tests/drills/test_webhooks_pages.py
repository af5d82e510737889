"""The webhook pages in Chromium over Daphne: the optional step before and after the owner
creates the hook (GitHub's ping and a wrongly signed delivery arrive over HTTP), the overview's
link to it and then the hook's health, and the health on the staff page. Each page is checked
at 1280 and 375 px (layout, axe-core) with screenshots in artifacts/screenshots/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, expect

from sandbox.testing import RunningSandbox
from sync.models import IntegrationCredential
from tests.browser.axe import look_at
from tests.browser.conftest import signed_in
from tests.browser.servers import DaphneServer
from tests.sync.webhooking import hooked_team, register

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _shoot(browser: Browser, web: DaphneServer, user: User, path: str, name: str) -> str:
    """Open the page, check it at 1280 and 375 px (layout, axe-core), return its text."""
    context = signed_in(browser, web, user, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{web.url}{path}")
        look_at(page, f"webhooks-{name}")
        return page.inner_text("main") if page.locator("main").count() else page.inner_text("body")
    finally:
        context.close()


def test_it_shows_the_step_the_link_and_the_staff_health(
    browser: Browser, web: DaphneServer, github: RunningSandbox, alice: User, sam: User
) -> None:
    team = hooked_team(github, alice)
    before = _shoot(browser, web, alice, "/onboarding/webhooks/", "step-ready")
    assert "Create the webhook" in before
    IntegrationCredential.objects.filter(user=alice).update(scopes="read:org repo")
    explained = _shoot(browser, web, alice, "/onboarding/webhooks/", "step-explain")
    assert "Grant the webhook permission on GitHub" in explained and "admin:org_hook" in explained
    unhooked = _shoot(browser, web, alice, "/onboarding/complete/", "overview-link")
    assert "No webhook is set up: a periodic check every" in unhooked
    assert "Keep this data fresh with GitHub webhooks" in unhooked

    register(team, web.url)
    github.control.set_hook_faults(bad_signature=1.0)
    github.control.update_pull("acme", "api", 1, title="Signed with the wrong secret")
    github.control.wait_for_deliveries()

    after = _shoot(browser, web, alice, "/onboarding/webhooks/", "step-registered")
    assert "The webhook is set up" in after and "wrongly signed" in after
    overview = _shoot(browser, web, alice, "/onboarding/complete/", "overview-health")
    assert "acme's webhook is registered" in overview and "Latest: wrongly signed" in overview
    assert "Keep this data fresh with GitHub webhooks" not in overview
    staff = _shoot(browser, web, sam, f"/staff/syncs/teams/{team.pk}/", "staff-health")
    assert "failing" in staff and "1 failed" in staff

    context = signed_in(browser, web, sam)
    page = context.new_page()
    page.goto(f"{web.url}/staff/syncs/teams/{team.pk}/")
    expect(page.get_by_test_id("webhook-health")).to_have_attribute("data-condition", "failing")
    context.close()
