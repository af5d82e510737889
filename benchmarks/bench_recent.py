"""Benchmark "recent history first": how soon every repository's last 30 days are stored.

    make bench-recent                               # beside the old order, 200 repositories
    make bench-recent ARGS="--prs 20000"            # a smaller organization
    make bench-recent ARGS="--baseline-ref REF"     # beside another commit instead
    make bench-recent ARGS="--no-baseline"          # this tree alone

A first import of a 200-repository organization (the sandbox GitHub at 50 ms a request, real
``rundramatiq`` workers, 2 processes x 8 threads). While it runs, the database is polled: the
moment it holds every pull request updated in the last ``--recent-days`` (compared with the
sandbox's truth for that window) is "recent stored"; the job's end is "whole import". The
baseline is the same tree with the recent phase off (``SYNC_RECENT_DAYS=0``: every repository
in page order, as before), or another commit (``--baseline-ref``, exported with ``git archive``
into a temporary directory), each against a database of its own, so the figures sit side by
side.

The measurement does not ask the engine anything it did not have before (it polls rows), so
it runs unchanged on code that has no recent phase.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks import bench_sync

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.25  # recent stored within this share of the whole import's time
POLL_S = 0.1


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run one first import with real workers; return its timings and GitHub counters."""
    from django.utils import timezone

    from sandbox.testing import start_sandbox
    from sync import services
    from sync.github.orgs import list_org_repos
    from sync.models import SyncJob, TrackedRepository

    sandbox = start_sandbox(
        "--seed", "11", "--orgs", "1", "--repos", str(args.repos), "--prs", str(args.prs),
        "--members", "20", "--latency-ms", bench_sync.LATENCY_MS,
        "--history-days", str(args.history_days),
    )  # fmt: skip
    with sandbox:
        bench_sync._fresh_database()
        team, token = bench_sync._team(sandbox)
        from django.conf import settings

        os.environ["GITHUB_API_URL"] = settings.GITHUB_API_URL = sandbox.api_url
        for repo in list_org_repos(token, bench_sync.ORG):
            # Archived ones too (as "Select all shown" does): GitHub's truth is the whole org's.
            TrackedRepository.objects.create(team=team, github_id=repo.id, full_name=repo.full_name)
        line = timezone.now() - timedelta(days=args.recent_days)
        recent_truth = _truth(sandbox, line.isoformat())
        worker = bench_sync._start_worker(args.processes, args.threads)
        try:
            sandbox.control.reset_counters()
            started = time.monotonic()
            job = services.start_sync(
                team=team, history_since=timezone.now() - timedelta(days=args.history_days + 40)
            )
            recent_s, job = _watch(job, team, line, recent_truth["pull_requests"], started)
            seconds = time.monotonic() - started
        finally:
            bench_sync._stop(worker)
        counters = sandbox.control.counters()
        ready_at = getattr(job, "recent_ready_at", None)
        return {
            "prs": job.prs_synced,
            "recent_prs": recent_truth["pull_requests"],
            "status": job.status,
            "seconds": seconds,
            "recent_s": recent_s,
            # When the job itself said "recent activity ready" (None: the code has no such state).
            "state_recent_s": (ready_at - job.created_at).total_seconds() if ready_at else None,
            "requests": counters["requests"],
            "points": bench_sync._points(counters),
            "exact": bench_sync._exact(team, job, sandbox),
            "finished": job.status == SyncJob.Status.SUCCEEDED,
        }


def _truth(sandbox: Any, since: str) -> dict[str, Any]:
    """Ask the sandbox for its truth; the first ask builds every pull request, which can take
    longer than the control client waits on a busy machine, so ask again (it keeps building)."""
    import requests

    for _ in range(10):
        try:
            return dict(sandbox.control.truth(bench_sync.ORG, since=since))
        except requests.exceptions.Timeout:
            continue
    raise RuntimeError("the sandbox did not answer its truth in 100 s")


def _watch(job: Any, team: Any, line: Any, recent_total: int, started: float) -> tuple[float, Any]:
    """Poll until the job ends; return when the recent window was first fully stored."""
    from sync.models import PullRequest, SyncJob

    recent = PullRequest.objects.filter(
        repository__team=team, deleted_at__isnull=True, updated_at__gte=line
    )
    recent_s = None
    while True:
        job = SyncJob.objects.get(pk=job.pk)
        if recent_s is None and recent.count() >= recent_total:
            recent_s = time.monotonic() - started
        if job.is_finished:
            return (recent_s if recent_s is not None else time.monotonic() - started), job
        time.sleep(POLL_S)


# -- the baseline, measured by the same code on another ref ------------------------------------


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the old order: this tree with the recent phase off, or ``args.baseline_ref``."""
    if args.baseline_ref is None:
        return _child(args, cwd=ROOT, SYNC_RECENT_DAYS="0")
    with tempfile.TemporaryDirectory(prefix="bench-recent-") as tmp:
        archive = subprocess.run(
            ["git", "archive", args.baseline_ref], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        shutil.copy(Path(__file__), Path(tmp) / "benchmarks" / "bench_recent.py")
        (Path(tmp) / "var").mkdir(exist_ok=True)
        return _child(args, cwd=Path(tmp))


def _child(args: argparse.Namespace, *, cwd: Path, **environment: str) -> dict[str, Any]:
    """Run the measurement in a child process, on a database of its own."""
    env = {**os.environ, **environment}
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = env["DATABASE_URL"].rstrip("/") + "_baseline"
    child = [sys.executable, "-m", "benchmarks.bench_recent", "--child", *_passed(args)]
    done = subprocess.run(child, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the baseline run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _passed(args: argparse.Namespace) -> list[str]:
    return [
        "--repos", str(args.repos), "--prs", str(args.prs),
        "--history-days", str(args.history_days), "--recent-days", str(args.recent_days),
        "--processes", str(args.processes), "--threads", str(args.threads),
    ]  # fmt: skip


# -- reporting ---------------------------------------------------------------------------------


def _row(name: str, result: dict[str, Any]) -> tuple[str, ...]:
    share = result["recent_s"] / result["seconds"]
    state = result["state_recent_s"]
    note = "exact" if result["exact"] else "NOT EXACT"
    if not result["finished"]:
        note += f"; job {result['status']}"
    return (
        name,
        str(result["prs"]),
        f"{result['recent_s']:.1f}",
        "-" if state is None else f"{state:.1f}",
        f"{result['seconds']:.1f}",
        f"{share:.0%}",
        f"{result['prs'] / result['seconds']:.0f}",
        str(result["requests"]),
        str(result["points"]),
        note,
    )


def report(args: argparse.Namespace, results: list[tuple[str, dict[str, Any]]]) -> None:
    head = (
        "",
        "PRs",
        "recent stored s",
        "state said s",
        "whole import s",
        "recent/whole",
        "PRs/s",
        "requests",
        "points",
        "",
    )
    rows = [head, *(_row(name, result) for name, result in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    print(
        f"\n{args.repos} repositories, {args.prs} pull requests over {args.history_days} days, "
        f"sandbox latency {bench_sync.LATENCY_MS} ms, workers {args.processes} x {args.threads}; "
        f"recent = the last {args.recent_days} days ({results[0][1]['recent_prs']} PRs)"
    )
    print("\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows))
    now = results[0][1]
    share = now["recent_s"] / now["seconds"]
    verdict = "meets" if share <= GOAL else "MISSES"
    print(f"\nrecent stored at {share:.0%} of the whole import: {verdict} the {GOAL:.0%} goal")
    if len(results) > 1:
        base = results[1][1]
        rate, base_rate = now["prs"] / now["seconds"], base["prs"] / base["seconds"]
        print(
            f"throughput {rate:.0f} PRs/s beside {base_rate:.0f} on the baseline "
            f"({rate / base_rate - 1:+.0%}); points {now['points']} beside {base['points']}; "
            f"recent stored {base['recent_s'] / now['recent_s']:.1f}x sooner"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-recent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--prs", type=int, default=50_000, help="pull requests of the org")
    parser.add_argument("--history-days", type=int, default=365, help="the org's history")
    parser.add_argument("--recent-days", type=int, default=30)
    parser.add_argument("--processes", type=int, default=bench_sync.WORKER_PROCESSES)
    parser.add_argument("--threads", type=int, default=bench_sync.WORKER_THREADS)
    parser.add_argument(
        "--baseline-ref", help="a commit measured beside (default: this tree, old order)"
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("SYNC_RECENT_DAYS", str(args.recent_days))
    bench_sync._environment()
    if args.child:
        print(json.dumps(measure(args)))
        return
    results = [("this tree", measure(args))]
    print(f"this tree: {json.dumps(results[0][1])}", flush=True)
    if not args.no_baseline:
        name = args.baseline_ref or "recent phase off"
        results.append((f"baseline: {name}", baseline(args)))
    report(args, results)


if __name__ == "__main__":
    main()
