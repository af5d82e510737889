"""The team overview in Debian's Chromium, after a real import (Daphne, a Dramatiq worker, the
sandbox GitHub): its first insight against the sandbox's own timelines, a pull request changed
on GitHub arriving on the open page without a reload, repositories removed with their data
kept or deleted, at 1280 and 375 px without horizontal overflow. Screenshots go to
artifacts/screenshots/."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect

from sandbox.testing import RunningSandbox
from sync import accounts
from sync.models import Membership, PullRequest, SyncJob, TrackedRepository
from tests.browser.axe import look_at
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.onboarding.personas import CLIENT_ID, CLIENT_SECRET
from tests.processes import Process, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = ARTIFACTS / "screenshots"


@pytest.fixture
def web(
    request: pytest.FixtureRequest, transactional_db: None, github: RunningSandbox
) -> Iterator[str]:
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        GITHUB_API_URL=github.api_url,
        GITHUB_CLIENT_ID=CLIENT_ID,
        GITHUB_CLIENT_SECRET=CLIENT_SECRET,
    )
    server.start()
    github.control.set_callback_url(f"{server.url}/onboarding/github/callback/")
    try:
        yield server.url
    finally:
        server.stop()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"overview-{name}.png"), full_page=True)


def _import_acme(page: Page, web: str) -> SyncJob:
    """Sign in with GitHub, choose acme and its unarchived repositories, wait for the import."""
    page.goto(f"{web}/onboarding/start/")
    page.get_by_role("button", name="Continue with GitHub").click()
    page.get_by_role("button", name=re.compile("^Authorize ")).click()
    page.get_by_role("button", name="Choose acme").click()
    expect(page.locator("#repo-rows li.pick").first).to_be_visible(timeout=10_000)
    page.get_by_role("button", name="Select all shown").click()
    page.get_by_role("button", name=re.compile(r"^Import \d+ repositor")).click()
    expect(page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
    job = SyncJob.objects.get(team__github_org_login="acme")
    wait_for(lambda: SyncJob.objects.get(pk=job.pk).is_finished, timeout=90, interval=0.5)
    return SyncJob.objects.get(pk=job.pk)


def _no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    wide = page.evaluate(
        "Array.from(document.querySelectorAll('body *')).filter(e => "
        "e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 "
        "&& !e.closest('.table-scroll'))"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"
    )
    assert widths[0] <= widths[1], f"{widths[0]} px wide in a {widths[1]} px window: {wide}"


def _avatars_loaded(page: Page) -> int:
    return int(
        page.evaluate(
            "Array.from(document.querySelectorAll('img.avatar'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length"
        )
    )


def _medians(
    timelines: list[dict[str, object]], repositories: set[str], since: datetime, until: datetime
) -> dict[tuple[str, str], tuple[float | None, int]]:
    """The sandbox's own medians: {(metric, repository or "team"): (seconds, pull requests)}."""
    samples: dict[tuple[str, str], list[float]] = {}
    for pr in timelines:
        repo = str(pr["repository"])
        if repo not in repositories:
            continue
        created = datetime.fromisoformat(str(pr["created_at"]))
        reviews = [
            datetime.fromisoformat(str(r["submitted_at"]))
            for r in pr["reviews"]  # type: ignore[attr-defined]
            if r["author"] != pr["author"]
        ]
        if reviews and since <= min(reviews) <= until:
            for key in (repo, "team"):
                samples.setdefault(("review", key), []).append(
                    (min(reviews) - created).total_seconds()
                )
        merged = pr["merged_at"] and datetime.fromisoformat(str(pr["merged_at"]))
        if merged and since <= merged <= until:
            for key in (repo, "team"):
                samples.setdefault(("merge", key), []).append((merged - created).total_seconds())
    return {key: (statistics.median(values), len(values)) for key, values in samples.items()}


def _check_insight(page: Page, github: RunningSandbox) -> None:
    section = page.get_by_test_id("insights")
    since = datetime.fromisoformat(str(section.get_attribute("data-since")))
    until = datetime.fromisoformat(str(section.get_attribute("data-until")))
    rows = page.locator("[data-insight-repo]")
    names = {str(rows.nth(i).get_attribute("data-insight-repo")) for i in range(rows.count())}
    truth = _medians(github.control.timelines("acme"), names, since, until)
    assert truth[("merge", "team")][1] > 5 and truth[("review", "team")][1] > 5

    for metric, test_id in (("review", "team-first-review"), ("merge", "team-merge")):
        seconds, count = truth[(metric, "team")]
        shown = float(str(page.get_by_test_id(test_id).get_attribute("data-seconds")))
        assert seconds is not None and abs(shown - seconds) <= 1, (metric, shown, seconds)
        expect(page.get_by_test_id(f"{test_id}-count")).to_have_text(f"{count} pull requests")
    for name in names:
        cells = page.locator(f'[data-insight-repo="{name}"] td')
        for column, metric in ((0, "review"), (1, "merge")):
            cell = cells.nth(column)
            expected, behind = truth.get((metric, name), (None, 0))
            assert int(str(cell.get_attribute("data-count"))) == behind, (name, metric)
            if expected is not None:
                shown = float(str(cell.get_attribute("data-seconds")))
                assert abs(shown - expected) <= 1, (name, metric, shown, expected)


def test_it_shows_the_overview_live_with_its_first_insight_and_removes_repositories(
    web: str, github: RunningSandbox, worker: Process, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    plain = None
    narrow = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        job = _import_acme(page, web)
        assert job.status == SyncJob.Status.SUCCEEDED
        team = job.team
        page.goto(f"{web}/onboarding/complete/")

        # A clear finish: all set, what keeps it current, the last sync, live over the socket.
        expect(page.get_by_role("heading", name="acme", exact=True)).to_be_visible()
        expect(page.get_by_test_id("all-set")).to_contain_text("You're all set")
        expect(page.get_by_test_id("refreshed-by")).to_have_text("an import")
        expect(page.get_by_test_id("last-sync")).to_contain_text("Done")
        expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
        imported = PullRequest.objects.filter(repository__team=team, deleted_at=None).count()
        expect(page.get_by_test_id("pr-total")).to_have_text(f"{imported:,}")
        wait_for(lambda: _avatars_loaded(page) >= 2, timeout=10)
        _no_horizontal_overflow(page)
        _check_insight(page, github)
        _shot(page, "1280")
        look_at(page, "overview")  # layout and axe-core at 1280 and 375 px
        page.set_viewport_size({"width": 1280, "height": 900})

        # A pull request changed on GitHub arrives on the open page, without a reload.
        changed = PullRequest.objects.filter(repository__team=team).order_by("updated_at").first()
        assert changed is not None
        owner, name = changed.repository.full_name.split("/")
        title = "Retitled on GitHub while the overview was open"
        github.control.update_pull(owner, name, changed.number, title=title)
        page.evaluate("window.overviewNotReloaded = true")
        counts_version = page.locator("#overview-counts").get_attribute("data-version")
        membership = Membership.objects.get(team=team, role=Membership.Role.ADMIN)
        again = accounts.start_incremental_sync(membership=membership)
        recent = page.get_by_test_id("recent-pulls")
        expect(recent.locator("li").first).to_contain_text(title, timeout=60_000)
        assert SyncJob.objects.get(pk=again.pk).is_finished
        assert page.evaluate("window.overviewNotReloaded") is True
        expect(page.locator("#overview-counts")).not_to_have_attribute(
            "data-version", str(counts_version)
        )
        expect(page.get_by_test_id("last-sync")).to_contain_text("Done")
        # The imports fragment came over the socket too: it names the import started after load.
        expect(page.locator("#overview-sync")).to_have_attribute("data-job-id", str(again.pk))
        _shot(page, "1280-live")
        look_at(page, "overview-live")
        page.set_viewport_size({"width": 1280, "height": 900})

        # The same page at 375 px.
        small = narrow.new_page()
        small.context.add_cookies(cast(Any, context.cookies()))
        small.goto(f"{web}/onboarding/complete/")
        expect(small.get_by_test_id("recent-pulls")).to_contain_text(title)
        expect(small.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
        _shot(small, "375")
        _no_horizontal_overflow(small)

        # Removal works without JavaScript: a confirmation, then keep or delete the data.
        plain = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=False
        )
        plain.add_cookies(cast(Any, context.cookies()))
        live_page, page = page, plain.new_page()
        page.goto(f"{web}/onboarding/complete/")
        repos = list(TrackedRepository.objects.filter(team=team, archived=False).order_by("pk"))
        kept, deleted = repos[0], repos[1]
        kept_pulls = PullRequest.objects.filter(repository=kept).count()
        deleted_pulls = PullRequest.objects.filter(repository=deleted).count()
        assert kept_pulls > 0 and deleted_pulls > 0
        page.get_by_test_id(f"remove-{kept.full_name}").click()
        expect(page.get_by_role("heading", name=f"Stop tracking {kept.full_name}?")).to_be_visible()
        _shot(page, "remove-confirm")
        page.get_by_role("radio", name=re.compile("^Keep its imported")).check()
        page.get_by_test_id("confirm-remove").click()
        expect(page).to_have_url(re.compile(r"/onboarding/complete/$"))
        expect(page.get_by_test_id("action-message")).to_contain_text(
            f"{kept.full_name} is no longer tracked. Its {kept_pulls:,} pull requests are kept"
        )
        expect(page.locator(f'[data-repo="{kept.full_name}"]')).to_have_count(0)
        assert PullRequest.objects.filter(repository=kept).count() == kept_pulls

        page.get_by_test_id(f"remove-{deleted.full_name}").click()
        page.get_by_role("radio", name=re.compile("^Delete its imported")).check()
        page.get_by_test_id("confirm-remove").click()
        expect(page.get_by_test_id("action-message")).to_contain_text(
            f"{deleted.full_name} is no longer tracked, and its {deleted_pulls:,} pull requests "
            "were deleted"
        )
        expect(page.locator(f'[data-repo="{deleted.full_name}"]')).to_have_count(0)
        assert not PullRequest.objects.filter(repository_id=deleted.pk).exists()
        assert not TrackedRepository.objects.filter(pk=deleted.pk).exists()
        left = PullRequest.objects.filter(
            repository__team=team, repository__untracked_at=None, deleted_at=None
        )
        expect(page.get_by_test_id("pr-total")).to_have_text(f"{left.count():,}")
        _shot(page, "1280-removed")

        # The imports fragment the socket swapped in still starts an import (its form gets the
        # page's CSRF token), and takes the admin to the new import's page.
        live_page.get_by_role("button", name="Sync new activity now").click()
        expect(live_page).to_have_url(re.compile(r"/onboarding/sync/\d+/$"))
        expect(live_page.get_by_test_id("heading")).to_contain_text("acme")
    finally:
        context.close()
        narrow.close()
        if plain is not None:
            plain.close()
        connections.close_all()
