from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sync import services
from sync.engine.windows import OVERLAP
from sync.models import AuditEvent, RepoSync, SyncJob, Team, TrackedRepository
from tests.staff.teams import active_job, add_repositories, finished_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(sam: User) -> Client:
    client = Client()
    client.force_login(sam)
    return client


@pytest.fixture
def repositories(team: Team) -> list[TrackedRepository]:
    return add_repositories(team, "api", "web")


@pytest.fixture
def queued() -> Iterator[Callable[[], int]]:
    """Count the messages waiting in the job queue (this run's own Redis namespace)."""
    broker = dramatiq.get_broker()
    yield lambda: int(broker.do_qsize("default"))  # type: ignore[attr-defined]
    broker.flush_all()


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _only_event() -> AuditEvent:
    (event,) = AuditEvent.objects.all()
    return event


def test_it_queues_an_incremental_sync_and_audits_it(
    team: Team,
    sam: User,
    staff_client: Client,
    repositories: list[TrackedRepository],
    queued: Callable[[], int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = queued()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("staff:sync_now", args=[team.pk]), follow=True)

    job = SyncJob.objects.get()
    assert (job.kind, job.status, job.requested_by, job.repos_total) == (
        "incremental",
        "queued",
        sam,
        2,
    )
    assert queued() == before + 1
    assert response.redirect_chain[-1][0] == f"{reverse('staff:team', args=[team.pk])}?job={job.pk}"
    assert _messages(response) == [f"Import #{job.pk} queued: new changes since the last sync."]
    event = _only_event()
    assert (event.actor, event.team, event.action) == (sam, team, "sync.incremental")
    assert event.params == {"kind": "incremental", "job": job.pk}
    assert event.outcome == f"queued job #{job.pk} for 2 repositories"


def test_it_refuses_a_second_job_while_one_runs_with_a_clear_message(
    team: Team, sam: User, staff_client: Client, repositories: list[TrackedRepository]
) -> None:
    running = services.start_sync(team=team)

    response = staff_client.post(reverse("staff:sync_now", args=[team.pk]), follow=True)

    assert list(SyncJob.objects.all()) == [running]
    assert _messages(response) == [
        "An import is already running for this team; follow it or cancel it."
    ]
    assert response.redirect_chain[-1][0].endswith(f"?job={running.pk}")
    assert f'ws-connect="/ws/sync/{running.pk}/"' in response.content.decode()
    event = _only_event()
    assert (event.actor, event.action) == (sam, "sync.incremental")
    assert event.params == {"kind": "incremental", "running_job": running.pk}
    assert event.outcome.startswith("refused: An import is already running")


def test_it_asks_to_confirm_a_full_resync_before_starting_it(
    team: Team, staff_client: Client, repositories: list[TrackedRepository]
) -> None:
    url = reverse("staff:full_resync", args=[team.pk])

    asked = staff_client.post(url)

    assert asked.status_code == 200
    assert "Fully resync acme?" in asked.content.decode()
    assert 'name="confirmed" value="on"' in asked.content.decode()
    assert not SyncJob.objects.exists()
    assert not AuditEvent.objects.exists()

    staff_client.post(url, {"confirmed": "on"})

    job = SyncJob.objects.get()
    assert job.kind == SyncJob.Kind.FULL
    assert job.repo_syncs.count() == 2
    assert _only_event().action == "sync.full"


def test_it_extends_history_over_the_missing_range_only(
    team: Team, sam: User, staff_client: Client, repositories: list[TrackedRepository]
) -> None:
    imported_to = timezone.now() - timedelta(days=180)
    TrackedRepository.objects.update(synced_until=imported_to, high_water_mark=timezone.now())
    day = (timezone.now() - timedelta(days=400)).date()

    response = staff_client.post(
        reverse("staff:extend_history", args=[team.pk]), {"extend_to": day.isoformat()}, follow=True
    )

    job = SyncJob.objects.get()
    assert job.kind == SyncJob.Kind.EXTEND
    since = datetime.combine(day, time.min, tzinfo=UTC)
    assert set(job.repo_syncs.values_list("since", "until")) == {(since, imported_to + OVERLAP)}
    assert _messages(response) == [f"Import #{job.pk} queued: history back to {day}."]
    event = _only_event()
    assert event.action == "sync.extend"
    assert event.params == {"kind": "extend", "extend_to": day.isoformat(), "job": job.pk}


@pytest.mark.parametrize("day", ["2999-01-01", "not a date", ""])
def test_it_refuses_to_extend_to_a_date_that_is_not_in_the_past(
    team: Team, staff_client: Client, repositories: list[TrackedRepository], day: str
) -> None:
    response = staff_client.post(
        reverse("staff:extend_history", args=[team.pk]), {"extend_to": day}, follow=True
    )

    assert len(_messages(response)) == 1
    assert not SyncJob.objects.exists()


def test_it_refuses_to_extend_to_a_date_already_imported_and_audits_the_refusal(
    team: Team, staff_client: Client, repositories: list[TrackedRepository]
) -> None:
    TrackedRepository.objects.update(synced_until=timezone.now() - timedelta(days=180))
    day = (timezone.now() - timedelta(days=30)).date().isoformat()

    response = staff_client.post(
        reverse("staff:extend_history", args=[team.pk]), {"extend_to": day}, follow=True
    )

    assert _messages(response) == ["The history is already imported back to that date."]
    assert not SyncJob.objects.exists()
    event = _only_event()
    assert event.outcome == "refused: The history is already imported back to that date."
    assert event.params == {"kind": "extend", "extend_to": day}


def test_it_resyncs_one_repository(
    team: Team, sam: User, staff_client: Client, repositories: list[TrackedRepository]
) -> None:
    api = repositories[0]

    response = staff_client.post(reverse("staff:resync_repository", args=[api.pk]), follow=True)

    job = SyncJob.objects.get()
    assert job.kind == SyncJob.Kind.FULL
    assert list(job.repo_syncs.values_list("repository__full_name", flat=True)) == ["acme/api"]
    assert _messages(response) == [f"Resync of acme/api queued as import #{job.pk}."]
    event = _only_event()
    assert (event.actor, event.action) == (sam, "sync.resync_repository")
    assert event.params == {"repository": "acme/api", "repository_id": api.pk, "job": job.pk}
    assert event.outcome == f"queued job #{job.pk}"


def test_it_retries_only_the_failed_repositories(
    team: Team, sam: User, staff_client: Client
) -> None:
    partial = finished_job(
        team, SyncJob.Status.PARTIAL, api=RepoSync.Status.SUCCEEDED, infra=RepoSync.Status.FAILED
    )
    RepoSync.objects.filter(job=partial, status="failed").update(cursor="Y3Vyc29yOjUw")

    response = staff_client.post(reverse("staff:retry_failed", args=[partial.pk]), follow=True)

    retry = SyncJob.objects.exclude(pk=partial.pk).get()
    assert (retry.kind, retry.status, retry.requested_by) == ("retry", "queued", sam)
    (row,) = retry.repo_syncs.select_related("repository")
    assert (row.repository.full_name, row.cursor) == ("acme/infra", "Y3Vyc29yOjUw")
    assert response.redirect_chain[-1][0].endswith(f"?job={retry.pk}")
    assert SyncJob.objects.get(pk=partial.pk).status == SyncJob.Status.PARTIAL
    event = _only_event()
    assert event.action == "sync.retry_failed"
    assert event.params == {"failed_job": partial.pk, "job": retry.pk}
    assert event.outcome == f"queued job #{retry.pk} for 1 repository"


def test_it_refuses_to_retry_a_job_without_failures(team: Team, staff_client: Client) -> None:
    done = finished_job(team, SyncJob.Status.SUCCEEDED, api=RepoSync.Status.SUCCEEDED)

    response = staff_client.post(reverse("staff:retry_failed", args=[done.pk]), follow=True)

    assert _messages(response) == ["No repository of this import failed."]
    assert list(SyncJob.objects.all()) == [done]
    assert _only_event().outcome == "refused: No repository of this import failed."


def test_it_asks_to_confirm_a_cancel_then_cancels_the_job(
    team: Team, sam: User, staff_client: Client, repositories: list[TrackedRepository]
) -> None:
    job = services.start_sync(team=team)
    AuditEvent.objects.all().delete()
    url = reverse("staff:cancel_job", args=[job.pk])

    asked = staff_client.post(url)

    assert f"Cancel import #{job.pk} of acme?" in asked.content.decode()
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.QUEUED

    response = staff_client.post(url, {"confirmed": "on"}, follow=True)

    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    assert set(job.repo_syncs.values_list("status", flat=True)) == {"cancelled"}
    assert _messages(response) == [f"Import #{job.pk} cancelled. What was imported so far is kept."]
    event = _only_event()
    assert (event.actor, event.action, event.params) == (sam, "sync.cancel", {"job": job.pk})
    assert event.outcome == f"cancelled job #{job.pk}"


def test_it_refuses_to_cancel_a_finished_job(team: Team, staff_client: Client) -> None:
    done = finished_job(team, SyncJob.Status.SUCCEEDED, api=RepoSync.Status.SUCCEEDED)

    response = staff_client.post(
        reverse("staff:cancel_job", args=[done.pk]), {"confirmed": "on"}, follow=True
    )

    assert _messages(response) == ["This import already finished."]
    assert SyncJob.objects.get(pk=done.pk).status == SyncJob.Status.SUCCEEDED
    assert _only_event().outcome == "refused: This import already finished."


def test_it_sends_a_stalled_job_to_the_queue_again(
    team: Team,
    sam: User,
    staff_client: Client,
    repositories: list[TrackedRepository],
    queued: Callable[[], int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    quiet = timezone.now() - timedelta(minutes=5)
    job = active_job(team, started_at=quiet, heartbeat_at=quiet)
    before = queued()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("staff:run_now", args=[job.pk]), follow=True)

    assert queued() == before + 2  # the next page of each open repository
    assert _messages(response) == [f"Import #{job.pk} sent to the job queue again."]
    event = _only_event()
    assert (event.actor, event.action, event.outcome) == (
        sam,
        "sync.resume",
        f"sent job #{job.pk} to the queue again",
    )


def test_it_says_so_when_the_job_queue_is_down(
    team: Team,
    staff_client: Client,
    repositories: list[TrackedRepository],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = dramatiq.get_broker()
    unreachable = type(broker.client)(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # type: ignore[attr-defined]
    monkeypatch.setattr(broker, "client", unreachable)

    response = staff_client.post(reverse("staff:sync_now", args=[team.pk]), follow=True)

    assert _messages(response) == [
        "The job queue cannot be reached, so nothing was started; try again."
    ]
    assert not SyncJob.objects.exists()
    assert _only_event().outcome.startswith("failed: The job queue cannot be reached")
