from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sync.models import AuditEvent, Integration, RepoSync, SyncJob, Team
from tests.staff.teams import (
    active_job,
    add_repositories,
    connect_github,
    finished_job,
    make_team,
)
from tests.sync.jobs import worker_alive

pytestmark = pytest.mark.django_db


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def routes(team: Team) -> dict[str, tuple[str, str]]:
    (repository,) = add_repositories(team, "api")
    job = finished_job(team, SyncJob.Status.PARTIAL, api=RepoSync.Status.FAILED)
    return {
        "list": ("get", reverse("staff:syncs")),
        "audit": ("get", reverse("staff:audit")),
        "team": ("get", reverse("staff:team", args=[team.pk])),
        "sync_now": ("post", reverse("staff:sync_now", args=[team.pk])),
        "full_resync": ("post", reverse("staff:full_resync", args=[team.pk])),
        "extend": ("post", reverse("staff:extend_history", args=[team.pk])),
        "resync_repository": ("post", reverse("staff:resync_repository", args=[repository.pk])),
        "retry_failed": ("post", reverse("staff:retry_failed", args=[job.pk])),
        "cancel": ("post", reverse("staff:cancel_job", args=[job.pk])),
        "run_now": ("post", reverse("staff:run_now", args=[job.pk])),
    }


ROUTES = [
    "list",
    "audit",
    "team",
    "sync_now",
    "full_resync",
    "extend",
    "resync_repository",
    "retry_failed",
    "cancel",
    "run_now",
]


@pytest.mark.parametrize("route", ROUTES)
def test_it_sends_anonymous_visitors_to_sign_in(
    routes: dict[str, tuple[str, str]], route: str
) -> None:
    method, url = routes[route]

    response = getattr(Client(), method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('admin:login')}?next=")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("persona", ["alice", "bob", "charlie"])
def test_it_answers_404_to_everyone_but_staff(
    routes: dict[str, tuple[str, str]], route: str, persona: str, request: pytest.FixtureRequest
) -> None:
    method, url = routes[route]
    client = _client(request.getfixturevalue(persona))

    response = getattr(client, method)(url, {"confirmed": "on", "extend_to": "2020-01-01"})

    assert response.status_code == 404
    assert SyncJob.objects.count() == 1
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize("route", ["list", "audit", "team"])
def test_it_shows_staff_the_pages(
    routes: dict[str, tuple[str, str]], route: str, sam: User
) -> None:
    _, url = routes[route]

    response = _client(sam).get(url)

    assert response.status_code == 200


def test_it_answers_405_to_an_action_sent_with_get(team: Team, sam: User) -> None:
    response = _client(sam).get(reverse("staff:sync_now", args=[team.pk]))

    assert response.status_code == 405


def test_it_refuses_an_action_without_the_csrf_token(team: Team, sam: User) -> None:
    add_repositories(team, "api")
    client = Client(enforce_csrf_checks=True)
    client.force_login(sam)

    response = client.post(reverse("staff:sync_now", args=[team.pk]))

    assert response.status_code == 403
    assert not SyncJob.objects.exists()


def test_it_answers_404_for_a_team_that_does_not_exist(sam: User) -> None:
    response = _client(sam).get(reverse("staff:team", args=[999_999]))

    assert response.status_code == 404


def test_it_answers_404_for_a_job_of_another_team(team: Team, globex: Team, sam: User) -> None:
    other = finished_job(globex, SyncJob.Status.SUCCEEDED, web=RepoSync.Status.SUCCEEDED)

    response = _client(sam).get(reverse("staff:team", args=[team.pk]), {"job": other.pk})

    assert response.status_code == 404


# -- the list --------------------------------------------------------------------------------


def _rows(response: Any) -> list[str]:
    return [row.team.github_org_login for row in response.context["rows"]]


def test_it_lists_every_team_with_its_github_status_repositories_and_latest_import(
    team: Team, globex: Team, sam: User
) -> None:
    add_repositories(team, "api", "web")
    connect_github(team)
    connect_github(globex, Integration.Status.REVOKED, "The token was revoked")
    finished_job(globex, SyncJob.Status.PARTIAL, infra=RepoSync.Status.FAILED)

    response = _client(sam).get(reverse("staff:syncs"))

    html = response.content.decode()
    assert _rows(response) == ["acme", "globex"]
    assert 'data-team="acme"' in html and 'data-team="globex"' in html
    acme_row, globex_row = response.context["rows"]
    assert (acme_row.github_status, acme_row.repositories, acme_row.latest) == ("active", 2, None)
    assert "Never imported" in acme_row.latest_html
    assert globex_row.github_status == "revoked"
    assert "The token was revoked" in html
    assert "Done, with failures" in globex_row.latest_html
    assert "1 repository failed" in globex_row.latest_html
    assert f'id="staff-team-{globex.pk}-sync"' in html


def test_it_shows_the_imports_live_over_the_staff_socket(
    team: Team, globex: Team, sam: User
) -> None:
    add_repositories(team, "api")
    add_repositories(globex, "web")
    done = finished_job(globex, SyncJob.Status.SUCCEEDED, web=RepoSync.Status.SUCCEEDED)
    running = active_job(team)

    html = _client(sam).get(reverse("staff:syncs")).content.decode()

    assert 'ws-connect="/ws/sync/staff/"' in html
    assert 'id="staff-sync-jobs"' in html
    assert html.index(f'id="staff-sync-job-{running.pk}"') < html.index(
        f'id="staff-sync-job-{done.pk}"'
    )
    assert "js/staff.js" in html


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        ("", ["acme", "globex", "hooli", "initech", "stark", "umbrella"]),
        ("running", ["acme", "hooli", "stark"]),
        ("waiting", ["hooli"]),
        ("failing", ["globex", "initech"]),
        ("stalled", ["stark"]),
    ],
)
def test_it_filters_teams(
    team: Team, globex: Team, sam: User, show: str, expected: list[str]
) -> None:
    initech, umbrella, hooli, stark = (
        make_team(login, 3000 + number)
        for number, login in enumerate(["initech", "umbrella", "hooli", "stark"])
    )
    for each in (team, globex, initech, umbrella, hooli, stark):
        add_repositories(each, "api")
    active_job(team)
    finished_job(globex, SyncJob.Status.PARTIAL, api=RepoSync.Status.FAILED)
    finished_job(umbrella, SyncJob.Status.SUCCEEDED, api=RepoSync.Status.SUCCEEDED)
    connect_github(initech, Integration.Status.REVOKED)
    reset = timezone.now() + timedelta(minutes=20)
    active_job(hooli, SyncJob.Status.WAITING, rate_limit_reset_at=reset)
    quiet = timezone.now() - timedelta(minutes=5)
    active_job(stark, started_at=quiet, heartbeat_at=quiet)

    response = _client(sam).get(reverse("staff:syncs"), {"show": show})

    assert _rows(response) == expected


def test_it_searches_teams_by_login_or_name(team: Team, globex: Team, sam: User) -> None:
    client = _client(sam)

    assert _rows(client.get(reverse("staff:syncs"), {"q": "GLOB"})) == ["globex"]
    assert _rows(client.get(reverse("staff:syncs"), {"q": "corporation"})) == ["globex"]
    assert _rows(client.get(reverse("staff:syncs"), {"q": "nobody"})) == []
    assert "No team matches." in client.get(reverse("staff:syncs"), {"q": "zzz"}).content.decode()


def test_it_pages_through_teams_keeping_the_filter(sam: User) -> None:
    Team.objects.bulk_create(
        Team(name=f"Team {n:03}", github_org_id=10_000 + n, github_org_login=f"team-{n:03}")
        for n in range(120)
    )
    client = _client(sam)

    first = client.get(reverse("staff:syncs"), {"q": "team"})
    last = client.get(reverse("staff:syncs"), {"q": "team", "page": "3"})

    assert len(_rows(first)) == 50
    assert _rows(first)[0] == "team-000"
    assert _rows(last) == [f"team-{n:03}" for n in range(100, 120)]
    assert 'href="?q=team&amp;page=2"' in first.content.decode()
    assert "page 3 of 3" in last.content.decode()
    assert _rows(client.get(reverse("staff:syncs"), {"page": 99})) == _rows(last)


def test_it_ignores_a_filter_it_does_not_know_and_keeps_the_search(
    team: Team, globex: Team, sam: User
) -> None:
    response = _client(sam).get(
        reverse("staff:syncs"), {"q": "glob", "show": "everything", "page": "x"}
    )

    assert response.status_code == 200
    assert _rows(response) == ["globex"]


# -- a team ----------------------------------------------------------------------------------


def test_it_shows_a_teams_latest_job_with_each_repositorys_state_and_error(
    team: Team, sam: User
) -> None:
    job = finished_job(
        team, SyncJob.Status.PARTIAL, api=RepoSync.Status.SUCCEEDED, infra=RepoSync.Status.FAILED
    )

    html = _client(sam).get(reverse("staff:team", args=[team.pk])).content.decode()

    assert f'ws-connect="/ws/sync/{job.pk}/"' in html
    assert '<ul id="sync-repos"' in html
    assert 'data-testid="repo-row" data-repository="acme/infra"' in html
    assert "infra is gone from GitHub" in html
    assert "Done, with failures" in html
    assert 'data-testid="retry-failed"' in html
    assert 'data-testid="cancel"' not in html


def test_it_shows_a_chosen_earlier_job(team: Team, sam: User) -> None:
    add_repositories(team, "api")
    first = finished_job(team, SyncJob.Status.FAILED, api=RepoSync.Status.FAILED)
    running = active_job(team)

    response = _client(sam).get(reverse("staff:team", args=[team.pk]), {"job": first.pk})

    html = response.content.decode()
    assert f"Import #{first.pk} ·" in html
    assert f'ws-connect="/ws/sync/{first.pk}/"' in html
    assert f'href="?job={running.pk}"' in html
    assert 'data-testid="retry-failed"' in html


def test_it_offers_cancel_for_a_running_job_and_run_now_once_it_stalls(
    team: Team, sam: User
) -> None:
    add_repositories(team, "api")
    quiet = timezone.now() - timedelta(minutes=5)
    active_job(team, started_at=quiet, heartbeat_at=quiet)
    worker_alive()

    html = _client(sam).get(reverse("staff:team", args=[team.pk])).content.decode()

    assert 'data-testid="cancel"' in html
    assert 'data-testid="run-now"' in html
    assert "Stalled" in html


def test_it_shows_a_teams_audit_log(team: Team, globex: Team, sam: User, alice: User) -> None:
    AuditEvent.objects.create(
        actor=sam, team=team, action="sync.cancel", params={"job": 7}, outcome="cancelled job #7"
    )
    AuditEvent.objects.create(actor=sam, team=globex, action="sync.full", outcome="elsewhere")

    html = _client(sam).get(reverse("staff:team", args=[team.pk])).content.decode()

    assert "cancelled job #7" in html
    assert "elsewhere" not in html
    assert f"{reverse('staff:audit')}?team=acme" in html


# -- the audit log ---------------------------------------------------------------------------


@pytest.fixture
def events(team: Team, globex: Team, sam: User, alice: User) -> None:
    job = finished_job(team, SyncJob.Status.SUCCEEDED, api=RepoSync.Status.SUCCEEDED)
    AuditEvent.objects.create(
        actor=alice, team=team, action="sync.initial", params={"job": job.pk}, outcome=""
    )
    AuditEvent.objects.create(
        actor=sam, team=team, action="sync.full", outcome="refused: already running"
    )
    AuditEvent.objects.create(
        actor=sam, team=globex, action="sync.cancel", outcome="cancelled job #3"
    )


def _outcomes(response: Any) -> list[str]:
    return [row["event"].outcome for row in response.context["events"]]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["cancelled job #3", "refused: already running", ""]),
        ({"team": "ACME"}, ["refused: already running", ""]),
        ({"action": "sync.cancel"}, ["cancelled job #3"]),
        ({"actor": "alice"}, [""]),
        ({"team": "acme", "actor": "sam"}, ["refused: already running"]),
    ],
)
def test_it_filters_the_audit_log(
    events: None, sam: User, filters: dict[str, str], expected: list[str]
) -> None:
    response = _client(sam).get(reverse("staff:audit"), filters)

    assert _outcomes(response) == expected


def test_it_shows_the_job_an_audit_event_started_and_its_status_now(
    events: None, team: Team, sam: User
) -> None:
    html = _client(sam).get(reverse("staff:audit"), {"actor": "alice"}).content.decode()

    assert "First import" in html
    assert "now succeeded" in html
