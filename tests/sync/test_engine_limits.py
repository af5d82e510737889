from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import progress, services
from sync.github.client import Session
from sync.github.org import list_members
from sync.models import Integration, RepoSync, SyncJob, Team
from tests.processes import Process
from tests.sync.importing import (
    GroupListener,
    connect,
    forget_github_budgets,
    since_of,
    track_all,
    truth_from_db,
    wait_finished,
    worker_for_module,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

RESET_IN_S = 10


@pytest.fixture(scope="module")
def worker(
    django_db_setup: None, django_db_blocker: Any, sandbox: RunningSandbox
) -> Iterator[Process]:
    """One real worker process for the module, on this run's database, Redis and sandbox."""
    with worker_for_module(__name__.rsplit(".", 1)[-1], django_db_blocker, sandbox) as process:
        yield process


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Team:
    forget_github_budgets()
    token = connect(team, alice, github)
    track_all(team, token)
    return team


@pytest.fixture
def globex(bob: User, github: RunningSandbox, acme: Team) -> Team:
    """Another team on another organization, whose token belongs to another GitHub user."""
    mona = Integration.objects.get(team=acme).credential.access_token  # type: ignore[union-attr]
    members = list_members(Session(mona), org="globex")
    login = next(m.login for m in members if m.login != "mona" and not m.is_bot)
    team = Team.objects.create(name="Globex", github_org_id=1002, github_org_login="globex")
    team.memberships.create(user=bob, role="admin")  # imports run on a member's token
    token = connect(team, bob, github, login=login)
    track_all(team, token)
    return team


def test_it_waits_for_the_budget_reset_while_another_team_keeps_going(
    acme: Team, globex: Team, github: RunningSandbox, worker: Process
) -> None:
    token = Integration.objects.get(team=acme).credential.access_token  # type: ignore[union-attr]
    github.control.set_budget(token=token, resource="graphql", remaining=0, reset_in=RESET_IN_S)
    reset_at = timezone.now() + timedelta(seconds=RESET_IN_S)
    since = timezone.now() - timedelta(days=800)

    with GroupListener(progress.team_group(acme.pk)) as events:
        waiting = services.start_sync(team=acme, history_since=since)
        shown = events.wait_for_state(lambda s: s["status"] == SyncJob.Status.WAITING)
        other = wait_finished(services.start_sync(team=globex, history_since=since), timeout=20)
        still = SyncJob.objects.get(pk=waiting.pk)
        waiting = wait_finished(waiting, timeout=30)

    assert other.status == SyncJob.Status.SUCCEEDED
    assert other.finished_at < reset_at  # type: ignore[operator]
    assert still.status == SyncJob.Status.WAITING
    assert abs((still.rate_limit_reset_at - reset_at).total_seconds()) <= 2  # type: ignore[operator]
    assert shown["rate_limit_reset_at"] == still.rate_limit_reset_at.isoformat()  # type: ignore[union-attr]
    assert any(repo["status"] == RepoSync.Status.WAITING for repo in shown["repos"])
    assert waiting.status == SyncJob.Status.SUCCEEDED
    assert waiting.finished_at > still.rate_limit_reset_at  # type: ignore[operator]
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(waiting))
    assert truth_from_db(globex) == github.control.truth("globex", since=since_of(other))
    repos = RepoSync.objects.filter(job=waiting).count()
    assert github.control.counters()["rate_limited"] <= repos  # known spent: no more asking
