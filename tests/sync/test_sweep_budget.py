"""The sweep's share of the GitHub budget. No worker runs here: an import started in a test
stays queued, as one does between the click and a worker picking it up, needing its points."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import services, sweep
from sync.github.client import get_viewer
from sync.models import Membership, SyncJob, Team
from tests.sync.importing import connect, forget_github_budgets, track_all

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Iterator[Team]:
    forget_github_budgets()
    token = connect(team, alice, github)
    get_viewer(token)  # sign-in remembers whose token it is: budgets are per GitHub user
    track_all(team, token)
    _imported(team)
    yield team
    dramatiq.get_broker().flush_all()  # the queued imports of these tests go nowhere


@pytest.fixture
def globex(alice: User, github: RunningSandbox) -> Team:
    """Alice's second organization, on another token of the same GitHub user (mona)."""
    team = Team.objects.create(name="Globex", github_org_id=1002, github_org_login="globex")
    Membership.objects.create(user=alice, team=team, role=Membership.Role.ADMIN)
    token = connect(team, alice, github)
    get_viewer(token)
    track_all(team, token)
    _imported(team)
    return team


def _imported(team: Team) -> None:
    """An import of the team ended (its repositories' marks stay empty: all of them changed)."""
    SyncJob.objects.create(team=team, status=SyncJob.Status.SUCCEEDED, finished_at=timezone.now())


def _graphql_requests(github: RunningSandbox) -> int:
    return int(github.control.counters()["by_endpoint"].get("POST /graphql", 0))


def test_it_defers_a_sweep_while_an_import_on_the_same_github_user_needs_the_budget(
    acme: Team, globex: Team, github: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    github.control.set_budget(login="mona", resource="graphql", remaining=60)
    onboarding = services.start_sync(team=acme)
    github.control.reset_counters()

    deferred = sweep.sweep_team(globex.pk)

    assert deferred.status == "deferred", deferred
    assert "imports on the same token need" in deferred.reason
    assert _graphql_requests(github) == 0  # not even the question of what changed
    assert not SyncJob.objects.filter(team=globex, kind=SyncJob.Kind.SWEEP).exists()
    assert any(
        r.levelname == "WARNING" and "sweep deferred" in r.getMessage() for r in caplog.records
    )
    # The same budget with no import waiting for it: the sweep goes ahead.
    services.cancel_job(job=onboarding)
    ahead = sweep.sweep_team(globex.pk)
    assert ahead.status == "syncing", ahead
    assert SyncJob.objects.filter(team=globex, kind=SyncJob.Kind.SWEEP).count() == 1


def test_it_syncs_what_fits_its_share_and_leaves_the_rest_for_a_later_sweep(
    acme: Team, github: RunningSandbox
) -> None:
    # 55 points left, 50 kept back for the user: 5 for the sweep, 1 of them to ask what changed.
    github.control.set_budget(login="mona", resource="graphql", remaining=55)

    outcome = sweep.sweep_team(acme.pk)

    assert outcome.status == "syncing", outcome
    assert (len(outcome.changed), len(outcome.deferred)) == (3, 3)
    job = SyncJob.objects.get(pk=int(outcome.job_id or 0))
    assert job.repo_syncs.count() == 3
    assert "3 more deferred" in outcome.reason


def test_it_skips_a_team_whose_github_access_was_revoked(
    acme: Team, github: RunningSandbox
) -> None:
    github.control.revoke_token(acme.integrations.get().credential.access_token)  # type: ignore[union-attr]

    outcome = sweep.sweep_team(acme.pk)

    assert outcome.status == "failed" and "reconnect GitHub" in outcome.reason
    assert not SyncJob.objects.filter(team=acme, kind=SyncJob.Kind.SWEEP).exists()


def test_it_leaves_a_team_alone_until_an_import_of_it_ended(
    acme: Team, globex: Team, github: RunningSandbox
) -> None:
    globex.sync_jobs.all().delete()  # connected, repositories chosen, import not started yet
    github.control.reset_counters()

    outcome = sweep.sweep_team(globex.pk)

    assert outcome.status == "skipped" and outcome.reason == "nothing was imported yet"
    assert github.control.counters()["requests"] == 0
    assert sweep.teams_to_sweep() == [acme.pk]


def test_it_tells_when_github_fails_and_sweeps_again_next_period(
    acme: Team, github: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    github.control.add_fault("^/api/graphql$", kind="status", status=502, count=1)

    failed = sweep.sweep_team(acme.pk)
    again = sweep.sweep_team(acme.pk)

    assert failed.status == "failed" and "(502)" in failed.reason, failed
    assert "the next period tries again" in failed.reason
    assert any(
        r.levelname == "WARNING" and "sweep failed" in r.getMessage() for r in caplog.records
    )
    assert again.status == "syncing", again
    assert SyncJob.objects.filter(team=acme, kind=SyncJob.Kind.SWEEP).count() == 1
