"""An admin connects Jira and Slack in Debian's Chromium while the import runs, and the import's
outcome arrives in the Slack stand-in. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import Integration, SyncJob, Team
from tests.browser.conftest import signed_in
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.processes import Process, wait_for
from tests.sync.importing import connect, forget_github_budgets, track_all

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ARTIFACTS / "screenshots"


@pytest.fixture
def web(
    request: pytest.FixtureRequest,
    transactional_db: None,
    jira_sandbox: RunningSandbox,
    slack_sandbox: RunningSandbox,
) -> Iterator[DaphneServer]:
    """Daphne serving the app, with Jira and Slack pointed at the sandbox's stand-ins."""
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        GITHUB_API_URL=jira_sandbox.api_url,
        JIRA_AUTH_URL=jira_sandbox.jira_auth_url,
        JIRA_API_URL=jira_sandbox.jira_api_url,
        SLACK_URL=slack_sandbox.slack_url,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"integrations-{name}.png"), full_page=True)


def test_it_connects_jira_and_slack_and_the_import_outcome_reaches_slack(
    web: DaphneServer,
    team: Team,
    alice: User,
    slack_sandbox: RunningSandbox,
    worker: Process,
    browser: Browser,
) -> None:
    forget_github_budgets()
    track_all(team, connect(team, alice, slack_sandbox))
    job = services.start_sync(team=team, history_since=timezone.now() - timedelta(days=30))
    context = signed_in(browser, web, alice)
    try:
        _walk(context.new_page(), web.url)
    finally:
        context.close()
        for connection in connections.all():
            connection.close()

    jira = Integration.objects.get(team=team, provider="jira")
    assert jira.config["site"]["name"] == "acme" and len(jira.config["projects"]) == 2
    assert Integration.objects.get(team=team, provider="slack").config["channel_name"] == (
        "pr-notices"
    )

    def import_message() -> list[str]:
        texts = [m["text"] for m in slack_sandbox.control.slack_messages("pr-notices")]
        return [t for t in texts if t.startswith("Import of acme")]

    message = wait_for(import_message, timeout=60)[0]  # type: ignore[index]
    finished = SyncJob.objects.get(pk=job.pk)
    assert message == (
        f"Import of acme finished: {finished.prs_synced} pull requests from "
        f"{finished.repos_total} repositories."
    )


def _walk(page: Page, url: str) -> None:
    page.goto(f"{url}/onboarding/jira/")
    expect(page.get_by_role("heading", name="Connect Jira (optional)")).to_be_visible()
    _shot(page, "1-jira")
    page.get_by_role("button", name="Connect Jira").click()
    expect(page.get_by_role("heading", name=re.compile("requesting access"))).to_be_visible()
    _shot(page, "2-atlassian-consent")
    page.get_by_role("button", name="Accept").click()

    expect(page).to_have_url(re.compile(r"/onboarding/jira/projects/$"))
    checkboxes = page.get_by_role("checkbox")
    expect(checkboxes).to_have_count(6)
    checkboxes.nth(0).check()
    checkboxes.nth(2).check()
    _shot(page, "3-jira-projects")
    page.get_by_role("button", name="Save and continue").click()

    expect(page).to_have_url(re.compile(r"/onboarding/slack/$"))
    _shot(page, "4-slack")
    page.get_by_role("button", name="Connect Slack").click()
    expect(page.get_by_role("heading", name=re.compile("requesting permission"))).to_be_visible()
    _shot(page, "5-slack-install")
    page.get_by_role("button", name="Allow").click()

    expect(page).to_have_url(re.compile(r"/onboarding/slack/channel/$"))
    page.get_by_role("radio", name=re.compile(r"#pr-notices")).check()
    _shot(page, "6-slack-channel")
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/onboarding/complete/$"))
    _shot(page, "7-complete")
