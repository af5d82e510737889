from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from sync.access import Action, JobNotFound, NotAllowed, can, get_job_for_user, is_staff
from sync.models import Team
from tests.sync.jobs import make_job


def test_it_gives_a_team_admin_the_job(alice: User, team: Team) -> None:
    job = make_job(team)

    assert get_job_for_user(alice, job.pk) == job


def test_it_gives_a_team_member_the_job(bob: User, team: Team) -> None:
    job = make_job(team)

    assert get_job_for_user(bob, job.pk) == job


def test_it_gives_staff_any_teams_job(sam: User, team: Team) -> None:
    job = make_job(team)

    assert get_job_for_user(sam, job.pk) == job
    assert is_staff(sam)


def test_it_refuses_someone_outside_the_team(charlie: User, team: Team) -> None:
    job = make_job(team)

    with pytest.raises(JobNotFound):
        get_job_for_user(charlie, job.pk)
    assert not is_staff(charlie)


def test_it_refuses_a_member_of_another_team(charlie: User, team: Team) -> None:
    other = Team.objects.create(name="Globex", github_org_id=2002, github_org_login="globex")
    other.memberships.create(user=charlie)

    with pytest.raises(JobNotFound):
        get_job_for_user(charlie, make_job(team).pk)


def test_it_refuses_an_anonymous_visitor(team: Team) -> None:
    job = make_job(team)

    with pytest.raises(JobNotFound):
        get_job_for_user(AnonymousUser(), job.pk)
    assert not is_staff(AnonymousUser())


def test_it_refuses_a_deactivated_member(bob: User, sam: User, team: Team) -> None:
    job = make_job(team)
    User.objects.filter(pk__in=[bob.pk, sam.pk]).update(is_active=False)

    for user in User.objects.filter(pk__in=[bob.pk, sam.pk]):
        with pytest.raises(JobNotFound):
            get_job_for_user(user, job.pk)


def test_it_does_not_tell_a_missing_job_from_a_forbidden_one(sam: User) -> None:
    with pytest.raises(JobNotFound):
        get_job_for_user(sam, 999_999)


# -- the permission table, one case per cell ----------------------------------------------------
# Written out here, not read from sync.access: the test states what each role may do.
TABLE = {
    #                       admin  member staff  outsider
    Action.VIEW: (True, True, True, False),
    Action.START: (True, False, True, False),
    Action.CANCEL: (True, False, True, False),
    Action.RETRY: (True, False, True, False),
    Action.RUN_NOW: (True, False, True, False),
    Action.RECONNECT: (True, False, False, False),
    Action.CHANGE_REPOSITORIES: (True, False, False, False),
    Action.JIRA: (True, False, False, False),
    Action.SLACK: (True, False, False, False),
}
PERSONAS = ("alice", "bob", "sam", "charlie")
CELLS = [
    pytest.param(action, persona, allowed[i], id=f"{action}-{persona}")
    for action, allowed in TABLE.items()
    for i, persona in enumerate(PERSONAS)
]


def test_it_has_a_row_for_every_action() -> None:
    assert set(TABLE) == set(Action)


@pytest.mark.parametrize(("action", "persona", "allowed"), CELLS)
def test_it_allows_each_role_exactly_its_actions_on_a_job(
    action: Action, persona: str, allowed: bool, team: Team, sam: User, charlie: User
) -> None:
    job = make_job(team)
    user = User.objects.get(username=persona)

    if allowed:
        assert get_job_for_user(user, job.pk, action) == job
        assert can(user, team, action)
    elif persona == "charlie":
        with pytest.raises(JobNotFound):  # an outsider is not told the job exists
            get_job_for_user(user, job.pk, action)
        assert not can(user, team, action)
    else:
        with pytest.raises(NotAllowed) as refused:
            get_job_for_user(user, job.pk, action)
        assert str(refused.value).startswith("Only the team's admins")
        assert not can(user, team, action)


def test_it_gives_a_staff_member_of_the_team_the_union_of_both_roles(bob: User, team: Team) -> None:
    User.objects.filter(pk=bob.pk).update(is_staff=True)
    bob.refresh_from_db()
    job = make_job(team)

    assert get_job_for_user(bob, job.pk, Action.CANCEL) == job
    with pytest.raises(NotAllowed):
        get_job_for_user(bob, job.pk, Action.CHANGE_REPOSITORIES)
