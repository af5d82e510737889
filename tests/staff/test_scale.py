"""The staff list with 1,000 teams: the same few queries as with 10, and its time printed.

See the page times with ``pytest tests/staff/test_scale.py -s``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from staff.views import TEAMS_PER_PAGE
from sync.models import Integration, PullRequest, RepoSync, SyncJob, Team, TrackedRepository
from tests.browser.conftest import DaphneServer
from tests.conftest import ARTIFACTS

TEAMS = 1000
REPOS_PER_TEAM = 3
PRS_PER_REPO = 10
RUNNING = 20


def _seed(teams: int) -> None:
    now = timezone.now()
    Team.objects.bulk_create(
        Team(name=f"Team {n:04}", github_org_id=100_000 + n, github_org_login=f"team-{n:04}")
        for n in range(teams)
    )
    all_teams = list(Team.objects.order_by("pk"))
    Integration.objects.bulk_create(
        Integration(
            team=team,
            provider="github",
            status=Integration.Status.REVOKED if n % 10 == 0 else Integration.Status.ACTIVE,
        )
        for n, team in enumerate(all_teams)
    )
    TrackedRepository.objects.bulk_create(
        TrackedRepository(
            team=team, github_id=team.github_org_id * 10 + r, full_name=f"{team}/r{r}"
        )
        for team in all_teams
        for r in range(REPOS_PER_TEAM)
    )
    repositories = list(TrackedRepository.objects.all())
    PullRequest.objects.bulk_create(
        PullRequest(
            repository=repository,
            github_id=repository.github_id * 100 + p,
            number=p,
            title="A change",
            state="merged",
            created_at=now,
            updated_at=now,
        )
        for repository in repositories
        for p in range(PRS_PER_REPO)
    )
    finished = SyncJob.objects.bulk_create(
        SyncJob(
            team=team,
            status=SyncJob.Status.PARTIAL if n % 7 == 0 else SyncJob.Status.SUCCEEDED,
            repos_total=REPOS_PER_TEAM,
            repos_done=REPOS_PER_TEAM,
            created_at=now - timedelta(days=1, minutes=n),
            finished_at=now - timedelta(hours=20),
        )
        for n, team in enumerate(all_teams)
    )
    running = SyncJob.objects.bulk_create(
        SyncJob(team=team, status=SyncJob.Status.RUNNING, started_at=now, heartbeat_at=now)
        for team in all_teams[:RUNNING]
    )
    by_team: dict[int, list[TrackedRepository]] = {}
    for repository in repositories:
        by_team.setdefault(repository.team_id, []).append(repository)
    RepoSync.objects.bulk_create(
        RepoSync(job=job, repository=repository, status=RepoSync.Status.SUCCEEDED)
        for job in [*finished, *running]
        for repository in by_team[job.team_id]
    )


def _queries(client: Client, params: dict[str, str]) -> tuple[int, float]:
    """Return how many queries the page makes, and the milliseconds they take together."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("staff:syncs"), params).status_code == 200
    return len(queries), sum(float(query["time"]) for query in queries) * 1000


def _time_page(server: DaphneServer, session: requests.Session, params: dict[str, str]) -> str:
    """Time the page over HTTP from Daphne, as production serves it: median and worst of 10."""
    times = []
    for _ in range(10):
        started = time.perf_counter()
        response = session.get(f"{server.url}{reverse('staff:syncs')}", params=params, timeout=10)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        assert response.text.count('data-testid="team-row"') in (TEAMS_PER_PAGE, 20)
    return f"median {statistics.median(times):6.1f} ms, worst {max(times):6.1f} ms"


@pytest.mark.django_db
def test_it_lists_1000_teams_in_a_fixed_number_of_queries(sam: User) -> None:
    client = Client()
    client.force_login(sam)
    _seed(10)
    few, _ = _queries(client, {})
    Team.objects.all().delete()

    _seed(TEAMS)

    print(f"\nGET /staff/syncs/ with {TEAMS} teams, {connection.vendor}: SQL per page")
    for params in ({}, {"page": "20"}, {"q": "team-09"}, {"show": "failing"}, {"show": "running"}):
        count, milliseconds = _queries(client, params)
        print(f"  {params!s:<20} {count} queries, {milliseconds:5.1f} ms")
        assert count == few, params


@pytest.fixture
def server(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[DaphneServer]:
    running = DaphneServer(ARTIFACTS / "logs" / request.node.name)
    running.start()
    yield running
    running.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_serves_the_list_of_1000_teams_fast(server: DaphneServer, sam: User) -> None:
    _seed(TEAMS)
    client = Client()
    client.force_login(sam)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)

    results = {
        "first page": _time_page(server, session, {}),
        "last page": _time_page(server, session, {"page": "20"}),
        "search": _time_page(server, session, {"q": "team-0"}),
        "failing": _time_page(server, session, {"show": "failing", "page": "2"}),
        "running": _time_page(server, session, {"show": "running"}),
    }

    print(f"\nGET /staff/syncs/ with {TEAMS} teams, {connection.vendor}, over HTTP from Daphne:")
    for name, figures in results.items():
        print(f"  {name:<11} {figures}")
