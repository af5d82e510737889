"""Benchmark the sync engine against the original pattern, on the sandbox GitHub at 50 ms.

    make bench-sync                                  # baseline and engine on the same org
    make bench-sync ARGS="--baseline-prs 300"        # baseline on a smaller org, extrapolated
    make bench-sync ARGS="--throughput"              # engine alone on 10,000 PRs, clean and
                                                     # with 10% of GraphQL pages timing out
    make bench-sync ARGS="--memory"                  # worker memory at 1,000 and 50,000 PRs

baseline: the original system's pattern, in one process: PyGithub REST, for each repository,
for each PR (state=all): list its reviews, list its commits, read ``additions`` (a GET per
PR), ``update_or_create`` per row, sequentially.
engine: ``services.start_sync`` with real ``rundramatiq`` worker processes.

Requests and rate-limit points come from the sandbox's counters (a REST request is a point,
GraphQL costs its computed points), peak RSS from the kernel (VmHWM; for the engine the
largest worker process). PostgreSQL (created if missing) and Redis when DATABASE_URL / REDIS_URL are
set, else SQLite under var/bench/ and an embedded Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = "50"
ORG = "acme"
WORKER_PROCESSES = 2
WORKER_THREADS = 8


@dataclass
class Result:
    name: str
    prs: int
    requests: int
    points: int
    seconds: float
    peak_rss_mb: float
    note: str = ""

    @property
    def prs_per_second(self) -> float:
        return self.prs / self.seconds if self.seconds else 0.0


# -- environment -----------------------------------------------------------------------------


def _environment() -> None:
    """Point Django at the benchmark's own database and Redis prefix, then set it up."""
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ.setdefault("ENCRYPTION_KEYS", "x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A=")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["REDIS_PREFIX"] = f"bench-{os.getpid()}"
    if os.environ.get("DATABASE_URL"):
        _create_database(os.environ["DATABASE_URL"])
    else:
        # settings' own SQLite (with its lock timeout and IMMEDIATE transactions) in a dir of
        # its own; a sqlite:// DATABASE_URL would drop those options.
        os.environ["VAR_DIR"] = str(ROOT / "var" / "bench")
    if not os.environ.get("REDIS_URL"):
        from project.embedded_redis import start_embedded_redis

        global _redis_server
        _redis_server, os.environ["REDIS_URL"] = start_embedded_redis()
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django

    django.setup()


_redis_server: Any = None


def _create_database(url: str) -> None:
    """Create the PostgreSQL database DATABASE_URL names, if it does not exist yet."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    if "postgresql" not in config["ENGINE"]:
        return
    params: dict[str, Any] = {
        "host": config["HOST"],
        "port": config["PORT"] or 5432,
        "user": config["USER"],
    }
    if config.get("PASSWORD"):
        params["password"] = config["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{config["NAME"]}"')


def _fresh_database() -> None:
    from django.core.management import call_command

    from sync.models import Team

    call_command("migrate", verbosity=0, interactive=False)
    Team.objects.all().delete()  # cascades to everything imported


# -- the sandbox -------------------------------------------------------------------------------


def _sandbox(repos: int, prs: int) -> Any:
    from sandbox.testing import start_sandbox

    return start_sandbox(
        "--seed", "11", "--orgs", "1", "--repos", str(repos), "--prs", str(prs),
        "--members", "20", "--latency-ms", LATENCY_MS, "--history-days", "700",
    )  # fmt: skip


def _points(counters: dict[str, Any]) -> int:
    rest = sum(n for name, n in counters["by_endpoint"].items() if "graphql" not in name.lower())
    return rest - counters.get("not_modified", 0) + counters["graphql_points_total"]


def _team(sandbox: Any) -> tuple[Any, str]:
    from django.contrib.auth.models import User

    from sync.models import Integration, IntegrationCredential, Membership, Team

    token = sandbox.control.issue_token("mona", ["read:org", "repo"])
    user, _ = User.objects.get_or_create(username="bench")
    credential = IntegrationCredential.objects.create(
        user=user, provider="github", access_token=token
    )
    team = Team.objects.create(name=ORG, github_org_id=1, github_org_login=ORG)
    # Imports run only on the token of a member of the team.
    Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    Integration.objects.create(team=team, provider="github", credential=credential)
    return team, token


# -- baseline ----------------------------------------------------------------------------------


def run_baseline_child(api_url: str, token: str) -> None:
    """The original pattern; prints its own wall time, PR count and peak RSS as JSON."""
    from github import Auth, Github

    from sync.models import Commit, PullRequest, Review, Team, TrackedRepository

    team = Team.objects.get(github_org_login=ORG)
    # The kindest configuration of the original: no PyGithub pauses between requests, no
    # sleeping retries, 100 items a page.
    g = Github(
        base_url=api_url,
        auth=Auth.Token(token),
        per_page=100,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    started = time.monotonic()
    prs = 0
    for repo in g.get_organization(ORG).get_repos():
        tracked, _ = TrackedRepository.objects.update_or_create(
            team=team, github_id=repo.id, defaults={"full_name": repo.full_name}
        )
        for pr in repo.get_pulls(state="all"):
            state = "merged" if pr.merged_at else pr.state
            row, _ = PullRequest.objects.update_or_create(
                github_id=pr.id,
                defaults={
                    "repository": tracked,
                    "number": pr.number,
                    "title": pr.title,
                    "state": state,
                    "draft": bool(pr.draft),
                    "author_login": pr.user.login if pr.user else "",
                    "created_at": pr.created_at,
                    "updated_at": pr.updated_at or pr.created_at,
                    "closed_at": pr.closed_at,
                    "merged_at": pr.merged_at,
                    "additions": pr.additions,  # not in a list item: a GET per PR
                    "deletions": pr.deletions,
                    "changed_files": pr.changed_files,
                },
            )
            for review in pr.get_reviews():
                Review.objects.update_or_create(
                    github_id=review.id,
                    defaults={
                        "pull_request": row,
                        "author_login": review.user.login if review.user else "",
                        "state": review.state,
                        "submitted_at": review.submitted_at,
                    },
                )
            for commit in pr.get_commits():
                Commit.objects.update_or_create(
                    pull_request=row,
                    sha=commit.sha,
                    defaults={
                        "author_login": commit.author.login if commit.author else "",
                        "author_name": commit.commit.author.name or "",
                        "authored_at": commit.commit.author.date,
                    },
                )
            prs += 1
    seconds = time.monotonic() - started
    print(json.dumps({"prs": prs, "seconds": seconds, "rss_mb": _own_peak_rss_mb()}))


def baseline(sandbox: Any) -> Result:
    _fresh_database()
    _, token = _team(sandbox)
    sandbox.control.reset_counters()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_sync", "--baseline-child", sandbox.api_url, token],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    counters = sandbox.control.counters()
    return Result(
        "baseline",
        measured["prs"],
        counters["requests"],
        _points(counters),
        measured["seconds"],
        measured["rss_mb"],
    )


# -- engine ------------------------------------------------------------------------------------


def engine(
    sandbox: Any,
    *,
    processes: int,
    threads: int,
    label: str = "engine",
    timeouts: float = 0.0,
    timeout_wait_s: float = 10.0,
) -> Result:
    """Import the org with real workers; ``timeouts`` of GraphQL answers time out as GitHub's."""
    from django.utils import timezone

    from sync import services
    from sync.github.orgs import list_org_repos
    from sync.models import SyncJob, TrackedRepository

    _fresh_database()
    team, token = _team(sandbox)
    os.environ["GITHUB_API_URL"] = sandbox.api_url
    from django.conf import settings

    settings.GITHUB_API_URL = sandbox.api_url
    for repo in list_org_repos(token, ORG):
        TrackedRepository.objects.create(team=team, github_id=repo.id, full_name=repo.full_name)
    worker = _start_worker(processes, threads)
    try:
        sandbox.control.clear_faults()
        if timeouts:
            # GitHub answers a stopped query after its 10 s, in one of three shapes; each
            # shape takes its share of the timed-out pages. Timeouts are charged.
            sandbox.control.set_graphql(wait_s=timeout_wait_s)
            for shape in ("502", "504", "data_null"):
                sandbox.control.add_fault(
                    "^/api/graphql$", kind="timeout", shape=shape, fraction=timeouts / 3
                )
        sandbox.control.reset_counters()
        started = time.monotonic()
        job = services.start_sync(team=team, history_since=timezone.now() - timedelta(days=3650))
        while not (job := SyncJob.objects.get(pk=job.pk)).is_finished:
            time.sleep(0.05)
        seconds = time.monotonic() - started
        rss = _worker_peak_rss_mb(worker)
    finally:
        _stop(worker)
    counters = sandbox.control.counters()
    note = "" if job.status == SyncJob.Status.SUCCEEDED else f"job {job.status}"
    if timeouts:
        note = f"{counters['graphql_timeouts']} timeouts ({counters['graphql_timeout_points']} pts)"
    exact = "exact" if _exact(team, job, sandbox) else "NOT EXACT"
    note = f"{note}; {exact}" if note else exact
    return Result(
        label, job.prs_synced, counters["requests"], _points(counters), seconds, rss, note
    )


def _exact(team: Any, job: Any, sandbox: Any) -> bool:
    """Whether the database holds exactly the sandbox's truth for the job's window."""
    from tests.sync.importing import since_of, truth_from_db

    return truth_from_db(team) == sandbox.control.truth(ORG, since=since_of(job))


def _start_worker(processes: int, threads: int) -> subprocess.Popen[bytes]:
    args = ["manage.py", "rundramatiq", "--processes", str(processes), "--threads", str(threads)]
    path = ROOT / "var" / "bench-worker.log"
    log = path.open("wb")
    # An idle Dramatiq consumer polls Redis at most every 100 ms (default 1 s), so a page's
    # follow-up message waits milliseconds, not up to a second, when the queue runs dry.
    env = dict(os.environ, dramatiq_worker_timeout="100", LOG_LEVEL="INFO")
    worker = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while path.read_text(errors="replace").count("ready for action") < processes:
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError(f"the worker did not start; see {path}")
        time.sleep(0.1)
    return worker


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()


def _worker_peak_rss_mb(worker: subprocess.Popen[bytes]) -> float:
    import psutil

    children = psutil.Process(worker.pid).children(recursive=True)
    return max((_peak_rss_mb(child.pid) for child in children), default=0.0)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _own_peak_rss_mb() -> float:
    return _peak_rss_mb(os.getpid())


# -- reporting ---------------------------------------------------------------------------------


def _table(results: list[Result]) -> str:
    rows = [("", "PRs", "requests", "points", "wall s", "PRs/s", "peak RSS MB", "")]
    rows += [
        (
            r.name,
            str(r.prs),
            str(r.requests),
            str(r.points),
            f"{r.seconds:.1f}",
            f"{r.prs_per_second:.1f}",
            f"{r.peak_rss_mb:.0f}",
            r.note,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def _scaled(result: Result, prs: int) -> Result:
    factor = prs / result.prs
    return Result(
        f"{result.name} (x{factor:.2f})",
        prs,
        round(result.requests * factor),
        round(result.points * factor),
        result.seconds * factor,
        result.peak_rss_mb,
        f"extrapolated from {result.prs} PRs",
    )


def _header(args: argparse.Namespace) -> None:
    workers = f"{args.processes} processes x {args.threads} threads"
    print(f"\nsandbox latency {LATENCY_MS} ms; engine workers: {workers}")


def compare(args: argparse.Namespace) -> None:
    measured: list[Result] = []
    with _sandbox(args.repos, args.prs) as sandbox:
        fast = engine(sandbox, processes=args.processes, threads=args.threads)
        measured.append(fast)
    base_prs = args.baseline_prs or args.prs
    base_repos = (
        args.repos if base_prs == args.prs else max(1, round(args.repos * base_prs / args.prs))
    )
    with _sandbox(base_repos, base_prs) as sandbox:
        slow = baseline(sandbox)
    measured.insert(0, slow)
    shown = [slow, fast]
    if slow.prs != fast.prs:
        slow = _scaled(slow, fast.prs)
        shown.insert(1, slow)
    _header(args)
    print(_table(shown))
    print(
        f"\nratios (baseline / engine): rate-limit points {slow.points / fast.points:.1f}x, "
        f"requests {slow.requests / fast.requests:.1f}x, "
        f"wall time {slow.seconds / fast.seconds:.1f}x, "
        f"throughput {fast.prs_per_second / slow.prs_per_second:.1f}x"
    )


def throughput(args: argparse.Namespace) -> None:
    with _sandbox(25, 10_000) as sandbox:
        result = engine(sandbox, processes=args.processes, threads=args.threads)
        slow = engine(
            sandbox,
            processes=args.processes,
            threads=args.threads,
            label=f"engine, {args.timeouts:.0%} GraphQL timeouts",
            timeouts=args.timeouts,
            timeout_wait_s=args.timeout_wait_s,
        )
    _header(args)
    print(f"timed-out GraphQL answers arrive after {args.timeout_wait_s:g} s, as GitHub's do")
    print(_table([result, slow]))
    verdict = "meets" if result.prs_per_second >= 300 else "MISSES"
    print(f"\n{result.prs_per_second:.0f} PRs/s on 10,000 PRs: {verdict} the 300 PRs/s target")
    print(
        f"with {args.timeouts:.0%} of GraphQL pages timing out: {slow.prs_per_second:.0f} PRs/s, "
        f"{slow.points} points vs {result.points} ({slow.points - result.points:+d})"
    )


def memory(args: argparse.Namespace) -> None:
    results = []
    for prs in (1_000, 50_000):
        with _sandbox(25, prs) as sandbox:
            results.append(
                engine(
                    sandbox, processes=args.processes, threads=args.threads, label=f"engine {prs:,}"
                )
            )
    _header(args)
    print(_table(results))
    growth = results[1].peak_rss_mb - results[0].peak_rss_mb
    verdict = "meets" if growth < 50 else "MISSES"
    print(f"\nworker peak RSS grows {growth:.1f} MB from 1,000 to 50,000 PRs: {verdict} < 50 MB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench-sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=6, help="repositories of the compared org")
    parser.add_argument("--prs", type=int, default=400, help="PRs of the compared org")
    parser.add_argument(
        "--baseline-prs",
        type=int,
        default=0,
        help="run the baseline on a smaller org and extrapolate",
    )
    parser.add_argument("--processes", type=int, default=WORKER_PROCESSES)
    parser.add_argument("--threads", type=int, default=WORKER_THREADS)
    parser.add_argument("--throughput", action="store_true", help="engine alone on 10,000 PRs")
    parser.add_argument(
        "--memory", action="store_true", help="worker memory at 1,000 and 50,000 PRs"
    )
    parser.add_argument(
        "--timeouts", type=float, default=0.1, help="share of GraphQL pages that time out"
    )
    parser.add_argument(
        "--timeout-wait-s", type=float, default=10.0, help="how long a timed-out answer takes"
    )
    parser.add_argument(
        "--baseline-child", nargs=2, metavar=("API_URL", "TOKEN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    _environment()
    if args.baseline_child:
        run_baseline_child(*args.baseline_child)
    elif args.throughput:
        throughput(args)
    elif args.memory:
        memory(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
