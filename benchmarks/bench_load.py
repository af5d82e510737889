"""Load benchmark: 20 teams onboard at once against one worker pool, beside one after another.

    make bench-load                                  # 20 teams, 50 ms per GitHub request
    REDIS_URL=redis://127.0.0.1:6379/0 \
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_load make bench-load
    make bench-load ARGS="--acme-repos 1 --acme-prs 3000"   # one team much bigger than the rest

Everything is real and on loopback: the sandbox GitHub (20 organizations, 20 distinct users,
a fixed latency per request), one Daphne process serving asgi:application, one worker pool
(``manage.py rundramatiq --processes 2 --threads 8``, as docker-compose runs it), Redis
(REDIS_URL, else the embedded Redis-protocol server) and a database (BENCH_DATABASE_URL or
DATABASE_URL, created when missing; else SQLite in a temporary directory).

Each team is a user with a ``requests.Session`` walking the flow over HTTP: the start page,
GitHub's Authorize page (the sandbox's), the callback, the organization, the repository list,
then the submit that starts the import. Twenty users do it in twenty threads; all submit at
the same moment. Reported per team: the wait from its submit to its first page written, and
its wall time from its submit to its job finished (the job's ``finished_at``). Overall: the
wall time from the first submit to the last job finished, and PRs/s over that time.

Baseline: the same teams onboarded one after another (each waits for its import to finish
before the next user starts), on a reset sandbox and an emptied database. Its walls are what
each team gets with the pool to itself; its total is the sum of those walls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.crowd import (
    CLIENT_ID,
    CLIENT_SECRET,
    Onboarding,
    TeamTimes,
    exact_teams,
    onboard_at_once,
    sandbox_args,
    sandbox_orgs,
    sandbox_users,
    team_times,
    wait_all_finished,
    wait_members_synced,
)
from benchmarks.local import serve_plain_http

ROOT = Path(__file__).resolve().parent.parent
TEAMS = 20
LATENCY_MS = 50.0
WORKER_PROCESSES = 2
WORKER_THREADS = 8


# The sandbox's OAuth app (its --client-id/--client-secret defaults).
@dataclass
class Run:
    name: str
    times: list[TeamTimes]
    exact: int

    @property
    def total_s(self) -> float:
        """First submit to last job finished (for one after another: the sum of the walls)."""
        if self.name.startswith("sequential"):
            return sum(t.wall_s for t in self.times)
        return max(t.finished_at for t in self.times) - min(t.submitted_at for t in self.times)

    @property
    def prs(self) -> int:
        return sum(t.prs for t in self.times)


# -- the benchmark ----------------------------------------------------------------------------


def _prepare_environment(work_dir: Path) -> None:
    """Point Django at the benchmark's database and Redis, before settings load."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    if not os.environ.get("REDIS_URL"):
        from project.embedded_redis import start_embedded_redis

        global _redis_server
        _redis_server, os.environ["REDIS_URL"] = start_embedded_redis()
    os.environ["REDIS_PREFIX"] = f"bench-load-{uuid.uuid4().hex[:8]}"
    database = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = database or f"sqlite:///{work_dir / 'bench.sqlite3'}"
    os.environ["VAR_DIR"] = str(work_dir)
    os.environ["DEBUG"] = "0"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["SECRET_KEY"] = "bench-secret-key-not-for-production"  # noqa: S105
    os.environ["ENCRYPTION_KEYS"] = "x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A="
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    serve_plain_http()


_redis_server: Any = None


def _setup_database() -> None:
    import django
    from django.core.management import call_command

    from benchmarks.bench_progress import _ensure_database

    _ensure_database()
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    _empty_database()


def _empty_database() -> None:
    """Remove every team and user (and so everything imported) left by an earlier run."""
    from django.contrib.auth.models import User

    from sync.models import Team

    Team.objects.all().delete()
    User.objects.all().delete()


def _fresh_world(sandbox: Any) -> None:
    """A fresh sandbox world, an empty database, no budget remembered from the last run."""
    from tests.sync.importing import forget_github_budgets

    sandbox.control.reset()
    _empty_database()
    forget_github_budgets()


def _teams(sandbox: Any, web: str, count: int) -> list[Onboarding]:
    users = sandbox_users(count)
    orgs = sandbox_orgs(sandbox.api_url, sandbox.control.issue_token("mona"))[:count]
    assert len(orgs) == count, f"the sandbox has {len(orgs)} organizations"
    return [
        Onboarding(login, org, web, sandbox.url) for login, org in zip(users, orgs, strict=True)
    ]


def run_concurrent(sandbox: Any, web: str, count: int, timeout: float) -> Run:
    _fresh_world(sandbox)
    teams = _teams(sandbox, web, count)
    onboard_at_once(teams, ready=lambda: wait_members_synced(teams))
    wait_all_finished([team.job_id for team in teams], timeout)
    return Run("concurrent", team_times(teams), exact_teams(teams, sandbox))


def run_sequential(sandbox: Any, web: str, count: int, timeout: float) -> Run:
    _fresh_world(sandbox)
    teams = _teams(sandbox, web, count)
    for team in teams:
        team.prepare()
        wait_members_synced([team])
        team.submit()
        wait_all_finished([team.job_id], timeout)
    return Run("sequential (baseline)", team_times(teams), exact_teams(teams, sandbox))


def team_table(times: list[TeamTimes], alone: list[TeamTimes] | None = None) -> str:
    """Render one line per team, in submit order: PRs, status, first page and wall seconds."""
    solo = {t.org: t for t in alone or []}
    rows = [
        (
            "team",
            "PRs",
            "status",
            "job created s",
            "first page s",
            "wall s",
            "alone: wall s",
            "/ alone",
        )
    ]
    for t in sorted(times, key=lambda t: t.submitted_at):
        other = solo.get(t.org)
        rows.append(
            (
                t.org,
                str(t.prs),
                t.status,
                f"{t.created_s:.2f}",
                f"{t.first_page_s:.2f}",
                f"{t.wall_s:.2f}",
                f"{other.wall_s:.2f}" if other else "-",
                f"{t.wall_s / other.wall_s:.1f}x" if other else "-",
            )
        )
    return _columns(rows)


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    """Align rows in columns: the first to the left, the others (figures) to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _summary(runs: list[Run]) -> str:
    figures: list[tuple[str, Callable[[Run], str]]] = [
        ("teams succeeded", lambda r: str(sum(t.status == "succeeded" for t in r.times))),
        ("teams equal to GitHub's truth", lambda r: str(r.exact)),
        ("PRs imported", lambda r: str(r.prs)),
        ("total wall s", lambda r: f"{r.total_s:.1f}"),
        ("throughput PRs/s", lambda r: f"{r.prs / r.total_s:.1f}"),
        ("team wall p50 s", lambda r: f"{statistics.median(t.wall_s for t in r.times):.2f}"),
        ("team wall max s", lambda r: f"{max(t.wall_s for t in r.times):.2f}"),
        ("job created max s", lambda r: f"{max(t.created_s for t in r.times):.2f}"),
        ("first page p50 s", lambda r: f"{statistics.median(t.first_page_s for t in r.times):.2f}"),
        ("first page max s", lambda r: f"{max(t.first_page_s for t in r.times):.2f}"),
    ]
    rows = [("", *(run.name for run in runs))]
    rows += [(label, *(value(run) for run in runs)) for label, value in figures]
    return _columns(rows)


def _report(concurrent: Run, sequential: Run | None, args: argparse.Namespace) -> None:
    print(
        f"\n{len(concurrent.times)} teams, {args.latency_ms:g} ms per GitHub request, one worker "
        f"pool of {args.processes} processes x {args.threads} threads"
    )
    print(team_table(concurrent.times, sequential.times if sequential else None))
    print()
    print(_summary([concurrent, sequential] if sequential else [concurrent]))
    first_done = min(t.finished_at for t in concurrent.times)
    last_first_page = max(t.submitted_at + t.first_page_s for t in concurrent.times)
    when = "before" if last_first_page < first_done else "after"
    gap = abs(first_done - last_first_page)
    print(f"\nfairness: the last first page was written {gap:.2f} s {when} the first team finished")
    if sequential:
        ratio = concurrent.total_s / sequential.total_s
        print(f"concurrent total / sequential total (sum of walls alone): {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=TEAMS, help="teams onboarding at once")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS, help="per GitHub request")
    parser.add_argument("--processes", type=int, default=WORKER_PROCESSES)
    parser.add_argument("--threads", type=int, default=WORKER_THREADS)
    parser.add_argument("--acme-repos", type=int, default=3, help="repositories of acme")
    parser.add_argument("--acme-prs", type=int, default=60, help="pull requests of acme")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait per run")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-load-") as work:
        _prepare_environment(Path(work))
        _setup_database()
        from django.db import connection

        from sandbox.testing import start_sandbox
        from tests.browser.servers import DaphneServer
        from tests.sync.importing import start_sync_worker

        print(f"backends: database={connection.vendor} redis={os.environ['REDIS_URL']}")
        print("figures depend on what else the machine runs; compare columns of one run")
        sandbox = start_sandbox(
            *sandbox_args(
                teams=args.teams,
                acme_repos=args.acme_repos,
                acme_prs=args.acme_prs,
                latency_ms=args.latency_ms,
            )
        )
        logs = ROOT / "artifacts" / "logs" / "bench-load"
        env = {
            "GITHUB_API_URL": sandbox.api_url,
            "GITHUB_CLIENT_ID": CLIENT_ID,
            "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        }
        daphne = DaphneServer(logs, **env)
        worker = None
        try:
            daphne.start()
            sandbox.control.set_callback_url(f"{daphne.url}/onboarding/github/callback/")
            worker = start_sync_worker(
                logs / "worker.log",
                processes=args.processes,
                threads=args.threads,
                environment=env,
            )
            concurrent = run_concurrent(sandbox, daphne.url, args.teams, args.timeout)
            sequential = None
            if not args.skip_baseline:
                sequential = run_sequential(sandbox, daphne.url, args.teams, args.timeout)
        finally:
            if worker is not None:
                worker.stop()
            daphne.stop()
            sandbox.stop()
        _report(concurrent, sequential, args)


if __name__ == "__main__":
    main()
