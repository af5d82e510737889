from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sync import progress
from sync.consumers import staff_snapshot
from sync.models import RepoSync, SyncJob, Team
from tests.sync.jobs import make_job

pytestmark = pytest.mark.django_db


def test_it_reads_the_states_of_many_jobs_in_one_query(
    team: Team, django_assert_num_queries: Any
) -> None:
    globex = Team.objects.create(name="Globex", github_org_id=2002, github_org_login="globex")
    now = timezone.now()
    waiting = make_job(
        team,
        repos=3,
        status=SyncJob.Status.WAITING,
        rate_limit_reset_at=now + timedelta(minutes=5),
        started_at=now,
        heartbeat_at=now,
        eta_seconds=90,
        version=7,
    )
    RepoSync.objects.filter(job=waiting).update(prs_synced=40, attempts=2)
    RepoSync.objects.filter(job=waiting, repository__full_name="acme/repo-2").update(
        status=RepoSync.Status.RETRYING, retry_at=now + timedelta(seconds=8), error_message="502"
    )
    failed = make_job(
        globex,
        repos=2,
        status=SyncJob.Status.FAILED,
        error_code="token_revoked",
        error_message="GitHub access was revoked: reconnect",
        finished_at=now,
    )
    empty = SyncJob.objects.create(team=globex, status=SyncJob.Status.CANCELLED)
    jobs = list(
        SyncJob.objects.select_related("team").filter(pk__in=[waiting.pk, failed.pk, empty.pk])
    )

    with django_assert_num_queries(1):
        states = {state.id: state for state in progress.snapshots(jobs)}

    assert states[waiting.pk].rate_limit_reset_at == now + timedelta(minutes=5)
    assert (states[waiting.pk].version, states[waiting.pk].team_name) == (7, "acme")
    repos = states[waiting.pk].repos
    assert [repo.repository for repo in repos] == [f"acme/repo-{n}" for n in (1, 2, 3)]
    assert repos[1].status == RepoSync.Status.RETRYING and repos[1].error_message == "502"
    assert repos[1].retry_at == now + timedelta(seconds=8)
    assert {repo.prs_synced for repo in repos} == {40}
    assert states[failed.pk].error_code == "token_revoked"
    assert len(states[failed.pk].repos) == 2 and states[empty.pk].repos == ()
    fresh = progress.snapshot(waiting)
    assert fresh.repos == states[waiting.pk].repos and fresh.version == 7


def test_it_opens_the_staff_socket_on_a_snapshot_of_a_few_queries(
    team: Team, django_assert_max_num_queries: Any
) -> None:
    for number in range(20):
        other = Team.objects.create(
            name=f"T{number}", github_org_id=3000 + number, github_org_login=f"t{number}"
        )
        make_job(other, repos=2, status=SyncJob.Status.SUCCEEDED)

    with django_assert_max_num_queries(3):  # active jobs, recent jobs, their repositories
        html, states = staff_snapshot()

    assert len(states) == 20 and html.count("<tr") >= 20
