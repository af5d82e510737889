from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sync import progress
from sync.models import RepoSync, SyncJob, Team
from sync.staff.snapshots import snapshots
from tests.sync.jobs import make_job

pytestmark = pytest.mark.django_db


def test_it_builds_the_same_job_states_as_the_publisher(team: Team) -> None:
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

    assert snapshots(jobs) == [progress.snapshot(job) for job in jobs]
