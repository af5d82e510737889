"""Every condition a job can be in, as the progress page shows it in Chromium: the heading, the
badge, the banner and the actions (by their accessible names, at most one primary), at 1280
and 375 px, checked by axe-core at both, with a screenshot of each in artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import Page, expect

from sync.models import RepoSync, SyncJob, Team
from tests.browser.axe import look_at
from tests.browser.servers import DaphneServer
from tests.sync.jobs import make_job, no_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IMPORTING = "Importing acme's pull requests"


@dataclass(frozen=True)
class Shown:
    heading: str
    badge: str
    banner: str | None  # the banner's test id
    primary: str | None  # the primary button's (or link's) accessible name
    others: tuple[str, ...] = ()


def _ago(seconds: int) -> object:
    return timezone.now() - timedelta(seconds=seconds)


def _queued(team: Team) -> SyncJob:
    return make_job(team)


def _counting(team: Team) -> SyncJob:
    return make_job(team, status=SyncJob.Status.RUNNING, counted_at=None)


def _running(team: Team) -> SyncJob:
    return make_job(team, status=SyncJob.Status.RUNNING, prs_synced=80, eta_seconds=150)


def _rate_limited(team: Team) -> SyncJob:
    reset = timezone.now() + timedelta(minutes=9)
    return make_job(team, status=SyncJob.Status.WAITING, prs_synced=80, rate_limit_reset_at=reset)


def _retrying(team: Team) -> SyncJob:
    job = make_job(team, status=SyncJob.Status.RUNNING, prs_synced=80)
    RepoSync.objects.filter(job=job).update(
        status=RepoSync.Status.RETRYING,
        attempts=2,
        retry_at=timezone.now() + timedelta(seconds=30),
        error_message="GitHub answered 502: retrying in 4 s (attempt 2 of 6)",
    )
    return job


def _stalled(team: Team) -> SyncJob:
    return make_job(team, status=SyncJob.Status.RUNNING, prs_synced=80, heartbeat_at=_ago(120))


def _worker_lost(team: Team) -> SyncJob:
    return make_job(team, status=SyncJob.Status.RUNNING, prs_synced=80, heartbeat_at=_ago(20))


def _succeeded(team: Team) -> SyncJob:
    job = make_job(team, status=SyncJob.Status.SUCCEEDED, prs_synced=200, percent=100)
    RepoSync.objects.filter(job=job).update(status=RepoSync.Status.SUCCEEDED, prs_synced=100)
    return job


def _partial(team: Team) -> SyncJob:
    job = _succeeded(team)
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.PARTIAL, percent=97)
    RepoSync.objects.filter(job=job, repository__full_name="acme/repo-2").update(
        status=RepoSync.Status.FAILED,
        error_code="repo_gone",
        error_message="The repository was deleted or you lost access to it",
    )
    return job


def _failed(team: Team) -> SyncJob:
    job = make_job(
        team, status=SyncJob.Status.FAILED, error_message="Every repository failed; see each"
    )
    RepoSync.objects.filter(job=job).update(
        status=RepoSync.Status.FAILED, error_code="github_error", error_message="GitHub refused"
    )
    return job


def _revoked(team: Team) -> SyncJob:
    job = make_job(
        team,
        status=SyncJob.Status.FAILED,
        error_code="token_revoked",
        error_message="GitHub access was revoked: reconnect",
    )
    RepoSync.objects.filter(job=job).update(
        status=RepoSync.Status.FAILED, error_code="token_revoked"
    )
    return job


def _cancelled(team: Team) -> SyncJob:
    return make_job(team, status=SyncJob.Status.CANCELLED, prs_synced=60, percent=30)


CANCEL = ("Cancel import",)
STATES: dict[str, tuple[Callable[[Team], SyncJob], bool, Shown]] = {
    "queued": (_queued, True, Shown(IMPORTING, "Waiting for a worker", None, None, CANCEL)),
    "counting": (
        _counting,
        True,
        Shown(IMPORTING, "Counting pull requests", None, None, CANCEL),
    ),
    "running": (_running, True, Shown(IMPORTING, "Importing", None, None, CANCEL)),
    "rate_limited": (
        _rate_limited,
        True,
        Shown(IMPORTING, "Paused by GitHub's rate limit", "rate-limit-banner", None, CANCEL),
    ),
    "retrying": (
        _retrying,
        True,
        Shown(IMPORTING, "Retrying", "retrying-banner", None, CANCEL),
    ),
    "stalled": (
        _stalled,
        True,
        Shown(IMPORTING, "Stalled", "stalled-banner", "Run it now", CANCEL),
    ),
    "worker_lost": (
        _worker_lost,
        False,
        Shown(IMPORTING, "No worker running", "worker-lost-banner", "Run it now", CANCEL),
    ),
    "succeeded": (
        _succeeded,
        True,
        Shown("acme's pull requests are imported", "Done", None, "Continue"),
    ),
    "partial": (
        _partial,
        True,
        Shown(
            "acme's import finished with failures",
            "Done, with failures",
            "failed-banner",
            "Retry failed repositories",
            ("Continue",),
        ),
    ),
    "failed": (
        _failed,
        True,
        Shown("acme's import failed", "Failed", "error-banner", "Retry failed repositories"),
    ),
    "failed_revoked": (
        _revoked,
        True,
        Shown("acme's import failed", "Failed", "reconnect-banner", "Reconnect GitHub"),
    ),
    "cancelled": (
        _cancelled,
        True,
        Shown("acme's import was cancelled", "Cancelled", "cancelled-banner", None),
    ),
}
BANNERS = (
    "rate-limit-banner",
    "retrying-banner",
    "stalled-banner",
    "worker-lost-banner",
    "failed-banner",
    "error-banner",
    "reconnect-banner",
    "cancelled-banner",
)


@pytest.mark.parametrize("name", sorted(STATES))
def test_it_shows_each_condition_with_its_words_and_one_primary_action(
    name: str,
    page_as: Callable[[User], Page],
    daphne: DaphneServer,
    alice: User,
    team: Team,
    request: pytest.FixtureRequest,
) -> None:
    make, workers, shown = STATES[name]
    job = make(team)
    if workers:
        request.getfixturevalue("worker_beating")
    else:
        no_worker()
    page = page_as(alice)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")

    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    expect(page.get_by_role("heading", level=1)).to_have_text(shown.heading)
    expect(page.get_by_test_id("badge")).to_have_text(shown.badge)
    for banner in BANNERS:
        if banner == shown.banner:
            expect(page.get_by_test_id(banner)).to_be_visible()
        else:
            expect(page.get_by_test_id(banner)).to_have_count(0)
    primaries = page.locator("#sync-banners .button.primary")
    if shown.primary is None:
        expect(primaries).to_have_count(0)
    else:
        expect(primaries).to_have_count(1)
        expect(primaries).to_have_accessible_name(shown.primary)
    banners = page.locator("#sync-banners")
    for other in shown.others:
        named = banners.get_by_role("button", name=other).or_(
            banners.get_by_role("link", name=other)
        )
        expect(named).to_be_visible()
    expect(page.get_by_role("progressbar", name="Overall progress")).to_be_visible()
    steps = page.get_by_role("list", name="Onboarding steps")
    expect(steps.locator("[aria-current=step]")).to_have_text("Import")

    # At 1280 and 375 px: nothing overflows, axe-core finds nothing serious; screenshots.
    look_at(page, f"progress-{name}")
