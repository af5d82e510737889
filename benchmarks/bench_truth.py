"""Benchmark the honesty of the progress page: a 25-repository import at 50 ms per request.

    make bench-truth                       # 25 repositories, 5,000 PRs, 2 worker processes x 4
    make bench-truth ARGS="--prs 10000"

It records every frame the job's socket sends from a real Daphne while real workers import,
judges them (``benchmarks.progress_truth``) and prints, beside the targets: the largest gap
between the percent shown and the PRs stored, the largest ETA error once a quarter is done,
and how long the page showed no progress after the worker was killed with SIGKILL (measured
from the kill to the next frame that shows more PRs). PostgreSQL and Redis when
DATABASE_URL / REDIS_URL are set, else SQLite and an embedded Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import psutil

from benchmarks import bench_sync, progress_truth
from benchmarks.bench_repos import _free_port, _start_daphne

RECOVERY_TARGET_S = 15.0


def _viewer(team: Any) -> str:
    """Return the session of a member of ``team`` who watches the page."""
    from django.contrib.auth.models import User
    from django.test import Client

    from sync.models import Membership

    user = User.objects.create_user(f"viewer-{os.getpid()}-{time.monotonic_ns()}")
    Membership.objects.create(user=user, team=team)
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def _record(port: int, session: str, job_id: int) -> progress_truth.Recorder:
    return progress_truth.Recorder(
        f"ws://127.0.0.1:{port}/ws/sync/{job_id}/",
        session_id=session,
        origin=f"http://127.0.0.1:{port}",
    )


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    for child in psutil.Process(process.pid).children(recursive=True):
        child.send_signal(signal.SIGKILL)
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.utils import timezone

    from sync import services
    from sync.github.orgs import list_org_repos
    from sync.models import RepoSync, SyncJob, TrackedRepository

    with bench_sync._sandbox(25, args.prs) as sandbox:
        bench_sync._fresh_database()
        team, token = bench_sync._team(sandbox)
        os.environ["GITHUB_API_URL"] = settings.GITHUB_API_URL = sandbox.api_url
        for repo in list_org_repos(token, bench_sync.ORG):
            TrackedRepository.objects.create(team=team, github_id=repo.id, full_name=repo.full_name)
        session = _viewer(team)
        port = _free_port()
        daphne = _start_daphne({}, port, bench_sync.ROOT / "var" / "bench-truth-daphne.log")
        worker = bench_sync._start_worker(args.processes, args.threads)
        try:
            sandbox.control.reset_counters()
            since = timezone.now() - timedelta(days=3650)
            job = services.start_sync(team=team, history_since=since)
            frames = _record(port, session, job.pk).wait_finished(timeout=900)
            job = SyncJob.objects.get(pk=job.pk)
            counters = sandbox.control.counters()
            verdict = progress_truth.judge(frames)

            # Recovery: a full resync, the worker killed once pages are flowing, a new one.
            again = services.start_sync(team=team, kind=SyncJob.Kind.FULL, history_since=since)
            recorder = _record(port, session, again.pk)
            while RepoSync.objects.filter(job=again, pages_done__gt=1).count() < 3:
                time.sleep(0.02)
            _kill_tree(worker)
            killed = time.monotonic()
            stored = SyncJob.objects.get(pk=again.pk).prs_synced
            worker = bench_sync._start_worker(args.processes, args.threads)
            after = recorder.wait_finished(timeout=900)
            moved = next((f for f in after if f.at > killed and f.synced > stored), None)
            recovery = moved.at - killed if moved else float("inf")
            resumed = SyncJob.objects.get(pk=again.pk)
        finally:
            bench_sync._stop(worker)
            daphne.terminate()
    _report(args, job, counters, verdict, recovery, resumed)


def _report(
    args: argparse.Namespace,
    job: Any,
    counters: dict[str, Any],
    verdict: progress_truth.Judgement,
    recovery: float,
    resumed: Any,
) -> None:
    count_requests = counters["by_endpoint"].get("POST /api/graphql", 0)
    print(
        f"bench-truth: 25 repositories, {job.prs_synced:,} PRs, 50 ms per GitHub request, "
        f"{args.processes} worker processes x {args.threads} threads"
    )
    print(f"job {job.pk}: {job.status}, {verdict.frames} frames, {job.github_points} points")
    eta_error = "n/a" if verdict.max_eta_error is None else f"{verdict.max_eta_error:.0%}"
    rows = [
        ("largest percent error (points)", f"{verdict.max_percent_error:.1f}", "<= 10"),
        ("largest ETA error after 25%", eta_error, "<= 35% (or 20 s)"),
        ("recovery after SIGKILL (s)", f"{recovery:.1f}", f"<= {RECOVERY_TARGET_S:.0f}"),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'measure':<{width}}  {'measured':>9}  target")
    for name, measured, target in rows:
        print(f"{name:<{width}}  {measured:>9}  {target}")
    print(f"\nframes judged for the ETA: {verdict.eta_frames}; GraphQL requests: {count_requests}")
    print(f"the killed import ended {resumed.status} with {resumed.prs_synced:,} PRs")
    for problem in verdict.problems:
        print(f"problem: {problem}")
    honest = verdict.honest and recovery <= RECOVERY_TARGET_S
    print("\nverdict:", "meets every target" if honest else "MISSES a target")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-truth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prs", type=int, default=5_000, help="PRs across the 25 repositories")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    bench_sync._environment()
    run(args)
    sys.exit(0)


if __name__ == "__main__":
    main()
