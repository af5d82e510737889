from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from sync.access import JobNotFound, get_job_for_user, is_staff
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
