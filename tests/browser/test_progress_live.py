"""The progress page following a real import: Daphne, a real Dramatiq worker, Redis and the
sandbox GitHub, watched in Debian's Chromium."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Request, expect

from sandbox.testing import RunningSandbox
from sync import services
from sync.models import SyncJob, Team
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.processes import Process, wait_for
from tests.sync.importing import connect, forget_github_budgets, track_all
from tests.sync.jobs import no_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OpenPage = Callable[[User], Page]


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Iterator[Team]:
    forget_github_budgets()
    team.token = connect(team, alice, github)  # type: ignore[attr-defined]
    track_all(team, team.token)  # type: ignore[attr-defined]
    yield team
    dramatiq.get_broker().flush_all()  # no message of this test may reach a later worker


def _open(page: Page, daphne: DaphneServer, job: SyncJob) -> None:
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def test_it_follows_a_real_import_to_100_percent_without_repeated_requests(
    page_as: OpenPage, daphne: DaphneServer, acme: Team, bob: User, worker: Process
) -> None:
    job = services.start_sync(team=acme)
    page = page_as(bob)
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    _open(page, daphne, job)

    expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=60_000)
    expect(page.get_by_test_id("continue")).to_be_visible()
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("repos-done")).to_have_text(
        f"{job.repos_total} of {job.repos_total} imported"
    )
    urls = [request.url for request in requests]
    assert len(urls) == len(set(urls)), urls
    assert not [r for r in requests if r.resource_type in ("xhr", "fetch")]


def test_it_shows_reconnect_within_a_second_of_the_token_being_revoked(
    page_as: OpenPage,
    daphne: DaphneServer,
    acme: Team,
    alice: User,
    github: RunningSandbox,
    worker: Process,
) -> None:
    github.control.set_latency(fixed_ms=200)
    job = services.start_sync(team=acme)
    page = page_as(alice)
    _open(page, daphne, job)
    wait_for(lambda: SyncJob.objects.get(pk=job.pk).prs_synced > 0, timeout=30)

    github.control.revoke_token(acme.token)  # type: ignore[attr-defined]
    revoked = time.monotonic()

    expect(page.get_by_test_id("reconnect-banner")).to_be_visible(timeout=1_000)
    assert time.monotonic() - revoked <= 1.0
    expect(page.get_by_role("button", name="Reconnect GitHub")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "screenshots" / "progress-revoked.png"), full_page=True)


def test_it_recovers_the_right_state_after_a_server_restart_mid_import(
    page_as: OpenPage,
    daphne: DaphneServer,
    acme: Team,
    bob: User,
    github: RunningSandbox,
    worker: Process,
) -> None:
    github.control.set_latency(fixed_ms=150)
    job = services.start_sync(team=acme)
    page = page_as(bob)
    _open(page, daphne, job)
    wait_for(lambda: SyncJob.objects.get(pk=job.pk).prs_synced > 0, timeout=30)
    indicator = page.get_by_test_id("connection")

    daphne.stop()
    expect(indicator).to_have_attribute("data-state", "reconnecting")
    github.control.set_latency(fixed_ms=0)
    finished = wait_for(lambda: SyncJob.objects.get(pk=job.pk).is_finished, timeout=60)
    assert finished
    daphne.start()

    expect(indicator).to_have_attribute("data-state", "connected", timeout=30_000)
    job.refresh_from_db()
    expect(page.get_by_test_id("percent")).to_have_text("100%")
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("reviews-synced")).to_have_text(f"{job.reviews_synced:,}")


def test_it_says_no_worker_runs_when_none_picks_the_import_up(
    page_as: OpenPage, daphne: DaphneServer, acme: Team, alice: User
) -> None:
    no_worker()
    job = services.start_sync(team=acme)
    page = page_as(alice)  # an admin: "Run it now" is theirs (and staff's)
    _open(page, daphne, job)
    banner = page.get_by_test_id("worker-lost-banner")
    expect(banner).to_be_hidden()

    expect(banner).to_be_visible(timeout=20_000)
    expect(banner).to_contain_text("No worker is running")
    page.get_by_role("button", name="Run it now").click()
    expect(page.locator("#sync-action-result")).to_contain_text("Sent to the job queue again")
