"""A new user walks the whole onboarding flow in Debian's Chromium.

Daphne serves the app in a subprocess, a real Dramatiq worker imports from the sandbox GitHub
through Redis, the user connects the Jira and Slack stand-ins, the import's outcome arrives in
the Slack channel, and every step leaves a screenshot under artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import dramatiq
import pytest
from django.db import connections
from playwright.sync_api import Browser, Dialog, Error, Page, Response, Route, WebSocket, expect

from sandbox.testing import RunningSandbox
from sync.models import (
    GitHubAccount,
    Integration,
    IntegrationCredential,
    Membership,
    PullRequest,
    SyncJob,
    TrackedRepository,
)
from tests.browser.axe import check_accessibility, check_fits, check_text_fits, look_at
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.onboarding.personas import CLIENT_ID, CLIENT_SECRET
from tests.processes import Process, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ARTIFACTS / "screenshots"


@pytest.fixture
def web(
    request: pytest.FixtureRequest,
    transactional_db: None,
    jira_sandbox: RunningSandbox,
    slack_sandbox: RunningSandbox,
) -> Iterator[str]:
    """Daphne serving the app, on this run's database, Redis and the sandbox's providers."""
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        GITHUB_API_URL=jira_sandbox.api_url,
        GITHUB_CLIENT_ID=CLIENT_ID,
        GITHUB_CLIENT_SECRET=CLIENT_SECRET,
        JIRA_AUTH_URL=jira_sandbox.jira_auth_url,
        JIRA_API_URL=jira_sandbox.jira_api_url,
        SLACK_URL=slack_sandbox.slack_url,
    )
    server.start()
    jira_sandbox.control.set_callback_url(f"{server.url}/onboarding/github/callback/")
    try:
        yield server.url
    finally:
        server.stop()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"onboarding-{name}.png"), full_page=True)


def test_it_walks_a_new_user_from_start_to_the_team_overview(
    web: str, github: RunningSandbox, worker: Process, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    seen = _Witness()
    try:
        page = context.new_page()
        page.on("response", seen.response)
        page.on("websocket", seen.websocket)
        _walk(page, web, github)
    finally:
        context.close()
        # Inside Playwright's greenlet Django keeps connections of its own: close them.
        connections.close_all()

    # No token (GitHub's, Jira's or Slack's) reached a page, a socket frame or a log line.
    credentials = list(IntegrationCredential.objects.filter(user__github_account__login="mona"))
    secrets = [c.access_token for c in credentials] + [c.refresh_token for c in credentials]
    assert len(credentials) == 3 and seen.pages > 10 and seen.frames > 5
    log_dir = ARTIFACTS / "logs" / "test_it_walks_a_new_user_from_start_to_the_team_overview"
    logs = [worker.output()] + [log.read_text(errors="replace") for log in log_dir.glob("*.log")]
    for secret in filter(None, secrets):
        assert secret not in seen.text
        assert not any(secret in log for log in logs)


class _Witness:
    """Everything the browser received: page bodies and WebSocket frames."""

    def __init__(self) -> None:
        self.text = ""
        self.pages = self.frames = 0

    def response(self, response: Response) -> None:
        if 300 <= response.status < 400:
            return  # redirects carry no body to read
        try:
            self.text += response.text()
            self.pages += 1
        except Error:
            pass  # a body the browser already dropped (a page navigated away from)

    def websocket(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._frame)

    def _frame(self, payload: str | bytes) -> None:
        self.frames += 1
        self.text += payload if isinstance(payload, str) else payload.decode(errors="replace")


def _walk(page: Page, web: str, github: RunningSandbox) -> None:
    # 1. Start, then GitHub's Authorize page (the sandbox's), then back signed in.
    page.goto(f"{web}/onboarding/start/")
    expect(page.get_by_role("heading", name="Bring your GitHub organization in")).to_be_visible()
    _shot(page, "1-start")
    page.get_by_role("button", name="Continue with GitHub").click()
    expect(page.get_by_role("heading", name=re.compile("^Authorize "))).to_be_visible()
    assert page.url.startswith(github.url)
    _shot(page, "2-github-authorize")
    page.get_by_role("button", name=re.compile("^Authorize ")).click()

    # 2. Organizations: choosing acme creates the team, with the new user as its admin.
    expect(page.get_by_role("heading", name="Choose your organization")).to_be_visible()
    account = GitHubAccount.objects.get(login="mona")
    _shot(page, "3-organizations")
    page.get_by_role("button", name="Choose acme").click()

    # 3. Repositories: the shell first, then the list from GitHub; pick all but archived.
    expect(page.get_by_role("heading", name="Choose repositories of acme")).to_be_visible()
    rows = page.locator("#repo-rows li.pick")
    expect(rows.first).to_be_visible(timeout=10_000)
    total = rows.count()
    page.get_by_placeholder("Filter by name").fill("zzz-no-such-repo")
    expect(page.get_by_text("No repository matches the filter.")).to_be_visible()
    page.get_by_placeholder("Filter by name").fill("")
    page.get_by_role("button", name="Select all shown").click()
    expect(page.get_by_test_id("repo-count")).to_have_text(f"{total} selected")
    _shot(page, "4-repositories")
    page.get_by_role("button", name=re.compile(r"^Import \d+ repositor")).click()

    # 4. Live progress until the import is done.
    expect(page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
    job = SyncJob.objects.get(team__github_org_login="acme")
    membership = Membership.objects.get(user=account.user, team=job.team)
    assert membership.role == Membership.Role.ADMIN
    assert TrackedRepository.objects.filter(team=job.team).count() == total
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    _shot(page, "5-progress")
    wait_for(lambda: SyncJob.objects.get(pk=job.pk).is_finished, timeout=90, interval=0.5)
    expect(page.locator("#sync-status")).to_have_attribute(
        "data-status", re.compile("^(succeeded|partial)"), timeout=10_000
    )
    _shot(page, "6-progress-done")
    page.get_by_role("link", name=re.compile("^Continue")).first.click()

    # 5. Jira (optional): Atlassian's consent page, then two of the site's projects.
    expect(page).to_have_url(re.compile(r"/onboarding/jira/$"))
    _shot(page, "7-jira")
    page.get_by_role("button", name="Connect Jira").click()
    expect(page.get_by_role("heading", name=re.compile("requesting access"))).to_be_visible()
    page.get_by_role("button", name="Accept").click()
    expect(page).to_have_url(re.compile(r"/onboarding/jira/projects/$"))
    page.get_by_role("checkbox").nth(0).check()
    page.get_by_role("checkbox").nth(2).check()
    _shot(page, "8-jira-projects")
    page.get_by_role("button", name="Save and continue").click()

    # 6. Slack (optional): install the app, pick the channel for sync notices.
    expect(page).to_have_url(re.compile(r"/onboarding/slack/$"))
    page.get_by_role("button", name="Connect Slack").click()
    expect(page.get_by_role("heading", name=re.compile("requesting permission"))).to_be_visible()
    page.get_by_role("button", name="Allow").click()
    expect(page).to_have_url(re.compile(r"/onboarding/slack/channel/$"))
    page.get_by_role("radio", name=re.compile(r"#pr-notices")).check()
    _shot(page, "8-slack-channel")
    page.get_by_role("button", name="Save and continue").click()
    assert Integration.objects.get(team=job.team, provider="jira").config["site"]["name"] == "acme"
    # The finished import is announced in the channel, for whoever closed the tab.
    finished = SyncJob.objects.get(pk=job.pk)
    announced = f"Import of acme finished: {finished.prs_synced} pull requests"
    wait_for(lambda: any(m["text"].startswith(announced) for m in _messages(github)), timeout=30)

    # 7. The team overview shows what was imported.
    expect(page).to_have_url(re.compile(r"/onboarding/complete/$"))
    expect(page.get_by_role("heading", name="acme", exact=True)).to_be_visible()
    imported = PullRequest.objects.filter(repository__team=job.team).count()
    assert imported > 0
    table = page.get_by_test_id("repo-table")
    expect(table.locator("tbody tr")).to_have_count(total)
    shown = sum(int(cell) for cell in table.locator("tbody tr td:nth-child(2)").all_inner_texts())
    assert shown == imported
    expect(page.get_by_role("button", name="Sync new activity now")).to_be_enabled()
    _shot(page, "9-complete")

    # An incremental sync from the overview; the overview shows it live until it is done.
    page.get_by_role("button", name="Sync new activity now").click()
    expect(page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
    again = SyncJob.objects.exclude(pk=job.pk).get()
    assert again.kind == SyncJob.Kind.INCREMENTAL
    page.goto(f"{web}/onboarding/complete/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    if not SyncJob.objects.get(pk=again.pk).is_finished:
        live = page.get_by_test_id("current-job")
        _shot(page, "10-complete-live")
        # When it finishes the overview's team socket takes the running import away.
        expect(live).to_have_count(0, timeout=60_000)
    wait_for(lambda: SyncJob.objects.get(pk=again.pk).is_finished, timeout=60, interval=0.5)
    expect(page.get_by_test_id("last-sync")).to_contain_text("Done")


def _messages(sandbox: RunningSandbox) -> list[dict[str, str]]:
    return sandbox.control.slack_messages("pr-notices")


def test_it_lists_organizations_and_repositories_without_javascript(
    web: str, browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{web}/onboarding/start/")
        page.get_by_role("button", name="Continue with GitHub").click()
        page.get_by_role("button", name=re.compile("^Authorize ")).click()
        page.get_by_role("link", name="show your organizations").click()
        page.get_by_role("button", name="Choose acme").click()
        page.get_by_role("link", name="show the repositories").click()
        expect(page.locator("#repo-rows li.pick").first).to_be_visible()
        page.locator("#repo-rows input[type=checkbox]").first.check()
        _shot(page, "nojs-repositories")
        page.get_by_role("button", name="Import selected repositories").click()
        expect(page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
    finally:
        context.close()
        connections.close_all()
    assert TrackedRepository.objects.count() == 1


# -- the flow on a desktop and on a phone -------------------------------------------------------


@pytest.fixture(scope="module")
def archive_world() -> Iterator[RunningSandbox]:
    """A sandbox GitHub whose acme has 12 repositories, one of them archived."""
    from sandbox.testing import start_sandbox

    running = start_sandbox("--seed", "3", "--repos", "12", "--prs", "60", "--members", "4")
    yield running
    running.stop()


@pytest.fixture
def archive_web(
    request: pytest.FixtureRequest, transactional_db: None, archive_world: RunningSandbox
) -> Iterator[str]:
    archive_world.control.reset()
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        GITHUB_API_URL=archive_world.api_url,
        GITHUB_CLIENT_ID=CLIENT_ID,
        GITHUB_CLIENT_SECRET=CLIENT_SECRET,
    )
    server.start()
    archive_world.control.set_callback_url(f"{server.url}/onboarding/github/callback/")
    try:
        yield server.url
    finally:
        server.stop()
        dramatiq.get_broker().flush_all()  # the import this test queued reaches no later worker


@pytest.mark.usefixtures("worker_beating")
@pytest.mark.parametrize("width", [1280, 375])
def test_it_walks_the_flow_on_a_desktop_and_a_phone(
    width: int, archive_web: str, browser: Browser
) -> None:
    web = archive_web
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    callbacks: list[str] = []
    page.on(
        "request",
        lambda request: (
            callbacks.append(request.url) if "/github/callback/" in request.url else None
        ),
    )
    try:
        # Start, then GitHub's Authorize page. Requests that wait on GitHub are held here until
        # the page has shown that it waits.
        held = _Held(page)
        page.goto(f"{web}/onboarding/start/")
        look_at(page, "start", widths=(width,))
        page.get_by_role("button", name="Continue with GitHub").click()
        authorize_url = page.url
        held.hold("**/onboarding/select-org/list/")
        page.get_by_role("button", name=re.compile("^Authorize ")).click()

        # Organizations: the page answers first, saying it is asking GitHub, then the list.
        loading = page.get_by_test_id("org-loading")
        expect(loading).to_have_text("Asking GitHub for your organizations…")
        check_accessibility(page, f"organizations loading at {width} px")
        held.release()
        choose = page.get_by_role("button", name="Choose acme")
        expect(choose).to_be_visible()
        look_at(page, "organizations", widths=(width,))
        held.hold("**/onboarding/select-org/choose/")
        # The button as the page shows it while GitHub is asked (locators would wait for the
        # navigation the click starts).
        shown = choose.evaluate(CLICK_AND_LOOK)
        assert shown == {"busy": "true", "text": "Setting up acme…", "disabled": True}
        held.hold("**/onboarding/select-repos/list/")
        held.release()

        # Repositories: the shell, its loading line, then every row; names stay on one line.
        expect(page.get_by_role("heading", name="Choose repositories of acme")).to_be_visible()
        expect(page.get_by_test_id("repo-loading")).to_be_visible()
        held.release()
        rows = page.locator("#repo-rows li.pick")
        expect(rows.first).to_be_visible(timeout=15_000)
        assert rows.count() == 12
        look_at(page, "repositories", widths=(width,))
        check_text_fits(page, "#repo-rows .pick-name")
        page.locator("#repo-rows .pick-name").first.evaluate(
            "(name) => { name.textContent = name.title = 'payments-' + 'x'.repeat(90); }"
        )
        check_text_fits(page, "#repo-rows .pick-name")
        check_fits(page, f"repositories with a 99-letter name at {width} px")
        _check_the_picker_tells_the_truth(page)
        page.get_by_role("button", name="Import 11 repositories").click()

        # Progress: the steps are still there; Cancel asks before it cancels.
        expect(page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
        job = SyncJob.objects.get(team__github_org_login="acme")
        tracked = TrackedRepository.objects.filter(team=job.team)
        assert tracked.count() == 11 and not tracked.filter(archived=True).exists()
        steps = page.get_by_role("list", name="Onboarding steps")
        expect(steps.locator("[aria-current=step]")).to_have_text("Import")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
        look_at(page, "progress", widths=(width,))
        asked: list[str] = []

        def answer(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", answer)
        page.get_by_role("button", name="Cancel import").click()
        expect(page.get_by_test_id("badge")).to_have_text(re.compile("Waiting|Stalled|No worker"))
        assert asked and asked[0].startswith("Cancel this import?")
        assert not SyncJob.objects.get(pk=job.pk).is_finished

        # Back onto GitHub's Authorize page, Authorize again: the user lands on this step.
        page.goto(authorize_url)
        page.get_by_role("button", name=re.compile("^Authorize ")).click()
        expect(page).to_have_url(f"{web}/onboarding/sync/{job.pk}/")
        assert len(callbacks) == 2
        page.goto(callbacks[0])  # the first callback's address again, from the history
        expect(page).to_have_url(f"{web}/onboarding/sync/{job.pk}/")
        expect(page.get_by_test_id("problem")).to_have_count(0)

        # The organizations again: acme is the user's team, and its badge is as wide as its words.
        page.goto(f"{web}/onboarding/select-org/")
        row = page.get_by_test_id("org-acme")
        badge = row.get_by_text("Your team", exact=True)
        expect(badge).to_be_visible()
        badge_box, row_box = badge.bounding_box(), row.bounding_box()
        assert badge_box is not None and row_box is not None
        assert badge_box["width"] < 100 < row_box["width"] / 2
        expect(row.get_by_role("button", name="Open acme")).to_be_visible()
        look_at(page, "organizations-member", widths=(width,))
    finally:
        context.close()
        connections.close_all()


CLICK_AND_LOOK = """(button) => {
  button.click();
  return new Promise((done) => setTimeout(() => done({
    busy: button.getAttribute("aria-busy"), text: button.textContent, disabled: button.disabled,
  }), 50));
}"""


class _Held:
    """Requests matching a pattern, held unanswered until released (then sent on)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.waiting: list[Route] = []

    def hold(self, pattern: str) -> None:
        self.page.route(pattern, lambda route: self.waiting.append(route), times=1)

    def release(self, index: int = 0) -> None:
        self.page.wait_for_timeout(50)
        for _ in range(100):  # the held request reaches this process a moment later
            if len(self.waiting) > index:
                break
            self.page.wait_for_timeout(50)
        self.waiting.pop(index).continue_()


def _check_the_picker_tells_the_truth(page: Page) -> None:
    count = page.get_by_test_id("repo-count")
    submit = page.get_by_test_id("repo-submit")
    hidden = page.get_by_test_id("hidden-selected")
    page.get_by_label(re.compile(r"Show 1 archived")).check()
    page.get_by_role("button", name="Select all shown").click()
    expect(count).to_have_text("12 selected")
    expect(hidden).to_be_hidden()

    # Hiding the archived one keeps it chosen: everything says so, by number and by name.
    page.get_by_label(re.compile(r"Show 1 archived")).uncheck()
    expect(count).to_have_text("12 selected, 1 of them hidden")
    expect(submit).to_have_text("Import 12 repositories, including 1 hidden")
    archived = page.locator("#repo-rows li.pick-archived .pick-name").text_content() or ""
    expect(hidden).to_be_visible()
    expect(hidden).to_contain_text(f"1 hidden selected: {archived}. They will be imported too.")
    check_accessibility(page, "repositories with a hidden choice")

    # The filter hides rows too.
    page.get_by_placeholder("Filter by name").fill("zzz-no-such-repo")
    expect(count).to_have_text("12 selected, 12 of them hidden")
    expect(hidden).to_contain_text("12 hidden selected:")
    expect(hidden).to_contain_text("and 7 more")
    page.get_by_placeholder("Filter by name").fill("")
    expect(count).to_have_text("12 selected, 1 of them hidden")

    page.get_by_role("button", name="Deselect the hidden ones").click()
    expect(count).to_have_text("11 selected")
    expect(hidden).to_be_hidden()
    expect(submit).to_have_text("Import 11 repositories")
