"""Load: twenty teams onboard at once over HTTP (Daphne, the sandbox's OAuth) against one worker
pool: ``rundramatiq --processes 2 --threads 8`` as docker-compose runs it, and one thread.

acme is the big organization (one repository, 3,000 pull requests: about thirty pages in a
row); the nineteen others are small (three repositories, 60 pull requests). acme's user
submits first, the nineteen others right after. The pool takes one page per message from one
queue, so the teams take turns: every small team is done while acme's import still runs, and
acme's import is under way before the last small team is done. A pool that served a team at a
time (or a whole import per message, on one thread) would finish acme before anyone else; one
that favoured the newest would leave acme waiting for all of them. ``make bench-load`` runs
the full-size version beside a baseline.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import dramatiq
import pytest
from django.conf import settings
from django.contrib.auth.models import User

from benchmarks.bench_load import team_table
from benchmarks.crowd import (
    CLIENT_ID,
    CLIENT_SECRET,
    Onboarding,
    TeamTimes,
    onboard_at_once,
    sandbox_args,
    sandbox_orgs,
    sandbox_users,
    team_times,
    wait_all_finished,
    wait_members_synced,
)
from sandbox.testing import RunningSandbox, start_sandbox
from sync.models import Membership, SyncJob
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.drills.pg_connections import ConnectionSampler
from tests.processes import Process
from tests.sync.importing import (
    forget_github_budgets,
    since_of,
    start_sync_worker,
    truth_from_db,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TEAMS = 20
BIG_ORG = "acme"


@pytest.fixture(scope="module")
def crowd() -> Iterator[RunningSandbox]:
    """A sandbox with 20 organizations that 20 distinct users belong to, at 20 ms a request."""
    running = start_sandbox(*sandbox_args(teams=TEAMS, acme_repos=1, acme_prs=3000, latency_ms=20))
    yield running
    running.stop()


@pytest.fixture
def web_connections() -> ConnectionSampler:
    return ConnectionSampler("daphne")


@pytest.fixture
def worker_connections() -> ConnectionSampler:
    return ConnectionSampler("worker")


@pytest.fixture
def daphne(
    request: pytest.FixtureRequest,
    transactional_db: None,
    crowd: RunningSandbox,
    web_connections: ConnectionSampler,
) -> Iterator[DaphneServer]:
    crowd.control.reset()
    forget_github_budgets()
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        GITHUB_API_URL=crowd.api_url,
        GITHUB_CLIENT_ID=CLIENT_ID,
        GITHUB_CLIENT_SECRET=CLIENT_SECRET,
        **web_connections.env,
    )
    server.start()
    crowd.control.set_callback_url(f"{server.url}/onboarding/github/callback/")
    yield server
    server.stop()


@pytest.fixture
def pool(
    request: pytest.FixtureRequest, crowd: RunningSandbox, worker_connections: ConnectionSampler
) -> Iterator[Process]:
    """One ``rundramatiq`` of ``request.param`` = (processes, threads)."""
    processes, threads = request.param
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    worker = start_sync_worker(
        log,
        processes=processes,
        threads=threads,
        environment={"GITHUB_API_URL": crowd.api_url, **worker_connections.env},
    )
    yield worker
    worker.stop()
    dramatiq.get_broker().flush_all()  # no message of this test may reach a later worker


def _teams(crowd: RunningSandbox, web: str) -> list[Onboarding]:
    """One user per organization, the big organization's first."""
    orgs = sandbox_orgs(crowd.api_url, crowd.control.issue_token("mona"))
    orgs.sort(key=lambda org: org != BIG_ORG)
    assert len(orgs) == TEAMS
    return [
        Onboarding(login, org, web, crowd.url)
        for login, org in zip(sandbox_users(TEAMS), orgs, strict=True)
    ]


# As docker-compose runs it; and a single thread, where a pool that ran a whole import per
# message would leave every small team waiting for acme's.
@pytest.mark.parametrize(
    "pool", [(2, 8), (1, 1)], ids=["compose-pool", "one-thread"], indirect=True
)
def test_it_imports_twenty_teams_onboarding_at_once_without_starving_any(
    daphne: DaphneServer,
    pool: Process,
    crowd: RunningSandbox,
    web_connections: ConnectionSampler,
    worker_connections: ConnectionSampler,
) -> None:
    teams = _teams(crowd, daphne.url)

    with web_connections, worker_connections:
        onboard_at_once(teams, ready=lambda: wait_members_synced(teams), lead=1)
        wait_all_finished([team.job_id for team in teams], timeout=300)
        time.sleep(1)  # Daphne idle: what it holds now, it holds until something closes it
    idle = web_connections.sample()

    times = team_times(teams)
    print(f"\n{team_table(times)}")
    peak = web_connections.counts.peak
    print(f"Daphne's database connections (pg_stat_activity): peak {peak}, idle {idle}")
    worker_peak = worker_connections.counts.peak
    print(f"the worker pool's database connections: peak {worker_peak}")
    # Bounded: never more than its pool; once the crowd is gone, none but the pool's are kept.
    cap = settings.DATABASE_POOL_SIZE
    assert idle <= cap, web_connections.counts.history
    assert peak <= (cap or len(teams)), web_connections.counts.history
    # A worker holds one per thread, and one each for its heartbeat and watchdog threads.
    args = [str(arg) for arg in pool.popen.args]  # type: ignore[union-attr]
    processes, threads = (int(args[args.index(name) + 1]) for name in ("--processes", "--threads"))
    assert worker_peak <= processes * (threads + 2), worker_connections.counts.history
    # All complete, each exactly: nothing lost, nothing doubled.
    assert [t.status for t in times] == [SyncJob.Status.SUCCEEDED] * TEAMS
    for team in teams:
        job = SyncJob.objects.select_related("team").get(pk=team.job_id)
        assert truth_from_db(job.team) == crowd.control.truth(team.org, since=since_of(job))
    # Twenty distinct users, each the admin of the team they created.
    assert User.objects.filter(github_account__login__in=[t.login for t in teams]).count() == TEAMS
    admins = Membership.objects.filter(role=Membership.Role.ADMIN)
    assert sorted(admins.values_list("user__github_account__login", "team__github_org_login")) == (
        sorted((team.login, team.org) for team in teams)
    )
    _assert_none_starved(big=times[0], small=times[1:])


def _assert_none_starved(*, big: TeamTimes, small: list[TeamTimes]) -> None:
    last_small_done = max(t.finished_at for t in small)
    # The big import, started first, held none of the small ones up...
    assert last_small_done < big.finished_at, team_table([big, *small])
    # ...and the crowd behind it did not keep it waiting for their turn to end.
    assert big.submitted_at + big.first_page_s < last_small_done, team_table([big, *small])
    # No small team was left behind its peers (all submitted together, all the same size).
    walls = [t.wall_s for t in small]
    assert max(walls) <= 3 * statistics.median(walls) + 10, team_table(small)
