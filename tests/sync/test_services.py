from __future__ import annotations

from datetime import timedelta

import dramatiq
import pytest
import redis
from django.contrib.auth.models import User
from django.utils import timezone
from redis.backoff import NoBackoff
from redis.retry import Retry

from sync import services
from sync.engine.windows import OVERLAP
from sync.models import AuditEvent, RepoSync, SyncJob, Team, TrackedRepository

pytestmark = pytest.mark.django_db


@pytest.fixture
def repositories(team: Team) -> list[TrackedRepository]:
    return [
        TrackedRepository.objects.create(team=team, github_id=1, full_name="acme/api"),
        TrackedRepository.objects.create(team=team, github_id=2, full_name="acme/web"),
        TrackedRepository.objects.create(
            team=team, github_id=3, full_name="acme/old", archived=True
        ),
    ]


def test_it_queues_a_job_with_a_row_per_unarchived_repository(
    team: Team, alice: User, repositories: list[TrackedRepository], settings: object
) -> None:
    job = services.start_sync(team=team, requested_by=alice)

    assert job.status == SyncJob.Status.QUEUED
    assert job.repos_total == 2
    names = set(job.repo_syncs.values_list("repository__full_name", flat=True))
    assert names == {"acme/api", "acme/web"}
    days = (timezone.now() - job.history_since).days  # type: ignore[operator]
    assert days == settings.SYNC_HISTORY_DAYS  # type: ignore[attr-defined]
    assert AuditEvent.objects.filter(team=team, actor=alice, action="sync.initial").exists()


def test_it_refuses_a_second_job_while_one_runs(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    running = services.start_sync(team=team)

    with pytest.raises(services.SyncAlreadyRunning) as refused:
        services.start_sync(team=team, kind=SyncJob.Kind.INCREMENTAL)

    assert refused.value.job_id == running.pk
    assert "already running" in str(refused.value)
    assert SyncJob.objects.filter(team=team).count() == 1


def test_it_starts_again_once_the_job_finished(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    first = services.start_sync(team=team)
    services.cancel_job(job=first)

    second = services.start_sync(team=team, kind=SyncJob.Kind.INCREMENTAL)

    assert second.pk != first.pk


def test_it_refuses_a_team_without_repositories(team: Team) -> None:
    with pytest.raises(services.NothingToSync):
        services.start_sync(team=team)


def test_it_syncs_incrementally_from_the_high_water_mark(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    mark = timezone.now() - timedelta(days=2)
    TrackedRepository.objects.filter(pk=repositories[0].pk).update(
        high_water_mark=mark, synced_until=mark - timedelta(days=180)
    )

    job = services.start_sync(team=team, kind=SyncJob.Kind.INCREMENTAL)

    since = dict(job.repo_syncs.values_list("repository__full_name", "since"))
    assert since["acme/api"] == mark - OVERLAP
    assert since["acme/web"] < mark - timedelta(days=100)  # never synced: the full window


def test_it_extends_history_only_over_the_missing_range(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    imported_to = timezone.now() - timedelta(days=180)
    TrackedRepository.objects.update(synced_until=imported_to, high_water_mark=timezone.now())
    older = timezone.now() - timedelta(days=365)

    job = services.start_sync(team=team, kind=SyncJob.Kind.EXTEND, extend_to=older)

    windows = set(job.repo_syncs.values_list("since", "until"))
    assert windows == {(older, imported_to + OVERLAP)}


def test_it_refuses_to_extend_to_a_date_already_imported(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    TrackedRepository.objects.update(synced_until=timezone.now() - timedelta(days=180))

    with pytest.raises(services.NothingToSync, match="already imported"):
        services.start_sync(
            team=team,
            kind=SyncJob.Kind.EXTEND,
            extend_to=timezone.now() - timedelta(days=30),
        )


def test_it_cancels_a_job_and_its_open_repositories(
    team: Team, sam: User, repositories: list[TrackedRepository]
) -> None:
    job = services.start_sync(team=team)
    RepoSync.objects.filter(job=job, repository__full_name="acme/api").update(
        status=RepoSync.Status.SUCCEEDED
    )
    version = job.version

    cancelled = services.cancel_job(job=job, by=sam)

    assert cancelled.status == SyncJob.Status.CANCELLED
    assert cancelled.version > version
    statuses = dict(job.repo_syncs.values_list("repository__full_name", "status"))
    assert statuses == {"acme/api": "succeeded", "acme/web": "cancelled"}
    assert AuditEvent.objects.filter(actor=sam, action="sync.cancel").exists()
    with pytest.raises(services.JobNotRunning):
        services.cancel_job(job=job)


def test_it_retries_only_the_failed_repositories_from_where_they_stopped(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    job = services.start_sync(team=team)
    RepoSync.objects.filter(job=job, repository__full_name="acme/api").update(
        status=RepoSync.Status.SUCCEEDED
    )
    RepoSync.objects.filter(job=job, repository__full_name="acme/web").update(
        status=RepoSync.Status.FAILED, cursor="Y3Vyc29yOjIwMA==", error_code="sso_required"
    )
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.PARTIAL)

    retry = services.retry_failed_repositories(job=job)

    assert retry.kind == SyncJob.Kind.RETRY
    (row,) = retry.repo_syncs.select_related("repository")
    assert (row.repository.full_name, row.cursor, row.status) == (
        "acme/web",
        "Y3Vyc29yOjIwMA==",
        "queued",
    )


def test_it_refuses_to_retry_a_job_without_failures(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    job = services.start_sync(team=team)
    services.cancel_job(job=job)
    RepoSync.objects.filter(job=job).update(status=RepoSync.Status.SUCCEEDED)

    with pytest.raises(services.NothingToSync):
        services.retry_failed_repositories(job=job)


def test_it_resyncs_one_repository_over_its_whole_range(
    team: Team, repositories: list[TrackedRepository]
) -> None:
    start = timezone.now() - timedelta(days=400)
    TrackedRepository.objects.filter(pk=repositories[1].pk).update(
        synced_until=start, high_water_mark=timezone.now()
    )

    job = services.resync_repository(repository=repositories[1])

    assert job.kind == SyncJob.Kind.FULL
    assert list(job.repo_syncs.values_list("since", flat=True)) == [start]


def test_it_refuses_to_start_when_the_job_queue_is_down(
    team: Team, repositories: list[TrackedRepository], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = dramatiq.get_broker()
    down = redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(broker, "client", down)

    with pytest.raises(services.BrokerUnavailable):
        services.start_sync(team=team)

    assert not SyncJob.objects.exists()
