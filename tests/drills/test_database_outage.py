"""Drill: the database goes away under a running sync.

On PostgreSQL every connection of the worker and of Daphne is terminated, again and again, with
``pg_terminate_backend`` (what a failover or a restarted server does to them). SQLite has no
server to cut, so its honest equivalent is another process holding the file's exclusive lock
for longer than the worker waits: each write fails with "database is locked". Either way the
job completes, nothing is lost or doubled, and the page shows the finished import.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.utils import timezone
from playwright.sync_api import Page, expect

from sandbox.testing import RunningSandbox
from sync import engine, services
from sync.engine.steps import SendPage
from sync.models import RepoSync, SyncJob, Team
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.processes import wait_for
from tests.sync.importing import since_of, start_sync_worker, truth_from_db, wait_finished
from tests.sync.jobs import make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OUTAGE_S = 4.0
# The worker's SQLite lock wait: well under the outage, so its writes fail rather than wait.
SQLITE_WAIT = "?timeout=1"


def cut_postgresql_connections(seconds: float) -> int:
    """Terminate every other connection to this database, repeatedly; return how many."""
    cut = 0
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            cut += cursor.fetchone()[0]
            time.sleep(0.2)
    return cut


def lock_sqlite_database(seconds: float) -> int:
    """Hold the database file's exclusive lock for ``seconds``; return 1 (one outage)."""
    holder = sqlite3.connect(connection.settings_dict["NAME"], timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    return 1


def _open(page: Page, daphne: DaphneServer, job: SyncJob) -> None:
    page.goto(f"{daphne.url}/onboarding/sync/{job.pk}/")
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")


def test_it_completes_a_sync_whose_database_went_away_mid_way(
    page_as: Callable[[User], Page],
    daphne: DaphneServer,
    acme: Team,
    bob: User,
    github: RunningSandbox,
    request: pytest.FixtureRequest,
) -> None:
    postgresql = connection.vendor == "postgresql"
    github.control.set_latency(fixed_ms=200)
    worker = start_sync_worker(
        ARTIFACTS / "logs" / f"worker-{request.node.name}.log",
        database_options="" if postgresql else SQLITE_WAIT,
        GITHUB_API_URL=github.api_url,
    )
    try:
        job = services.start_sync(team=acme, history_since=timezone.now() - timedelta(days=800))
        page = page_as(bob)
        _open(page, daphne, job)
        wait_for(lambda: SyncJob.objects.get(pk=job.pk).prs_synced > 0, timeout=60)

        outage = cut_postgresql_connections if postgresql else lock_sqlite_database
        cut = outage(OUTAGE_S)
        github.control.set_latency(fixed_ms=0)
        assert not SyncJob.objects.get(pk=job.pk).is_finished, "the outage came too late"

        job = wait_finished(job, timeout=120)
    finally:
        worker.stop()

    assert cut > 0
    log = worker.output()
    assert ("terminating connection" in log) if postgresql else ("database is locked" in log)
    assert job.status == SyncJob.Status.SUCCEEDED, (job.status, job.error_message)
    assert truth_from_db(acme) == github.control.truth("acme", since=since_of(job))
    expect(page.get_by_test_id("percent")).to_have_text("100%", timeout=30_000)
    expect(page.get_by_test_id("prs-synced")).to_have_text(f"{job.prs_synced:,}")
    expect(page.get_by_test_id("reviews-synced")).to_have_text(f"{job.reviews_synced:,}")
    expect(page.get_by_test_id("commits-synced")).to_have_text(f"{job.commits_synced:,}")


def test_it_tells_the_user_the_database_did_not_answer_and_tries_again(team: Team) -> None:
    job = make_job(team, status=SyncJob.Status.RUNNING)
    repo_sync = job.repo_syncs.order_by("pk").first()
    assert repo_sync is not None

    steps = engine.page_crashed(repo_sync.pk, page=0, error=OperationalError("server closed"))

    repo_sync.refresh_from_db()
    assert repo_sync.status == RepoSync.Status.RETRYING
    assert (
        repo_sync.error_message == "Our database did not answer: retrying in 2 s (attempt 1 of 6)"
    )
    assert steps == [SendPage(repo_sync.pk, 0, delay_ms=2000)]
