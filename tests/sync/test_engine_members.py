"""The members of the organization, read when an import starts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from sandbox.testing import RunningSandbox
from sync import engine
from sync.models import Team, TeamMember
from tests.sync.importing import connect, forget_github_budgets
from tests.sync.jobs import make_job

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_hands_the_members_to_their_actor_when_github_fails_them_at_the_start(
    team: Team, alice: User, github: RunningSandbox
) -> None:
    forget_github_budgets()
    connect(team, alice, github)
    job = make_job(team)
    github.control.add_fault("^/api/v3/orgs/acme/members", status=502, count=1)

    steps = engine.start_job(job.pk)

    assert steps == [engine.SyncMembers(team.pk), engine.StartNext(job.pk)]  # the import goes on
    assert not TeamMember.objects.filter(team=team).exists()
    engine.sync_team_members(team.pk)  # what the members actor runs, with its retries
    assert TeamMember.objects.filter(team=team).count() == 8
