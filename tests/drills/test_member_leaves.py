"""Drill: the admin whose GitHub token runs an import leaves the organization mid-import while
her browser watches, over real processes (Daphne, a `rundramatiq` worker, the sandbox GitHub,
Chromium).

Her next page of a private repository meets a 404; GitHub, asked, says she is no longer a
member: within seconds her socket closes with "signed out", her next page load is refused,
and the import goes on with the token of a member who still belongs, ending equal to GitHub's
truth. With no such member it stops instead, saying why on the page of whoever remains.
Signing out closes every live page of the user in the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from sandbox.testing import RunningSandbox
from sync import memberships, services
from sync.models import AuditEvent, Membership, RepoSync, SyncJob, Team
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.onboarding.personas import connect, identity, join, plain_member
from tests.processes import Process, wait_for
from tests.sync.importing import (
    forget_github_budgets,
    since_of,
    start_sync_worker,
    track_all,
    truth_from_db,
)
from tests.sync.importing import wait_finished as wait_job_finished
from tests.sync.jobs import make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OpenPage = Callable[[User], Page]
CLOSED_WITHIN_S = 10
ALL_HISTORY = timedelta(days=800)
THREADS = 2  # pages in flight at once
SLOW_MS = 2500  # GitHub's answer time until she leaves: the import outlasts opening the pages


@pytest.fixture
def sync_worker(request: pytest.FixtureRequest, github: RunningSandbox) -> Iterator[Process]:
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    worker = start_sync_worker(log, threads=THREADS, GITHUB_API_URL=github.api_url)
    yield worker
    worker.stop()


def _start_slow_import(team: Team, github: RunningSandbox) -> SyncJob:
    forget_github_budgets()
    github.control.set_latency(fixed_ms=SLOW_MS)  # slow enough to leave mid-import
    return services.start_sync(team=team, history_since=timezone.now() - ALL_HISTORY)


def _watch(page: Page, daphne: DaphneServer, job: SyncJob) -> None:
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def _leave_mid_import(github: RunningSandbox, job: SyncJob) -> float:
    """Wait for the first page written, then take mona out of acme; return when she left."""
    wait_for(lambda: RepoSync.objects.filter(job=job, pages_done__gt=0).exists(), timeout=60)
    assert not SyncJob.objects.get(pk=job.pk).is_finished
    github.control.remove_member("acme", "mona")
    left = time.monotonic()
    github.control.set_latency(fixed_ms=50)  # the rest of the import goes fast
    return left


def test_it_closes_the_leavers_page_and_goes_on_with_a_members_token(
    acme_admin: Membership,
    bob: User,
    github: RunningSandbox,
    daphne: DaphneServer,
    page_as: OpenPage,
    sync_worker: Process,
) -> None:
    team, alice = acme_admin.team, acme_admin.user
    member = identity(github, plain_member(github))
    connect(bob, member)
    join(bob, member)
    track_all(team, identity(github, "mona").token)
    job = _start_slow_import(team, github)
    alices_page, bobs_page = page_as(alice), page_as(bob)
    _watch(alices_page, daphne, job)
    _watch(bobs_page, daphne, job)

    left = _leave_mid_import(github, job)
    expect(alices_page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "closed", timeout=CLOSED_WITHIN_S * 1000
    )
    closed_after = time.monotonic() - left
    github.control.reset_counters()  # from here on: which tokens the import uses

    assert "signed out" in alices_page.get_by_test_id("connection").inner_text()
    alices_page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    assert alices_page.url.startswith(f"{daphne.url}/onboarding/start/")  # refused: sign in
    event = AuditEvent.objects.get(action=memberships.REMOVED)
    assert event.params["user"] == alice.username and event.team == team
    job = wait_job_finished(job, timeout=180)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert truth_from_db(team) == github.control.truth("acme", since=since_of(job))
    by_login = github.control.counters()["by_login"]
    print(f"socket closed {closed_after:.1f} s after leaving; requests since: {by_login}")
    # Pages already in flight when she left may finish on her token; none start on it.
    assert by_login.get("mona", 0) <= THREADS and by_login[member.login] > 0
    assert not Membership.objects.filter(user=alice).exists()
    expect(bobs_page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(bobs_page.get_by_test_id("percent")).to_have_text("100%", timeout=30_000)


def test_it_stops_the_import_saying_why_when_no_member_has_a_token(
    acme_admin: Membership,
    bob: User,
    github: RunningSandbox,
    daphne: DaphneServer,
    page_as: OpenPage,
    sync_worker: Process,
) -> None:
    team, alice = acme_admin.team, acme_admin.user
    team.memberships.create(user=bob, role=Membership.Role.MEMBER)  # never connected GitHub
    track_all(team, identity(github, "mona").token)
    job = _start_slow_import(team, github)
    alices_page, bobs_page = page_as(alice), page_as(bob)
    _watch(alices_page, daphne, job)
    _watch(bobs_page, daphne, job)

    _leave_mid_import(github, job)

    expect(alices_page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "closed", timeout=CLOSED_WITHIN_S * 1000
    )
    job = wait_job_finished(job, timeout=60)
    assert job.status == SyncJob.Status.FAILED and job.error_code == "owner_left"
    banner = bobs_page.locator("p", has_text="The import failed:")
    expect(banner).to_contain_text(memberships.OWNER_LEFT, timeout=10_000)
    assert Membership.objects.filter(user=bob, team=team).exists()


def test_it_closes_every_live_page_of_a_user_who_signs_out(
    acme_admin: Membership, daphne: DaphneServer, page_as: OpenPage
) -> None:
    job = make_job(acme_admin.team, status=SyncJob.Status.RUNNING)
    watching = page_as(acme_admin.user)
    _watch(watching, daphne, job)
    other_tab = watching.context.new_page()
    _watch(other_tab, daphne, job)

    other_tab.get_by_test_id("sign-out").click()

    expect(other_tab).to_have_url(f"{daphne.url}/onboarding/start/")
    expect(watching.get_by_test_id("connection")).to_have_attribute(
        "data-state", "closed", timeout=CLOSED_WITHIN_S * 1000
    )
    assert "signed out" in watching.get_by_test_id("connection").inner_text()
    watching.reload()
    assert watching.url.startswith(f"{daphne.url}/onboarding/start/")
