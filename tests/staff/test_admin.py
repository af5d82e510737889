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


def _sign_in(client: Client, password: str) -> int:
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "sam", "password": password},
        REMOTE_ADDR="198.51.100.4",
    )
    return response.status_code


def test_it_locks_an_admin_sign_in_out_after_five_wrong_passwords(sam: User) -> None:
    client = Client()

    failures = [_sign_in(client, f"guess-{n}") for n in range(5)]
    locked = _sign_in(client, "sam-password")

    assert failures == [200, 200, 200, 200, 429]  # the form again, then locked out
    assert locked == 429
    assert client.get("/staff/syncs/").status_code == 302  # not signed in


def test_it_signs_staff_in_with_the_right_password_after_a_typo(sam: User) -> None:
    client = Client()

    _sign_in(client, "sam-pasword")

    assert _sign_in(client, "sam-password") == 302
    assert client.get("/staff/syncs/").status_code == 200


def test_it_refuses_a_weak_password_for_a_new_user(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/auth/user/add/",
        {"username": "newstaff", "password1": "password", "password2": "password"},
    )

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    assert not User.objects.filter(username="newstaff").exists()
