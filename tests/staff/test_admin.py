from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sync.models import AuditEvent, IntegrationCredential, RepoSync, SyncJob, Team
from tests.staff.teams import finished_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db: None) -> Client:
    root = User.objects.create_superuser("root", "root@example.com", "root-password")
    client = Client()
    client.force_login(root)
    return client


MODELS = [
    "team",
    "membership",
    "integration",
    "integrationcredential",
    "githubaccount",
    "syncjob",
    "reposync",
    "auditevent",
    "syncnotice",
    "trackedrepository",
    "teammember",
    "pullrequest",
    "review",
    "commit",
]


@pytest.mark.parametrize("model", MODELS)
def test_it_lists_every_model_in_the_admin(admin_client: Client, team: Team, model: str) -> None:
    response = admin_client.get(reverse(f"admin:sync_{model}_changelist"))

    assert response.status_code == 200


def test_it_shows_job_state_and_the_audit_log_read_only(admin_client: Client, team: Team) -> None:
    job = finished_job(team, SyncJob.Status.PARTIAL, api=RepoSync.Status.FAILED)
    event = AuditEvent.objects.create(team=team, action="sync.cancel", outcome="cancelled")

    for url in (
        reverse("admin:sync_syncjob_change", args=[job.pk]),
        reverse("admin:sync_auditevent_change", args=[event.pk]),
    ):
        html = admin_client.get(url).content.decode()
        assert 'name="_save"' not in html
        assert "deletelink" not in html

    admin_client.post(reverse("admin:sync_syncjob_change", args=[job.pk]), {"status": "running"})
    admin_client.post(reverse("admin:sync_auditevent_delete", args=[event.pk]), {"post": "yes"})
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.PARTIAL
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert admin_client.get(reverse("admin:sync_syncjob_add")).status_code == 403


def test_it_never_shows_a_token_in_the_admin(admin_client: Client, alice: User) -> None:
    credential = IntegrationCredential.objects.create(
        user=alice, provider="github", access_token="gho_secret_token_value", scopes="repo"
    )

    html = admin_client.get(
        reverse("admin:sync_integrationcredential_change", args=[credential.pk])
    ).content.decode()

    assert "repo" in html
    assert "gho_secret_token_value" not in html


@pytest.mark.parametrize("model", ["syncjob", "auditevent"])
@pytest.mark.parametrize(
    "query",
    [
        "created_at__year=9999",
        "created_at__year=9999&created_at__month=12",
        "created_at__year=9999&created_at__month=12&created_at__day=31",
    ],
)
def test_it_answers_400_to_a_date_filter_past_the_calendar(
    admin_client: Client, model: str, query: str
) -> None:
    response = admin_client.get(f"/admin/sync/{model}/?{query}")

    assert response.status_code == 400


def test_it_still_filters_by_a_date_in_range(admin_client: Client) -> None:
    response = admin_client.get("/admin/sync/syncjob/?created_at__year=2026&created_at__month=12")

    assert response.status_code == 200
