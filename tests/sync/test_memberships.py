# Fixtures are imported from tests/onboarding/personas.py, so test arguments reuse their names.
# ruff: noqa: F811
"""Access follows GitHub: who leaves the organization loses the team, at sign-in, at a member
sync and when an import's token meets a 404, against the sandbox GitHub over real HTTP."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client

from sandbox.testing import RunningSandbox
from sync import accounts, engine, memberships, services
from sync.engine.members import OwnerLeft
from sync.engine.tokens import MissingToken, team_token
from sync.github import orgs
from sync.models import AuditEvent, Integration, Membership, RepoSync, SyncJob, Team, TeamMember
from tests.onboarding.personas import (  # noqa: F401
    Identity,
    acme,
    alice_github,
    bob_github,
    gh,
    join,
    mona,
)
from tests.sync.importing import forget_github_budgets, track_all

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme_team(acme: Membership, bob: User, bob_github: Identity) -> Team:
    """Alice (mona, an org admin) created acme; Bob, a plain org member, joined it."""
    join(bob, bob_github)
    engine.sync_team_members(acme.team_id)
    return acme.team


def _session_of(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _browser_with(session_id: str) -> Client:
    client = Client()
    client.cookies["sessionid"] = session_id
    return client


def test_it_takes_the_team_from_a_member_who_left_at_the_next_member_sync(
    acme_team: Team, alice: User, bob: User, bob_github: Identity, gh: RunningSandbox
) -> None:
    bobs, alices = _session_of(bob), _session_of(alice)
    assert _browser_with(bobs).get("/onboarding/complete/").status_code == 200

    gh.control.remove_member("acme", bob_github.login)
    engine.sync_team_members(acme_team.pk)

    assert list(Membership.objects.filter(team=acme_team).values_list("user__username")) == [
        ("alice",)
    ]
    assert TeamMember.objects.get(team=acme_team, login=bob_github.login).role == ""
    event = AuditEvent.objects.get(action=memberships.REMOVED)
    assert event.team == acme_team and event.params["user"] == "bob"
    assert "no longer a member of the organization on GitHub" in event.outcome
    assert not Session.objects.filter(pk=bobs).exists()
    assert Session.objects.filter(pk=alices).exists()
    refused = _browser_with(bobs).get("/onboarding/complete/")
    assert refused.status_code == 302 and refused["Location"].startswith("/onboarding/start/")
    assert _browser_with(alices).get("/onboarding/complete/").status_code == 200


def test_it_moves_imports_to_a_remaining_members_token_when_their_owner_left(
    acme_team: Team, alice: User, bob: User, bob_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.remove_member("acme", "mona")

    with pytest.raises(OwnerLeft):  # mona's view of acme is an outsider's now
        engine.sync_team_members(acme_team.pk)

    assert not Membership.objects.filter(user=alice).exists()
    assert Membership.objects.filter(user=bob, team=acme_team).exists()  # not judged on it
    assert team_token(acme_team.pk).token == bob_github.token
    integration = Integration.objects.select_related("credential").get(team=acme_team)
    assert integration.credential.user == bob  # type: ignore[union-attr]
    assert integration.status == Integration.Status.ACTIVE
    assert "imports now use" in AuditEvent.objects.get(action=memberships.REMOVED).outcome
    assert engine.sync_team_members(acme_team.pk) == 7  # on bob's token, mona gone


def test_it_stops_imports_saying_why_when_no_member_is_left_to_import_with(
    acme: Membership, alice: User, gh: RunningSandbox
) -> None:
    team = acme.team
    gh.control.remove_member("acme", "mona")
    with pytest.raises(OwnerLeft):
        engine.sync_team_members(team.pk)
    job = SyncJob.objects.create(team=team, repos_total=0)

    assert engine.start_job(job.pk) == []

    with pytest.raises(MissingToken) as missing:
        team_token(team.pk)
    assert missing.value.code == "owner_left"
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED and job.error_message == memberships.OWNER_LEFT
    integration = Integration.objects.get(team=team)
    assert integration.status == Integration.Status.ERROR
    assert "an admin must connect GitHub again" in integration.status_detail


def test_it_rechecks_every_team_at_sign_in(
    acme_team: Team, bob: User, bob_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.remove_member("acme", bob_github.login)
    viewer = orgs.preflight(bob_github.token)

    accounts.sign_in_with_github(viewer=viewer, access_token=bob_github.token, scopes=viewer.scopes)

    assert not Membership.objects.filter(user=bob).exists()
    assert "checked at sign-in" in AuditEvent.objects.get(action=memberships.REMOVED).outcome


def test_it_keeps_the_team_when_github_does_not_answer_at_sign_in(
    acme_team: Team, bob: User, bob_github: Identity, gh: RunningSandbox
) -> None:
    viewer = orgs.preflight(bob_github.token)
    gh.control.add_fault("^/api/v3/user/memberships/orgs/", status=502)

    accounts.sign_in_with_github(viewer=viewer, access_token=bob_github.token, scopes=viewer.scopes)

    assert Membership.objects.filter(user=bob, team=acme_team).exists()
    assert not AuditEvent.objects.filter(action=memberships.REMOVED).exists()


def test_it_goes_on_with_a_remaining_members_token_when_a_page_meets_a_404(
    acme_team: Team, alice: User, mona: Identity, bob_github: Identity, gh: RunningSandbox
) -> None:
    forget_github_budgets()
    track_all(acme_team, mona.token)
    job = services.start_sync(team=acme_team)
    engine.start_job(job.pk)
    sends = engine.start_next_repositories(job.pk)
    private = next(
        step for step in sends if RepoSync.objects.get(pk=step.repo_sync_id).repository.private
    )
    gh.control.remove_member("acme", "mona")
    gh.control.reset_counters()

    again = engine.sync_page(private.repo_sync_id, page=0)

    assert again == [engine.SendPage(private.repo_sync_id, 0)]  # not failed: retried
    assert not Membership.objects.filter(user=alice).exists()
    engine.sync_page(private.repo_sync_id, page=0)
    repo_sync = RepoSync.objects.get(pk=private.repo_sync_id)
    assert repo_sync.status != RepoSync.Status.FAILED and repo_sync.pages_done == 1
    by_login = gh.control.counters()["by_login"]
    assert by_login.get("mona") == 2  # the page that met the 404, and the membership check
    assert by_login[bob_github.login] >= 1


def test_it_does_not_resume_imports_for_a_leaver_who_signs_in_again(
    acme: Membership, alice: User, mona: Identity, gh: RunningSandbox
) -> None:
    team = acme.team
    gh.control.remove_member("acme", "mona")
    with pytest.raises(OwnerLeft):
        engine.sync_team_members(team.pk)
    viewer = orgs.preflight(mona.token)

    accounts.sign_in_with_github(viewer=viewer, access_token=mona.token, scopes=viewer.scopes)

    integration = Integration.objects.get(team=team)
    assert integration.status == Integration.Status.ERROR  # not "Reconnected."
    assert not Membership.objects.filter(user=alice).exists()
