# Fixtures are imported from tests/onboarding/personas.py, so test arguments reuse their names.
# ruff: noqa: F811
from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.db import connection
from dramatiq.brokers.redis import RedisBroker

from sandbox.testing import RunningSandbox
from sync import accounts, services
from sync.github import orgs
from sync.github.client import Viewer
from sync.models import (
    GitHubAccount,
    Integration,
    IntegrationCredential,
    Membership,
    RepoSync,
    SyncJob,
    Team,
    TeamMember,
    TrackedRepository,
)
from tests.onboarding.personas import (  # noqa: F401
    Identity,
    acme,
    alice_github,
    bob_github,
    charlie_github,
    gh,
    identity,
    join,
    mona,
)
from tests.processes import Process, wait_for

MONA = Viewer(id=1001, login="mona", name="Mona Lisa", avatar_url="", scopes=("read:org", "repo"))


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    """The job queue is down: the broker points at a port where nothing listens."""
    working = dramatiq.get_broker()
    dramatiq.set_broker(RedisBroker(url="redis://127.0.0.1:9/0", socket_connect_timeout=0.5))
    yield
    dramatiq.set_broker(working)


# -- signing in --------------------------------------------------------------------------------


def test_it_creates_a_user_on_first_sign_in_with_the_token_encrypted(db: None) -> None:
    user = accounts.sign_in_with_github(
        viewer=MONA, access_token="gho_first_token_value", scopes=MONA.scopes
    )
    account = GitHubAccount.objects.get(user=user)
    assert (account.github_id, account.login, user.username) == (1001, "mona", "gh-mona")
    assert not user.has_usable_password()
    assert account.credential is not None
    assert account.credential.access_token == "gho_first_token_value"
    assert account.credential.scopes == "read:org repo"
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM sync_integrationcredential")
        (stored,) = cursor.fetchone()
    assert "gho_first_token_value" not in stored


def test_it_finds_the_same_user_by_github_id_after_a_rename(db: None) -> None:
    first = accounts.sign_in_with_github(viewer=MONA, access_token="gho_one", scopes=MONA.scopes)
    renamed = Viewer(1001, "mona-renamed", "Mona", "", ("read:org", "repo"))
    again = accounts.sign_in_with_github(viewer=renamed, access_token="gho_two", scopes=())
    assert again.pk == first.pk
    assert User.objects.count() == 1
    assert IntegrationCredential.objects.count() == 1
    account = GitHubAccount.objects.get(user=again)
    assert account.login == "mona-renamed"
    assert account.credential is not None and account.credential.access_token == "gho_two"


def test_it_never_takes_over_a_local_user_with_the_same_name(alice: User) -> None:
    impostor = Viewer(4242, "alice", "", "", ("read:org", "repo"))
    alice.username = "gh-alice"
    alice.save()
    user = accounts.sign_in_with_github(viewer=impostor, access_token="gho_x", scopes=())
    assert user.pk != alice.pk
    assert user.username == "gh-alice-2"


def test_it_reactivates_a_revoked_integration_when_its_owner_reconnects(acme: Membership) -> None:
    integration = Integration.objects.get(team=acme.team, provider="github")
    integration.status = Integration.Status.REVOKED
    integration.save()
    account = GitHubAccount.objects.get(user=acme.user)
    viewer = Viewer(account.github_id, "mona", "", "", ("read:org", "repo"))
    accounts.sign_in_with_github(viewer=viewer, access_token="gho_fresh", scopes=viewer.scopes)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.ACTIVE
    assert integration.credential is not None
    assert integration.credential.access_token == "gho_fresh"


# -- choosing the organization ---------------------------------------------------------------


def test_it_creates_the_team_with_its_creator_as_admin(acme: Membership) -> None:
    team = acme.team
    assert (team.github_org_login, acme.role) == ("acme", Membership.Role.ADMIN)
    integration = Integration.objects.get(team=team, provider="github")
    assert integration.status == Integration.Status.ACTIVE
    assert integration.credential == GitHubAccount.objects.get(user=acme.user).credential


def test_it_never_makes_two_teams_for_one_organization(
    acme: Membership, alice: User, alice_github: Identity
) -> None:
    again = join(alice, alice_github)
    assert again.pk == acme.pk
    assert Team.objects.count() == 1
    assert Membership.objects.count() == 1
    assert Integration.objects.count() == 1


def test_it_makes_a_plain_org_member_a_member_when_joining(
    acme: Membership, bob: User, bob_github: Identity
) -> None:
    membership = join(bob, bob_github)
    assert membership.team == acme.team
    assert membership.role == Membership.Role.MEMBER
    # the team keeps the integration its admin set up
    integration = Integration.objects.get(team=acme.team)
    assert integration.credential == GitHubAccount.objects.get(user=acme.user).credential


def test_it_makes_an_org_admin_an_admin_when_joining(
    gh: RunningSandbox, bob: User, bob_github: Identity
) -> None:
    # bob creates the team; mona, an admin of acme on GitHub, joins it as admin
    join(bob, bob_github)
    other = User.objects.create_user("olga")
    mona = identity(gh, "mona")
    GitHubAccount.objects.create(
        user=other,
        github_id=mona.id,
        login="mona",
        credential=IntegrationCredential.objects.create(
            user=other, provider="github", access_token=mona.token
        ),
    )
    membership = join(other, mona)
    assert membership.role == Membership.Role.ADMIN


def test_it_refuses_a_pending_invitation(alice: User, alice_github: Identity) -> None:
    found = orgs.get_org_membership(alice_github.token, "acme")
    pending = orgs.OrgMembership(found.organization, "member", "pending")
    with pytest.raises(accounts.NotInOrganization):
        accounts.choose_organization(user=alice, org_membership=pending)
    assert not Team.objects.exists()


@pytest.mark.slow
def test_it_imports_the_org_members_after_choosing_it(
    transactional_db: None, alice: User, alice_github: Identity, worker: Process
) -> None:
    membership = join(alice, alice_github)
    wait_for(lambda: TeamMember.objects.filter(team=membership.team).count() >= 2, timeout=30)
    logins = set(TeamMember.objects.filter(team=membership.team).values_list("login", flat=True))
    assert "mona" in logins


# -- who may see a team -----------------------------------------------------------------------


def test_it_finds_a_members_team_and_refuses_everyone_else(acme: Membership, charlie: User) -> None:
    found = accounts.get_membership_for_user(user=acme.user, team_id=acme.team_id)
    assert found.pk == acme.pk
    assert accounts.get_membership_for_user(user=acme.user, team_id=None).pk == acme.pk
    with pytest.raises(accounts.NotAMember):
        accounts.get_membership_for_user(user=charlie, team_id=acme.team_id)
    with pytest.raises(accounts.NotAMember):
        accounts.get_membership_for_user(user=charlie, team_id=None)


# -- choosing repositories -------------------------------------------------------------------


def test_it_tracks_the_chosen_repositories_and_queues_their_import(acme: Membership) -> None:
    available = accounts.list_selectable_repositories(membership=acme)
    chosen = accounts.find_selectable_repositories(
        membership=acme, ids=[r.id for r in available[:2]]
    )
    job = accounts.select_repositories(membership=acme, repositories=chosen)
    assert job.status == SyncJob.Status.QUEUED and job.kind == SyncJob.Kind.INITIAL
    tracked = TrackedRepository.objects.filter(team=acme.team)
    assert {t.github_id for t in tracked} == {r.id for r in chosen}
    assert RepoSync.objects.filter(job=job).count() == 2


def test_it_refuses_repository_ids_that_are_not_the_orgs(acme: Membership) -> None:
    available = accounts.list_selectable_repositories(membership=acme)
    with pytest.raises(accounts.UnknownRepositories) as raised:
        accounts.find_selectable_repositories(membership=acme, ids=[available[0].id, 999_999])
    assert raised.value.ids == [999_999]


def test_it_refuses_another_orgs_repository(acme: Membership, alice_github: Identity) -> None:
    globex = orgs.list_org_repos(alice_github.token, "globex")
    with pytest.raises(accounts.UnknownRepositories):
        accounts.find_selectable_repositories(membership=acme, ids=[globex[0].id])


def test_it_leaves_nothing_behind_when_the_queue_is_down(
    acme: Membership, unreachable_broker: None
) -> None:
    chosen = accounts.list_selectable_repositories(membership=acme)[:3]
    with pytest.raises(services.BrokerUnavailable):
        accounts.select_repositories(membership=acme, repositories=chosen)
    assert not TrackedRepository.objects.exists()
    assert not SyncJob.objects.exists()


def test_it_refuses_a_second_import_while_one_runs(acme: Membership) -> None:
    chosen = accounts.list_selectable_repositories(membership=acme)[:2]
    first = accounts.select_repositories(membership=acme, repositories=chosen)
    with pytest.raises(services.SyncAlreadyRunning) as raised:
        accounts.select_repositories(membership=acme, repositories=chosen)
    assert raised.value.job_id == first.pk
    assert SyncJob.objects.count() == 1


def test_it_lets_only_admins_choose_repositories_or_start_imports(
    acme: Membership, bob: User, bob_github: Identity
) -> None:
    member = join(bob, bob_github)
    chosen = accounts.list_selectable_repositories(membership=acme)[:1]
    with pytest.raises(accounts.NotAdmin):
        accounts.select_repositories(membership=member, repositories=chosen)
    with pytest.raises(accounts.NotAdmin):
        accounts.start_incremental_sync(membership=member)
    assert not SyncJob.objects.exists()


def test_it_starts_an_incremental_sync_of_every_tracked_repository(acme: Membership) -> None:
    chosen = accounts.list_selectable_repositories(membership=acme)[:2]
    first = accounts.select_repositories(membership=acme, repositories=chosen)
    SyncJob.objects.filter(pk=first.pk).update(status=SyncJob.Status.SUCCEEDED)
    job = accounts.start_incremental_sync(membership=acme)
    assert job.kind == SyncJob.Kind.INCREMENTAL
    assert RepoSync.objects.filter(job=job).count() == 2
