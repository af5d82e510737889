"""Benchmark the reconciliation sweep on an idle organization, beside the incremental sync of
every repository that keeping fresh would cost without change detection.

    make bench-sweep                       # 2,000 repositories
    make bench-sweep ARGS="--repos 500"

The organization is imported first (real ``rundramatiq`` workers), and swept once so the
member listing's ETags are known. Then, with nothing changed on GitHub:
sweep: one ``sync.sweep.sweep_team`` (conditional member requests, one GraphQL query per 100
repositories, no job since nothing moved);
baseline: ``services.start_sync(kind=incremental)`` of every repository through the engine,
as a schedule without change detection would run it every period.
Points come from the sandbox's counters (GraphQL cost, plus one per REST request that was not
a 304); points per hour are at the default period (``SWEEP_PERIOD_SECONDS``, 900 s).
PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else SQLite and an embedded Redis.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from benchmarks.bench_sync import _environment, _fresh_database, _start_worker, _stop, _team

GOAL_POINTS = 25
DEFAULT_PERIOD_S = 900
WORKER_PROCESSES = 2
WORKER_THREADS = 8


@dataclass
class Cost:
    name: str
    points: int
    requests: int
    not_modified: int
    seconds: float

    def per_hour(self, period_s: float) -> int:
        return math.ceil(self.points * 3600 / period_s)


def _cost(name: str, counters: dict[str, Any], seconds: float) -> Cost:
    rest = sum(n for e, n in counters["by_endpoint"].items() if "graphql" not in e.lower())
    points = rest - counters["not_modified"] + counters["graphql_points_total"]
    return Cost(name, points, counters["requests"], counters["not_modified"], seconds)


def _sandbox(repos: int, prs: int) -> Any:
    from sandbox.testing import start_sandbox

    return start_sandbox(
        "--seed", "13", "--orgs", "1", "--repos", str(repos), "--prs", str(prs),
        "--members", "25", "--latency-ms", "0", "--history-days", "700",
    )  # fmt: skip


def _wait(job: Any) -> Any:
    from sync.models import SyncJob

    while not (job := SyncJob.objects.get(pk=job.pk)).is_finished:
        time.sleep(0.1)
    return job


def run(repos: int, prs: int) -> None:
    """Import an organization, then measure one idle sweep and one incremental sync."""
    _environment()
    from django.conf import settings
    from django.utils import timezone

    from sync import services, sweep
    from sync.github.orgs import list_org_repos
    from sync.models import SyncJob, TrackedRepository

    sandbox = _sandbox(repos, prs)
    worker = None
    try:
        _fresh_database()
        team, token = _team(sandbox)
        settings.GITHUB_API_URL = os.environ["GITHUB_API_URL"] = sandbox.api_url  # and workers'
        listed = list_org_repos(token, team.github_org_login)
        TrackedRepository.objects.bulk_create(
            TrackedRepository(
                team=team,
                github_id=r.id,
                full_name=r.full_name,
                archived=r.archived,
                pushed_at=r.pushed_at,
            )
            for r in listed
        )
        tracked = sum(not r.archived for r in listed)
        worker = _start_worker(WORKER_PROCESSES, WORKER_THREADS)
        started = time.monotonic()
        history = timezone.now() - timedelta(days=3650)
        imported = _wait(services.start_sync(team=team, history_since=history))
        print(
            f"imported {imported.prs_synced:,} pull requests of {tracked:,} repositories "
            f"in {time.monotonic() - started:.0f} s ({imported.status})",
            flush=True,
        )
        primed = sweep.sweep_team(team.pk)  # learns the member listing's ETags
        assert primed.status == "unchanged", primed

        sandbox.control.reset_counters()
        started = time.monotonic()
        outcome = sweep.sweep_team(team.pk)
        swept = _cost("sweep (change detection)", sandbox.control.counters(), 0.0)
        swept.seconds = time.monotonic() - started
        assert outcome.status == "unchanged", outcome

        sandbox.control.reset_counters()
        started = time.monotonic()
        job = _wait(services.start_sync(team=team, kind=SyncJob.Kind.INCREMENTAL))
        baseline = _cost("baseline (incremental sync)", sandbox.control.counters(), 0.0)
        baseline.seconds = time.monotonic() - started
    finally:
        if worker is not None:
            _stop(worker)
        sandbox.stop()
    _report(repos, tracked, swept, baseline, job.status)


def _report(repos: int, tracked: int, swept: Cost, baseline: Cost, baseline_status: str) -> None:
    period = DEFAULT_PERIOD_S
    print()
    print(f"idle organization: {repos:,} repositories ({tracked:,} unarchived, tracked)")
    print(f"{'':30} {'points':>8} {'requests':>9} {'304s':>6} {'seconds':>8} {'points/h':>9}")
    for cost in (swept, baseline):
        print(
            f"{cost.name:30} {cost.points:>8,} {cost.requests:>9,} {cost.not_modified:>6,} "
            f"{cost.seconds:>8.1f} {cost.per_hour(period):>9,}"
        )
    print(f"points per hour at the default period ({period} s); baseline job {baseline_status}")
    verdict = "met" if swept.points <= GOAL_POINTS else "NOT MET"
    ratio = baseline.points / swept.points if swept.points else float("inf")
    print(f"goal: a sweep costs <= {GOAL_POINTS} points: {verdict} ({swept.points});")
    print(f"      {ratio:,.0f}x fewer points than the incremental sync of every repository")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=2000)
    parser.add_argument("--prs", type=int, default=10000)
    args = parser.parse_args(argv)
    run(args.repos, args.prs)


if __name__ == "__main__":
    main()
