"""The staff page following real imports: Daphne, a real Dramatiq worker, Redis and the
sandbox GitHub, watched in Debian's Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import AuditEvent, RepoSync, SyncJob, Team
from tests.browser.conftest import DaphneServer
from tests.processes import Process
from tests.sync.importing import (
    connect,
    forget_github_budgets,
    since_of,
    track_all,
    truth_from_db,
    wait_finished,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OpenPage = Callable[[User], Page]
GRAPHQL = "^/api/graphql"
ALL_HISTORY = timedelta(days=800)

# Records, on every change of the live imports table, each job row's status and progress, so
# the test can tell what the page showed along the way (not only where it ended).
RECORD_ROWS = """
() => {
  window.frames_seen = [];
  const record = () => {
    const rows = {};
    document.querySelectorAll("#staff-sync-jobs tr[id^='staff-sync-job-']").forEach((row) => {
      const cells = row.querySelectorAll("td");
      rows[row.id] = { status: cells[3].textContent.trim(), percent: cells[4].textContent.trim() };
    });
    window.frames_seen.push(rows);
  };
  const everything = { childList: true, subtree: true, characterData: true };
  new MutationObserver(record).observe(document.body, everything);
}
"""


@pytest.fixture
def synced_teams(team: Team, alice: User, github: RunningSandbox) -> Iterator[list[Team]]:
    """acme and globex, each connected to the sandbox with every repository tracked."""
    forget_github_budgets()
    globex = Team.objects.create(name="Globex", github_org_id=2002, github_org_login="globex")
    globex.memberships.create(user=alice, role="admin")  # imports run on a member's token
    for each in (team, globex):
        track_all(each, connect(each, alice, github))
    yield [team, globex]
    dramatiq.get_broker().flush_all()  # no message of this test may reach a later worker


def _open(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def _row(page: Page, job: SyncJob) -> Any:
    return page.locator(f"#staff-sync-job-{job.pk}")


def test_it_shows_two_teams_importing_at_once_both_moving_live(
    page_as: OpenPage,
    daphne: DaphneServer,
    synced_teams: list[Team],
    sam: User,
    github: RunningSandbox,
    worker: Process,
) -> None:
    github.control.set_latency(fixed_ms=150)
    page = page_as(sam)
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    _open(page, f"{daphne.url}/staff/syncs/")
    page.evaluate(RECORD_ROWS)

    jobs = [services.start_sync(team=each, requested_by=sam) for each in synced_teams]

    for job in jobs:
        expect(_row(page, job)).to_be_visible(timeout=10_000)  # new jobs appear, no reload
    for job in jobs:
        expect(_row(page, job).locator("td").nth(3)).to_have_text("Done", timeout=90_000)
        expect(_row(page, job).locator("td").nth(4)).to_have_text("100%")
    assert len(loads) == 1
    frames: list[dict[str, dict[str, str]]] = page.evaluate("window.frames_seen")
    ids = [f"staff-sync-job-{job.pk}" for job in jobs]
    moving = [
        frame
        for frame in frames
        if all(frame.get(i, {}).get("status") == "Importing" for i in ids)
        and any(frame[i]["percent"] not in ("0%", "100%") for i in ids)
    ]
    assert moving, "the page never showed both imports running at once, one of them part-way"
    for i in ids:
        percents = {frame[i]["percent"] for frame in frames if i in frame}
        assert len(percents) >= 3, (i, percents)  # 0%, part-way, 100%
    for job in jobs:
        assert wait_finished(job).status == SyncJob.Status.SUCCEEDED


def test_it_brings_a_partial_import_to_success_with_retry_failed(
    page_as: OpenPage,
    daphne: DaphneServer,
    synced_teams: list[Team],
    sam: User,
    github: RunningSandbox,
    worker: Process,
) -> None:
    acme = synced_teams[0]
    # After the query that counts the pull requests, one page is refused as gone.
    github.control.add_fault(GRAPHQL, kind="status", status=410, count=1, after=1)
    partial = wait_finished(
        services.start_sync(team=acme, history_since=timezone.now() - ALL_HISTORY)
    )
    assert partial.status == SyncJob.Status.PARTIAL
    failed = RepoSync.objects.select_related("repository").get(job=partial, status="failed")
    github.control.clear_faults()
    page = page_as(sam)
    _open(page, f"{daphne.url}/staff/syncs/teams/{acme.pk}/")
    gone = page.locator(f"#sync-repos [data-repository='{failed.repository.full_name}']")
    expect(gone).to_contain_text(failed.error_message)
    expect(page.locator("#sync-status")).to_have_attribute("data-status", "partial")

    page.get_by_test_id("retry-failed").click()

    expect(page.get_by_test_id("messages")).to_contain_text("retrying the repositories that failed")
    retry = SyncJob.objects.exclude(pk=partial.pk).get(team=acme)
    assert page.url.endswith(f"?job={retry.pk}")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(page.locator("#sync-status")).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    expect(page.get_by_test_id("percent")).to_have_text("100%")
    expect(gone).to_contain_text("Done")
    assert wait_finished(retry).status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(partial))
    event = AuditEvent.objects.get(action="sync.retry_failed")
    assert (event.actor, event.team, event.params) == (
        sam,
        acme,
        {"failed_job": partial.pk, "job": retry.pk},
    )
    assert event.outcome == f"queued job #{retry.pk} for 1 repository"
