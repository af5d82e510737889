"""The optional providers in Debian's Chromium: `make run`'s launcher on other ports walked
from sign-in to the overview with Jira and Slack connected, and an admin connecting both while
an import runs, whose outcome then arrives in the Slack stand-in. Each settled provider page
is checked at 1280 and 375 px (layout, axe-core) with screenshots in artifacts/screenshots/."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from sandbox.testing import RunningSandbox, SandboxControl
from sync import services
from sync.models import Integration, SyncJob, Team
from tests.browser.axe import look_at
from tests.browser.conftest import signed_in
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.processes import Process, wait_for
from tests.sync.importing import connect, forget_github_budgets, track_all

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ARTIFACTS / "screenshots"
WIDTHS = (1280, 375)
# What `make run` reads from the environment; a newcomer's shell sets none of it.
CONFIGURED = re.compile(
    r"^(DEBUG|SECRET_KEY|ENCRYPTION_KEYS|ALLOWED_HOSTS|DATABASE_URL|REDIS_URL|REDIS_PREFIX|"
    r"TEST_DATABASE_NAME|DJANGO_ALLOW_ASYNC_UNSAFE|SECURE_.*|GITHUB_.*|JIRA_.*|SLACK_.*|"
    r"PORT|SANDBOX_PORT|VAR_DIR)$"
)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> tuple[int, int]:
    """8100 and 8101 when free, else the next free pair above them: never 8000 and 8001."""
    for web in range(8100, 8200, 2):
        if _free(web) and _free(web + 1):
            return web, web + 1
    raise AssertionError("no free pair of ports between 8100 and 8200")


class Launcher:
    """`python -m project.devrun` as `make run` starts it, with only PORT and SANDBOX_PORT set."""

    def __init__(self, var_dir: Path, log: Path) -> None:
        self.port, self.sandbox_port = _ports()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not CONFIGURED.match(k)}
        env |= {"PORT": str(self.port), "SANDBOX_PORT": str(self.sandbox_port)}
        env |= {"VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}
        self.process = Process(["-m", "project.devrun"], env, log)
        self.control = SandboxControl(f"http://127.0.0.1:{self.sandbox_port}")
        wait_for(self._answers, timeout=120, interval=0.5)

    def _answers(self) -> bool:
        assert self.process.popen.poll() is None, self.process.output()[-3000:]
        try:
            return requests.get(f"{self.url}/onboarding/start/", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def launcher(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Launcher]:
    running = Launcher(tmp_path / "var", ARTIFACTS / "logs" / request.node.name / "devrun.log")
    try:
        yield running
    finally:
        running.stop()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"integrations-{name}.png"), full_page=True)


def _shots(page: Page, name: str) -> None:
    """Screenshot the page at each width, ending at the desktop one."""
    for width in (*WIDTHS[1:], WIDTHS[0]):
        page.set_viewport_size({"width": width, "height": 900})
        _shot(page, f"{name}-{width}")


def _looked_at(page: Page, name: str) -> None:
    """Check the settled page at each width (layout, axe-core), screenshots, back at desktop."""
    look_at(page, f"integrations-{name}", widths=WIDTHS)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_it_walks_the_whole_flow_on_make_runs_launcher_on_other_ports(
    launcher: Launcher, browser: Browser
) -> None:
    output = launcher.process.output()
    assert f"sandbox listening on http://127.0.0.1:{launcher.sandbox_port}" in output
    assert f"Open http://127.0.0.1:{launcher.port}/" in output
    staff = re.search(r"as demo-staff, password (\S+) ", output)
    assert staff, output
    assert launcher.port != 8000 and launcher.sandbox_port != 8001
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        _sign_in_and_import(page, launcher.url)
        _connect_jira(page, launcher)
        _connect_slack(page, launcher)
        expect(page).to_have_url(re.compile(r"/onboarding/complete/$"))
        for name in ("jira", "slack"):  # each step now says what it is connected to
            page.goto(f"{launcher.url}/onboarding/{name}/")
            expect(page.get_by_test_id(f"{name}-status")).to_be_visible()
            expect(page.get_by_test_id("disconnect")).to_be_visible()
            _looked_at(page, f"{name}-connected")
        _staff_signs_in(page, launcher.url, staff.group(1))
    finally:
        context.close()
    messages = launcher.control.slack_messages("pr-notices")
    assert any(m["text"].startswith("PR Insights will post here") for m in messages)


def _sign_in_and_import(page: Page, url: str) -> None:
    page.goto(f"{url}/onboarding/start/")
    page.get_by_role("button", name="Continue with GitHub").click()
    page.get_by_role("button", name=re.compile("^Authorize ")).click()
    expect(page.get_by_role("heading", name="Choose your organization")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Choose ")).first.click()
    expect(page.locator("#repo-rows li.pick").first).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Select all shown").click()
    page.get_by_role("button", name=re.compile(r"^Import \d+ repositor")).click()
    expect(page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
    page.get_by_role("link", name=re.compile("^Continue")).first.click()


def _connect_jira(page: Page, launcher: Launcher) -> None:
    expect(page).to_have_url(re.compile(r"/onboarding/jira/$"))
    expect(page.get_by_role("heading", name="Connect Jira (optional)")).to_be_visible()
    _looked_at(page, "jira-step")
    page.get_by_role("button", name="Connect Jira").click()
    # The consent page is the sandbox's, on SANDBOX_PORT: reachable, not "can't be reached".
    expect(page).to_have_url(
        re.compile(rf"^http://127\.0\.0\.1:{launcher.sandbox_port}/atlassian/")
    )
    launcher.control.add_fault("accessible-resources", kind="delay", delay_s=2, count=1)
    page.get_by_role("button", name="Accept").click()
    expect(page).to_have_url(re.compile(r"/onboarding/jira/projects/$"))
    expect(page.get_by_test_id("pick-loading")).to_be_visible()  # the shell, while Jira answers
    _shots(page, "jira-loading")
    checkboxes = page.get_by_role("checkbox")
    expect(checkboxes).to_have_count(6, timeout=15_000)
    checkboxes.nth(0).check()
    checkboxes.nth(2).check()
    _looked_at(page, "jira-projects")
    page.get_by_role("button", name="Save and continue").click()


def _connect_slack(page: Page, launcher: Launcher) -> None:
    expect(page).to_have_url(re.compile(r"/onboarding/slack/$"))
    _looked_at(page, "slack-step")
    page.get_by_role("button", name="Connect Slack").click()
    expect(page).to_have_url(re.compile(rf"^http://127\.0\.0\.1:{launcher.sandbox_port}/slack/"))
    launcher.control.add_fault("conversations.list", status=502, count=1)
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(r"/onboarding/slack/channel/$"))
    problem = page.get_by_test_id("problem")
    expect(problem).to_contain_text("Slack did not answer")  # in place of the list, with a way on
    _looked_at(page, "slack-unavailable")
    page.get_by_role("link", name="Try again").click()
    page.get_by_role("radio", name=re.compile(r"#pr-notices")).check()
    _looked_at(page, "slack-channel")
    page.get_by_role("button", name="Save and continue").click()


def _staff_signs_in(page: Page, url: str, password: str) -> None:
    page.goto(f"{url}/admin/login/?next=/staff/syncs/")
    page.get_by_label("Username").fill("demo-staff")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/staff/syncs/$"))


# -- an import running beside the steps ------------------------------------------------------


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
    page.get_by_role("button", name="Connect Jira").click()
    page.get_by_role("button", name="Accept").click()
    expect(page).to_have_url(re.compile(r"/onboarding/jira/projects/$"))
    checkboxes = page.get_by_role("checkbox")
    expect(checkboxes).to_have_count(6)
    checkboxes.nth(0).check()
    checkboxes.nth(2).check()
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/onboarding/slack/$"))
    page.get_by_role("button", name="Connect Slack").click()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(r"/onboarding/slack/channel/$"))
    page.get_by_role("radio", name=re.compile(r"#pr-notices")).check()
    page.get_by_role("button", name="Save and continue").click()
    expect(page).to_have_url(re.compile(r"/onboarding/complete/$"))
