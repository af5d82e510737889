"""Scale-out benchmark: the 20-team crowd on 1, 2 and 4 worker processes; 1,000 sockets on 1 and
2 Daphne processes.

    make bench-scale                                   # the defaults below, about 6 minutes
    REDIS_URL=redis://127.0.0.1:6379/0 \
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_scale make bench-scale
    make bench-scale ARGS="--processes 1 2 4 8 --acme-prs 3000 --sockets 2000 --webs 1 2 4"

Everything is real and on loopback: the sandbox GitHub (20 organizations, 20 users, 50 ms per
request), Daphne serving asgi:application, ``manage.py rundramatiq --processes N --threads 8``,
Redis (REDIS_URL, else the embedded Redis-protocol server) and a database (BENCH_DATABASE_URL
or DATABASE_URL, created when missing; else SQLite in a temporary directory).

1. Workers. For each N, a fresh pool of N worker processes; the 20 users walk the onboarding
   flow over HTTP (benchmarks.crowd, as ``make bench-load``) and submit at once. Reported per
   N: PRs imported, wall time from the first submit to the last job finished, throughput, p95
   of each team's wait from its submit to its first page written, the CPU seconds the worker
   processes spent per 1,000 PRs (psutil, user + system, over the run), and where the
   machine's CPU went meanwhile (workers, Daphne, the sandbox, the PostgreSQL backends of this
   benchmark's database, the Redis server, this process, and everything else the machine ran),
   so that the table says what binds: the cores, or GitHub's latency.
2. Web. For each number of Daphne processes, ``--sockets`` WebSocket clients in all (spread
   evenly, as a proxy would) watch one job that changes ``--rate`` times a second, published
   urgently as a worker does. Reported: deliveries missing, commit-to-client p50/p95, and the
   CPU per update of the Daphne processes and of this process (the clients).

Baselines: 1 worker process (part 1) and 1 Daphne (part 2). Every team's import is checked
against GitHub's truth; a run with a team not equal to it says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
THREADS = 8  # per worker process, as docker-compose runs it
GROUPS = ("workers", "daphne", "sandbox", "postgres", "redis", "bench", "other")


@dataclass
class WorkerRun:
    processes: int
    prs: int
    wall_s: float
    first_page_p95_s: float
    worker_cpu_s: float
    exact: int
    teams: int
    cpu_by_group: dict[str, float]  # CPU seconds during the run
    machine_busy: float  # fraction of all cores busy during the run

    @property
    def throughput(self) -> float:
        return self.prs / self.wall_s

    @property
    def cpu_per_1000(self) -> float:
        return self.worker_cpu_s / self.prs * 1000


@dataclass
class WebRun:
    webs: int
    sockets: int
    updates: int
    missing: int
    p50_ms: float
    p95_ms: float
    daphne_cpu_ms: float  # per update, all Daphne processes
    client_cpu_ms: float
    handshakes_retried: int


# -- environment ----------------------------------------------------------------------------------


def _prepare_environment(work_dir: Path) -> None:
    from benchmarks import bench_load

    bench_load._prepare_environment(work_dir)
    os.environ["REDIS_PREFIX"] = f"bench-scale-{uuid.uuid4().hex[:8]}"
    # One user holds every socket of part 2: no per-user cap in the way.
    os.environ["SYNC_SOCKETS_PER_USER"] = "100000"


def _cpu(process: Any) -> float:
    try:
        times = process.cpu_times()
        return float(times.user + times.system)
    except Exception:  # a process that ended: its time is no longer readable
        return 0.0


class CpuMeter:
    """CPU seconds of named groups of processes, from ``start()`` to ``stop()``."""

    def __init__(self, groups: dict[str, Callable[[], list[Any]]]) -> None:
        self.groups = groups
        self.before: dict[int, float] = {}
        self.spent: dict[str, float] = {}

    def start(self) -> None:

        self.before = {p.pid: _cpu(p) for ps in self._members().values() for p in ps}
        self.machine = _machine_busy_s()
        self.started = time.monotonic()

    def stop(self) -> float:
        """Record each group's CPU seconds; return the fraction of every core that was busy."""
        import psutil

        machine = _machine_busy_s() - self.machine
        for name, members in self._members().items():
            self.spent[name] = sum(_cpu(p) - self.before.get(p.pid, 0.0) for p in members)
        self.machine = machine
        cores = psutil.cpu_count() or 1
        return machine / ((time.monotonic() - self.started) * cores)

    def _members(self) -> dict[str, list[Any]]:
        return {name: find() for name, find in self.groups.items()}


def _machine_busy_s() -> float:
    """CPU seconds every core of the machine spent on anything but idling, since boot."""
    import psutil

    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _named(name: str, *, cmdline: str = "") -> Callable[[], list[Any]]:
    """Processes called ``name`` (and with ``cmdline`` in their command line, when given)."""

    def find() -> list[Any]:
        import psutil

        found = []
        for process in psutil.process_iter(["name", "cmdline"]):
            if name in (process.info["name"] or "") and cmdline in " ".join(
                process.info["cmdline"] or []
            ):
                found.append(process)
        return found

    return find


def _tree(
    pid_of: Callable[[], int | None], *, children_only: bool = False
) -> Callable[[], list[Any]]:
    def find() -> list[Any]:
        import psutil

        pid = pid_of()
        if pid is None:
            return []
        try:
            root = psutil.Process(pid)
            children = root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return children if children_only else [root, *children]

    return find


# -- 1. workers -----------------------------------------------------------------------------------


@contextmanager
def _pool(processes: int, env: dict[str, str], logs: Path) -> Iterator[Any]:
    from tests.processes import wait_for
    from tests.sync.importing import start_sync_worker

    worker = start_sync_worker(
        logs / f"worker-{processes}.log", processes=processes, threads=THREADS, environment=env
    )
    try:
        wait_for(lambda: _beating(worker) >= processes, timeout=120, interval=0.2)
        yield worker
    finally:
        worker.stop()


def _beating(worker: Any) -> int:
    import socket

    import psutil
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    beats = client.zrange(f"{settings.REDIS_PREFIX}:worker-heartbeats", 0, -1)
    names = {beat.decode() for beat in beats}
    children = psutil.Process(worker.popen.pid).children(recursive=True)
    return sum(f"{socket.gethostname()}-{child.pid}" in names for child in children)


def run_workers(
    processes: int, sandbox: Any, daphne: Any, env: dict[str, str], args: argparse.Namespace
) -> WorkerRun:
    from django.db import connection

    from benchmarks.bench_load import run_concurrent

    logs = ROOT / "artifacts" / "logs" / "bench-scale"
    with _pool(processes, env, logs) as worker:
        meter = CpuMeter(
            {
                "workers": _tree(lambda: worker.popen.pid, children_only=True),
                "daphne": _tree(lambda: daphne.process.popen.pid),
                "sandbox": _tree(lambda: sandbox.process.pid),
                # PostgreSQL's backends name their database: this benchmark's only.
                "postgres": _named("postgres", cmdline=f" {connection.settings_dict['NAME']} "),
                "redis": _named("redis-server"),
                "bench": _tree(lambda: os.getpid(), children_only=False),
            }
        )
        boot_cpu = sum(_cpu(p) for p in meter.groups["workers"]())
        meter.start()
        run = run_concurrent(sandbox, daphne.url, args.teams, args.timeout)
        busy = meter.stop()
        worker_cpu = sum(_cpu(p) for p in meter.groups["workers"]()) - boot_cpu
    # The bench group counted its children (the pool, Daphne, the sandbox) too: keep its own.
    meter.spent["bench"] -= sum(meter.spent[name] for name in ("workers", "daphne", "sandbox"))
    meter.spent["other"] = meter.machine - sum(meter.spent.values())
    return WorkerRun(
        processes=processes,
        prs=run.prs,
        wall_s=run.total_s,
        first_page_p95_s=_percentile([t.first_page_s for t in run.times], 0.95),
        worker_cpu_s=worker_cpu,
        exact=run.exact,
        teams=len(run.times),
        cpu_by_group=meter.spent,
        machine_busy=busy,
    )


# -- 2. web ---------------------------------------------------------------------------------------


async def _fan_out(
    urls: list[str], job_id: int, session: str, sockets: int, rate: float, seconds: float,
    pids: list[int],
) -> WebRun:  # fmt: skip
    import psutil

    from benchmarks.bench_progress import WARM_UP, _commit_update

    servers, this = [psutil.Process(pid) for pid in pids], psutil.Process()
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(sockets)]
    received: list[dict[int, float]] = [{} for _ in range(sockets)]
    retries: list[int] = []
    tasks = []
    for index in range(sockets):
        url = f"{urls[index % len(urls)]}/ws/sync/{job_id}/"
        client = _client(url, session, received[index], readies[index], stop, retries)
        tasks.append(asyncio.ensure_future(client))
        if index % 25 == 24:  # connect in batches, as pages open over time
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies[: index + 1])), 300)
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 300)
    for _ in range(WARM_UP):
        await asyncio.to_thread(_commit_update, job_id, {}, urgent=True)  # type: ignore[arg-type]
        await asyncio.sleep(1 / rate)
    stamps: dict[int, float] = {}
    versions = []
    count = int(rate * seconds)
    server_cpu, client_cpu = sum(_cpu(s) for s in servers), _cpu(this)
    started = time.monotonic()
    for number in range(count):
        await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
        versions.append(await asyncio.to_thread(_commit_update, job_id, stamps, urgent=True))  # type: ignore[arg-type]
    await asyncio.sleep(3)
    server_cpu = sum(_cpu(s) for s in servers) - server_cpu
    client_cpu = _cpu(this) - client_cpu
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays = [(got[v] - stamps[v]) * 1000 for got in received for v in versions if v in got]
    return WebRun(
        webs=len(urls),
        sockets=sockets,
        updates=len(versions),
        missing=sockets * len(versions) - len(delays),
        p50_ms=_percentile(delays, 0.5),
        p95_ms=_percentile(delays, 0.95),
        daphne_cpu_ms=server_cpu / count * 1000,
        client_cpu_ms=client_cpu / count * 1000,
        handshakes_retried=len(retries),
    )


async def _client(
    url: str,
    session: str,
    received: dict[int, float],
    ready: asyncio.Event,
    stop: asyncio.Event,
    retries: list[int],
) -> None:
    """One page's socket: its snapshot, then the arrival time of every version it is sent.

    A handshake the server drops (Daphne gives the application 5 s to accept) is tried again
    after a pause, as the page's script does; ``retries`` counts them.
    """
    import websockets

    origin = url.replace("ws://", "http://").split("/ws/")[0]  # the site's own, as a browser's
    for attempt in range(20):
        try:
            async with websockets.connect(
                url,
                origin=origin,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"sessionid={session}"},
                max_size=2**22,
                open_timeout=60,
            ) as socket:
                await _read(socket, received, ready, stop)
                return
        except (OSError, websockets.exceptions.InvalidHandshake, TimeoutError):
            retries.append(1)
            await asyncio.sleep(min(0.5 * 2**attempt, 5))


async def _read(
    socket: Any, received: dict[int, float], ready: asyncio.Event, stop: asyncio.Event
) -> None:
    from benchmarks.bench_progress import VERSION

    await socket.recv()  # the snapshot
    ready.set()
    while not stop.is_set():
        try:
            frame = await asyncio.wait_for(socket.recv(decode=False), 0.5)
        except TimeoutError:
            continue
        if match := VERSION.search(frame):
            received.setdefault(int(match.group(1)), time.time())


def run_web(webs: int, args: argparse.Namespace, job_id: int, session: str) -> WebRun:
    from tests.browser.servers import DaphneServer

    logs = ROOT / "artifacts" / "logs" / "bench-scale"
    servers = [DaphneServer(logs / f"web-{webs}-{number}") for number in range(webs)]
    try:
        for server in servers:
            server.start()
        urls = [server.url.replace("http://", "ws://") for server in servers]
        pids = [server.process.popen.pid for server in servers]  # type: ignore[union-attr]
        return asyncio.run(
            _fan_out(urls, job_id, session, args.sockets, args.rate, args.seconds, pids)
        )
    finally:
        for server in servers:
            server.stop()


# -- report ---------------------------------------------------------------------------------------


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _columns(rows: list[tuple[str, ...]]) -> str:
    from benchmarks.bench_load import _columns as columns

    return columns(rows)


def worker_table(runs: list[WorkerRun]) -> str:
    base = runs[0]
    rows = [
        ("worker processes", *(f"{r.processes} x {THREADS}" for r in runs)),
        ("teams equal to GitHub's truth", *(f"{r.exact}/{r.teams}" for r in runs)),
        ("PRs imported", *(str(r.prs) for r in runs)),
        ("wall s (first submit -> last job done)", *(f"{r.wall_s:.1f}" for r in runs)),
        ("throughput PRs/s", *(f"{r.throughput:.1f}" for r in runs)),
        ("  vs 1 process", *(f"{r.throughput / base.throughput:.2f}x" for r in runs)),
        ("first page p95 s", *(f"{r.first_page_p95_s:.2f}" for r in runs)),
        ("worker CPU s per 1,000 PRs", *(f"{r.cpu_per_1000:.1f}" for r in runs)),
        (
            "PostgreSQL CPU s per 1,000 PRs",
            *(f"{r.cpu_by_group.get('postgres', 0.0) / r.prs * 1000:.1f}" for r in runs),
        ),
        ("worker cores busy (CPU s / wall s)", *(f"{r.worker_cpu_s / r.wall_s:.2f}" for r in runs)),
        ("machine CPU busy (all cores)", *(f"{r.machine_busy:.0%}" for r in runs)),
    ]
    rows += [
        (f"  CPU s: {name}", *(f"{r.cpu_by_group.get(name, 0.0):.1f}" for r in runs))
        for name in GROUPS
    ]
    rows.append(
        ("  (redis: the whole server; other: the rest of the machine)", *("" for _ in runs))
    )
    return _columns(rows)


def web_table(runs: list[WebRun]) -> str:
    rows = [
        ("Daphne processes", *(str(r.webs) for r in runs)),
        ("sockets (in all)", *(str(r.sockets) for r in runs)),
        ("updates", *(str(r.updates) for r in runs)),
        ("deliveries missing", *(str(r.missing) for r in runs)),
        ("commit -> client p50 ms", *(f"{r.p50_ms:.0f}" for r in runs)),
        ("commit -> client p95 ms", *(f"{r.p95_ms:.0f}" for r in runs)),
        ("Daphne CPU ms per update (all)", *(f"{r.daphne_cpu_ms:.1f}" for r in runs)),
        ("client CPU ms per update", *(f"{r.client_cpu_ms:.1f}" for r in runs)),
        ("handshakes dropped and retried", *(str(r.handshakes_retried) for r in runs)),
    ]
    return _columns(rows)


def verdict(runs: list[WorkerRun], cores: int) -> str:
    """Say where the import binds, from the figures, not from hope."""
    lines = []
    for run in runs:
        worker_cores = run.worker_cpu_s / run.wall_s
        busiest = max(run.cpu_by_group, key=lambda name: run.cpu_by_group[name])
        if run.machine_busy >= 0.85:
            where = f"the {cores} cores (machine {run.machine_busy:.0%} busy; most CPU: {busiest})"
        else:
            where = (
                f"not the CPU (machine {run.machine_busy:.0%} busy): GitHub's latency per page and "
                "the per-import turn-taking"
            )
        lines.append(
            f"{run.processes} process(es): workers used {worker_cores:.2f} cores; binds on {where}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per GitHub request")
    parser.add_argument("--acme-repos", type=int, default=3)
    parser.add_argument("--acme-prs", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait per run")
    parser.add_argument("--webs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sockets", type=int, default=1000, help="WebSocket clients in all")
    parser.add_argument("--rate", type=float, default=5, help="updates per second")
    parser.add_argument("--seconds", type=float, default=15, help="of updates per web run")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-web", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        _prepare_environment(Path(work))
        from benchmarks.bench_load import _setup_database

        _setup_database()
        import psutil
        from django.db import connection

        cores = psutil.cpu_count() or 1
        print(f"backends: database={connection.vendor} redis={os.environ['REDIS_URL']}")
        print(
            f"machine: {cores} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        print("command: python -m benchmarks.bench_scale " + " ".join(sys.argv[1:]))
        worker_runs: list[WorkerRun] = []
        if not args.skip_workers:
            worker_runs = _bench_workers(args)
        web_runs: list[WebRun] = []
        if not args.skip_web:
            web_runs = _bench_web(args)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if worker_runs:
            print(
                f"\n1. {args.teams} teams onboarding at once, "
                f"{args.latency_ms:g} ms per GitHub request"
            )
            print(worker_table(worker_runs))
            print(verdict(worker_runs, cores))
        if web_runs:
            print(f"\n2. {args.sockets} sockets on one job changing {args.rate:g} times a second")
            print(web_table(web_runs))


def _bench_workers(args: argparse.Namespace) -> list[WorkerRun]:
    from benchmarks.crowd import CLIENT_ID, CLIENT_SECRET, sandbox_args
    from sandbox.testing import start_sandbox
    from tests.browser.servers import DaphneServer

    sandbox = start_sandbox(
        *sandbox_args(
            teams=args.teams,
            acme_repos=args.acme_repos,
            acme_prs=args.acme_prs,
            latency_ms=args.latency_ms,
        )
    )
    env = {
        "GITHUB_API_URL": sandbox.api_url,
        "GITHUB_CLIENT_ID": CLIENT_ID,
        "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
    }
    daphne = DaphneServer(ROOT / "artifacts" / "logs" / "bench-scale", **env)
    runs = []
    try:
        daphne.start()
        sandbox.control.set_callback_url(f"{daphne.url}/onboarding/github/callback/")
        for processes in args.processes:
            runs.append(run_workers(processes, sandbox, daphne, env, args))
            print(f"  {processes} worker process(es): {runs[-1].throughput:.1f} PRs/s", flush=True)
    finally:
        daphne.stop()
        sandbox.stop()
    return runs


def _bench_web(args: argparse.Namespace) -> list[WebRun]:
    from benchmarks.bench_progress import _setup_world

    job, _user, session = _setup_world(6)
    runs = []
    for webs in args.webs:
        runs.append(run_web(webs, args, job.pk, session))
        print(f"  {webs} Daphne process(es): p95 {runs[-1].p95_ms:.0f} ms", flush=True)
    return runs


if __name__ == "__main__":
    main()
