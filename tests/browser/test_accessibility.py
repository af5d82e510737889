"""The pages the flow's walk does not reach, at 1280 and 375 px: axe-core finds no serious or
critical violation, nothing overflows the viewport or floats over the content, and each leaves
a screenshot in artifacts/screenshots/. The walk itself (start, organizations, repositories,
progress) is tests/browser/test_onboarding_flow.py; every progress state is
tests/browser/test_progress_states.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from sync.models import AuditEvent, RepoSync, SyncJob, Team, TrackedRepository
from tests.browser.axe import check_text_fits, look_at
from tests.browser.servers import DaphneServer
from tests.sync.jobs import make_job

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("worker_beating"),
]

OpenPage = Callable[[User], Page]
LONG = "platform-infrastructure-and-developer-experience-guild"


@pytest.fixture
def busy_teams(team: Team, alice: User, sam: User) -> list[SyncJob]:
    """acme importing, a long-named team partly imported, with an audit trail."""
    running = make_job(team, status=SyncJob.Status.RUNNING, prs_synced=12_345, repos=3)
    TrackedRepository.objects.create(team=team, github_id=9_999, full_name=f"acme/{LONG}-service")
    long = Team.objects.create(name="Guild", github_org_id=3003, github_org_login=LONG)
    long.memberships.create(user=alice, role="admin")
    partial = make_job(long, status=SyncJob.Status.PARTIAL, prs_synced=2_500, percent=97)
    RepoSync.objects.filter(job=partial).update(
        status=RepoSync.Status.FAILED, error_message="Repository access blocked by SAML SSO"
    )
    AuditEvent.objects.create(
        actor=sam,
        team=team,
        action="sync.cancel",
        params={"job": running.pk, "reason": "a long-running test import"},
        outcome="cancelled",
    )
    return [running, partial]


def test_it_keeps_the_staff_pages_usable_and_accessible_on_a_phone(
    page_as: OpenPage, daphne: DaphneServer, sam: User, busy_teams: list[SyncJob]
) -> None:
    running, partial = busy_teams
    page = page_as(sam)

    page.goto(f"{daphne.url}/staff/syncs/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    look_at(page, "staff-syncs")

    page.goto(f"{daphne.url}/staff/syncs/teams/{running.team_id}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(page.get_by_test_id("prs-synced")).to_have_text("12,345")  # thousands separated
    look_at(page, "staff-team")

    page.goto(f"{daphne.url}/staff/syncs/teams/{partial.team_id}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    look_at(page, "staff-team-partial")

    page.goto(f"{daphne.url}/staff/syncs/audit/")
    expect(page.get_by_test_id("audit-row")).to_have_count(1)
    look_at(page, "staff-audit")

    page.goto(f"{daphne.url}/staff/syncs/teams/{running.team_id}/")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("confirm")).to_be_visible()
    look_at(page, "staff-confirm")


def test_it_asks_before_cancelling_on_a_page_that_fits_a_phone(
    page_as: OpenPage, daphne: DaphneServer, alice: User, busy_teams: list[SyncJob]
) -> None:
    running = busy_teams[0]
    page = page_as(alice)
    page.goto(f"{daphne.url}/onboarding/sync/{running.pk}/cancel/")
    expect(page.get_by_role("heading", name="Cancel import of acme?")).to_be_visible()
    look_at(page, "progress-cancel-confirm")


def test_it_truncates_long_repository_names_on_the_progress_page(
    page_as: OpenPage, daphne: DaphneServer, alice: User, team: Team
) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING, repos=2)
    TrackedRepository.objects.filter(team=team).update(full_name=f"acme/{LONG}-{LONG}")
    page = page_as(alice)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    check_text_fits(page, "#sync-repos .repo-name")
    look_at(page, "progress-long-names")


def test_it_explains_a_stale_sign_in_link_on_a_page_that_fits_a_phone(
    browser: Browser, daphne: DaphneServer
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{daphne.url}/onboarding/github/callback/?code=used&state=stale")
        expect(page.get_by_test_id("problem")).to_have_attribute("data-code", "state_mismatch")
        look_at(page, "github-problem")
    finally:
        context.close()
