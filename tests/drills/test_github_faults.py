"""Drill: GitHub misbehaving during one import, over real processes.

A real `rundramatiq` worker imports from the sandbox GitHub while it answers a fifth of its
requests with 502, holds some answers past the client's timeout, cuts some bodies short,
runs out of rate-limit budget and loses a repository mid-sync; in another import the token
is revoked mid-sync. Daphne serves the progress page, watched in Chromium. Each drill ends
with the database equal to the sandbox's ground truth for every repository GitHub still has,
nothing counted twice, and the page showing the job's final state.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import (
    Commit,
    Integration,
    PullRequest,
    RepoSync,
    Review,
    SyncJob,
    Team,
    TrackedRepository,
)
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.processes import Process, wait_for
from tests.sync.importing import (
    connect,
    since_of,
    start_sync_worker,
    truth_from_db,
    wait_finished,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OpenPage = Callable[[User], Page]

API = "^/api/"
GRAPHQL = "^/api/graphql"
# The worker's GITHUB_TIMEOUT, under a second: PyGithub counts whole seconds, so the client
# waits 1 s (a timeout rounded down to 0 would refuse every request).
TIMEOUT = "0.5"
SLOW_S = 2.5  # a slow answer: well past the client's timeout
RESET_IN_S = 6  # the exhausted budget comes back this soon
RETRY = re.compile(r": retrying in \d+ s \(attempt [1-6] of 6\)$| \(\d+ pull requests a page\)$")
RETRYING_ROW = re.compile(
    r'<li class="repo repo-retrying".*?<span class="repo-error">(.*?)</span>', re.S
)
ALL_HISTORY = timedelta(days=800)  # the sandbox's history is 730 days: every PR is imported
GONE = "The repository is gone or no longer visible to this token"
REVOKED = "GitHub access was revoked: reconnect"
# GitHub's edge answers a 502 with an HTML page, not JSON.
BAD_GATEWAY = (
    "<html><body><h1>Unicorn!</h1><p>This page is taking too long to load.</p></body></html>"
)


@pytest.fixture
def impatient_worker(
    request: pytest.FixtureRequest, github: RunningSandbox
) -> Iterator[Callable[[], Process]]:
    """Start a real worker that gives up on a GitHub answer after a second (once called)."""
    started: list[Process] = []

    def start() -> Process:
        log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
        started.append(
            start_sync_worker(log, GITHUB_API_URL=github.api_url, GITHUB_TIMEOUT=TIMEOUT)
        )
        return started[-1]

    yield start
    for process in started:
        process.stop()


def _misbehave(github: RunningSandbox) -> None:
    """A fifth of all answers 502; two GraphQL answers too slow, two cut short.

    The first fault that fires answers a request, so the slow and the cut answers land on the
    first GraphQL requests the 502s spare: first pages, before any page has follow-ups.
    """
    control = github.control
    control.add_fault(API, kind="status", status=502, body=BAD_GATEWAY, fraction=0.2)
    control.add_fault(GRAPHQL, kind="delay", delay_s=SLOW_S, count=2)
    control.add_fault(GRAPHQL, kind="malformed_json", count=2)
    control.set_latency(fixed_ms=100)


def _start(team: Team) -> SyncJob:
    return services.start_sync(team=team, history_since=timezone.now() - ALL_HISTORY)


def _open(page: Page, daphne: DaphneServer, job: SyncJob) -> None:
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def _row(page: Page, repository: TrackedRepository) -> Locator:
    return page.locator(f'[data-testid="repo-row"][data-repository="{repository.full_name}"]')


def _expect_counts_of(page: Page, job: SyncJob) -> None:
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("reviews-synced")).to_have_text(f"{job.reviews_synced:,}")
    expect(page.get_by_test_id("commits-synced")).to_have_text(f"{job.commits_synced:,}")
    repos = RepoSync.objects.filter(job=job)
    imported = repos.filter(status=RepoSync.Status.SUCCEEDED).count()
    failed = repos.filter(status=RepoSync.Status.FAILED).count()
    shown = f"{imported} of {job.repos_total} imported" + (f" · {failed} failed" if failed else "")
    expect(page.get_by_test_id("repos-done")).to_have_text(shown)


def _stored(team: Team) -> tuple[int, int, int]:
    """Return the team's imported rows: pull requests, reviews, commits."""
    return (
        PullRequest.objects.filter(repository__team=team).count(),
        Review.objects.filter(pull_request__repository__team=team).count(),
        Commit.objects.filter(pull_request__repository__team=team).count(),
    )


def _counted(*jobs: SyncJob) -> tuple[int, int, int]:
    """Return what the jobs say they imported: pull requests, reviews, commits."""
    return (
        sum(job.prs_synced for job in jobs),
        sum(job.reviews_synced for job in jobs),
        sum(job.commits_synced for job in jobs),
    )


def _paused_repository(job: SyncJob) -> RepoSync | None:
    """A repository sync paused by the rate limit, preferring one with pages already written."""
    return (
        RepoSync.objects.filter(job=job, status=RepoSync.Status.WAITING)
        .select_related("repository")
        .order_by("-pages_done", "pk")
        .first()
    )


def _fired(github: RunningSandbox) -> dict[str, int]:
    return {fault["kind"]: fault["fired"] for fault in github.control.faults()}


class _Frames:
    """The socket frames a page receives: the fragments the server pushed to it."""

    def __init__(self, page: Page) -> None:
        self.received: list[str] = []
        page.on("websocket", lambda socket: socket.on("framereceived", self._add))

    def _add(self, payload: str | bytes) -> None:
        self.received.append(payload if isinstance(payload, str) else payload.decode())

    def retries_shown(self) -> set[str]:
        """Return what the rows said while retrying, the attempt numbers and delays left out."""
        return {
            RETRY.sub("", html.unescape(message))
            for frame in self.received
            for message in RETRYING_ROW.findall(frame)
        }


def test_it_imports_all_github_still_has_while_github_misbehaves(
    page_as: OpenPage,
    daphne: DaphneServer,
    acme: Team,
    alice: User,
    github: RunningSandbox,
    impatient_worker: Callable[[], Process],
) -> None:
    _misbehave(github)
    page = page_as(alice)
    frames = _Frames(page)
    job = _start(acme)
    _open(page, daphne, job)  # before a worker runs: the page sees every retry
    impatient_worker()
    wait_for(lambda: RepoSync.objects.filter(job=job, pages_done__gt=0).exists(), timeout=30)

    # The budget runs out mid-sync; while the import waits for the reset, a repository goes.
    token = acme.token  # type: ignore[attr-defined]
    github.control.set_budget(token=token, resource="graphql", remaining=0, reset_in=RESET_IN_S)
    expect(page.get_by_test_id("rate-limit-banner")).to_be_visible(timeout=20_000)
    paused = wait_for(lambda: _paused_repository(job), timeout=20)
    gone = paused.repository  # type: ignore[attr-defined]
    github.control.delete_repo(*gone.full_name.split("/"))
    expect(page.locator("#sync-status")).to_have_attribute("data-status", "waiting")
    expect(page.get_by_test_id("rate-limit-banner")).to_be_visible()

    job = wait_finished(job, timeout=90)

    assert job.status == SyncJob.Status.PARTIAL, job.error_message
    assert job.error_message == "1 of 6 repositories failed; retry them when fixed"
    failed = RepoSync.objects.get(job=job, status=RepoSync.Status.FAILED)
    assert (failed.repository, failed.error_code, failed.error_message) == (gone, "repo_gone", GONE)
    assert RepoSync.objects.filter(job=job, status=RepoSync.Status.SUCCEEDED).count() == 5
    assert truth_from_db(acme, exclude=gone) == github.control.truth("acme", since=since_of(job))
    assert _stored(acme) == _counted(job)
    fired = _fired(github)
    assert fired["status"] > 0 and fired["delay"] == 2 and fired["malformed_json"] == 2, fired
    assert github.control.counters()["rate_limited"] > 0
    expect(page.locator("#sync-status")).to_have_attribute("data-status", "partial")
    expect(page.locator("#sync-status")).to_contain_text("Done, with failures")
    # A GraphQL 502 (GitHub's unicorn page) or a slow answer is GitHub giving up on the query:
    # smaller pages; at the smallest, a failed attempt. A cut body is retried as it was (unless
    # it reaches a follow-up query, retried within the page).
    shown = frames.retries_shown()
    assert "GitHub is slow; fetching smaller pages" in shown
    assert shown <= {
        "GitHub is slow; fetching smaller pages",
        "GitHub gave up on the query (502): ask for less",
        "GitHub did not answer in time",
        "GitHub sent a body that is not valid JSON",
        "GitHub answered 502",
    }

    expect(page.get_by_test_id("rate-limit-banner")).to_be_hidden()
    expect(page.get_by_test_id("failed-banner")).to_contain_text(
        "1 of 6 repositories could not be imported"
    )
    expect(_row(page, gone)).to_contain_text("Failed")
    expect(_row(page, gone)).to_contain_text(GONE)
    expect(page.locator('[data-testid="repo-row"].repo-succeeded')).to_have_count(5)
    _expect_counts_of(page, job)
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "drill-github-faults.png"), full_page=True)


def test_it_stops_at_a_revoked_token_and_finishes_the_same_import_after_a_reconnect(
    page_as: OpenPage,
    daphne: DaphneServer,
    acme: Team,
    alice: User,
    github: RunningSandbox,
    impatient_worker: Callable[[], Process],
) -> None:
    _misbehave(github)
    job = _start(acme)
    page = page_as(alice)
    _open(page, daphne, job)
    impatient_worker()
    wait_for(lambda: SyncJob.objects.get(pk=job.pk).prs_synced > 0, timeout=30)

    github.control.revoke_token(acme.token)  # type: ignore[attr-defined]

    expect(page.get_by_test_id("reconnect-banner")).to_be_visible(timeout=20_000)
    job = wait_finished(job, timeout=30)
    assert (job.status, job.error_code, job.error_message) == (
        SyncJob.Status.FAILED,
        "token_revoked",
        REVOKED,
    )
    assert Integration.objects.get(team=acme).status == Integration.Status.REVOKED
    unfinished = RepoSync.objects.filter(job=job).exclude(status=RepoSync.Status.SUCCEEDED)
    assert unfinished.exists()
    assert set(unfinished.values_list("status", "error_code")) == {
        (RepoSync.Status.FAILED, "token_revoked")
    }
    assert _stored(acme) == _counted(job)
    expect(page.locator("#sync-status")).to_have_attribute("data-status", "failed")
    expect(page.get_by_test_id("reconnect-banner")).to_contain_text("GitHub access was revoked")
    expect(page.get_by_role("button", name="Reconnect GitHub")).to_be_visible()
    _expect_counts_of(page, job)
    page.screenshot(
        path=str(ARTIFACTS / "screenshots" / "drill-github-revoked.png"), full_page=True
    )

    expect(page.get_by_role("button", name="Retry failed repositories")).to_have_count(0)

    # Reconnected (the OAuth callback stores the new token and reopens what the old one
    # stopped), the same import goes on where it stopped, on the page still open.
    connect(acme, alice, github)
    assert services.resume_after_reconnect(team=acme) is not None
    job = wait_finished(job, timeout=90)

    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    assert _stored(acme) == _counted(job)
    expect(page.locator("#sync-status")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("percent")).to_have_text("100%")
    expect(page.get_by_test_id("reconnect-banner")).to_be_hidden()
    _expect_counts_of(page, job)
