"""Live progress benchmark: update-to-DOM latency in Chromium, and fan-out to 500 sockets.

    make bench-progress            # or: .venv/bin/python -m benchmarks.bench_progress --help
    REDIS_URL=redis://127.0.0.1:6379/0 \
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_progress make bench-progress

Everything is real and on loopback: a database (SQLite in a temporary directory, or
BENCH_DATABASE_URL), Redis (REDIS_URL, else the embedded Redis-protocol server), one Daphne
process serving asgi:application with the Redis channel layer, and this process writing job
rows and publishing them with ``sync.progress`` exactly as a worker does.

1. Latency: Debian's Chromium opens the progress page; each update commits a change, and a
   MutationObserver in the page stamps when that version's fragment is in the DOM. Reported:
   p50/p95 of DOM time minus commit time (same machine, same wall clock).
2. Fan-out: N plain WebSocket clients (the ``websockets`` package) watch one job while the job
   changes R times a second. Each change is published urgently: the benchmark measures the
   delivery path (channel layer -> Daphne -> sockets), not the per-job throttle. Reported:
   whether every client got every update, p50/p95 delivery time, and the channel layer's
   "over capacity" drops (counted from channels_redis's log), and the CPU each update costs the
   Daphne process and this one (a figure that does not depend on what else the machine runs).

The targets (p95 <= 100 ms to the DOM; every client gets every update with p95 <= 250 ms) are
for the Redis channel layer: the embedded Redis-protocol server runs inside this process and is
much slower. DAPHNE_PROFILE=path writes a cProfile dump of the Daphne process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.local import serve_plain_http

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 3  # updates sent before measuring, in each part
VERSION = re.compile(rb'id="sync-progress"[^>]*data-version="(\d+)"')


def _prepare_environment(work_dir: Path) -> None:
    """Point Django at a database and Redis of the benchmark's own, before settings load."""
    from cryptography.fernet import Fernet

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    if not os.environ.get("REDIS_URL"):
        from project.embedded_redis import start_embedded_redis

        _server, os.environ["REDIS_URL"] = start_embedded_redis()
    os.environ["REDIS_PREFIX"] = f"bench-{uuid.uuid4().hex[:8]}"
    database = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work_dir / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = database
    os.environ["VAR_DIR"] = str(work_dir)
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = "bench-secret-key-not-for-production"  # noqa: S105
    os.environ["ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    serve_plain_http()


def _ensure_database() -> None:
    """Create BENCH_DATABASE_URL's PostgreSQL database if it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if "postgresql" not in config["ENGINE"]:
        return
    with psycopg.connect(
        host=config["HOST"] or "127.0.0.1",
        port=config["PORT"] or 5432,
        user=config["USER"] or "postgres",
        password=config["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        exists = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def _setup_world(repos: int) -> tuple[Any, Any, str]:
    """Migrate, then create Alice, her team and a running job; return job, user, session."""
    import django
    from django.core.management import call_command

    _ensure_database()
    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import User
    from django.test import Client

    from sync.models import Membership, RepoSync, SyncJob, Team, TrackedRepository

    user = User.objects.create_user(f"alice-{uuid.uuid4().hex[:6]}")
    org_id = int(time.time() * 1000)
    team = Team.objects.create(name="Acme", github_org_id=org_id, github_org_login="acme")
    Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    job = SyncJob.objects.create(team=team, status=SyncJob.Status.RUNNING, repos_total=repos)
    for number in range(repos):
        repository = TrackedRepository.objects.create(
            team=team, github_id=org_id * 100 + number, full_name=f"acme/repository-{number}"
        )
        RepoSync.objects.create(
            job=job, repository=repository, prs_total=1000, status=RepoSync.Status.RUNNING
        )
    client = Client()
    client.force_login(user)
    return job, user, client.cookies["sessionid"].value


def _commit_update(job_id: int, stamps: dict[int, float], *, urgent: bool) -> int:
    """Change the job as a worker's page does; note the commit time of the new version."""
    from django.db import transaction
    from django.db.models import F

    from sync import progress
    from sync.models import RepoSync, SyncJob

    with transaction.atomic():
        SyncJob.objects.filter(pk=job_id).update(
            prs_synced=F("prs_synced") + 7, version=F("version") + 1, heartbeat_at=_now()
        )
        RepoSync.objects.filter(job_id=job_id).update(prs_synced=F("prs_synced") + 1)
        version = SyncJob.objects.values_list("version", flat=True).get(pk=job_id)
        # Registered before job_changed, so it runs first once the commit is done.
        transaction.on_commit(lambda: stamps.__setitem__(version, time.time()))
        progress.job_changed(job_id, urgent=urgent)
    return version


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


# -- 1. update-to-DOM latency in Chromium ---------------------------------------------------------

OBSERVER = """
() => {
  window.__seen = {};
  const note = () => {
    const element = document.getElementById("sync-progress");
    const version = element && element.getAttribute("data-version");
    if (version && !(version in window.__seen)) {
      window.__seen[version] = performance.timeOrigin + performance.now();
    }
  };
  new MutationObserver(note).observe(document.body, { subtree: true, childList: true });
  note();
}
"""


def bench_latency(url: str, job_id: int, session: str, updates: int, interval: float) -> None:
    from playwright.sync_api import sync_playwright

    stamps: dict[int, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session, "url": url}])
        page = context.new_page()
        page.goto(f"{url}/onboarding/sync/{job_id}/")
        page.wait_for_selector('#sync-connection[data-state="connected"]')
        page.evaluate(OBSERVER)
        for _ in range(WARM_UP):  # the first publish of a process compiles the templates
            _in_thread(lambda: _commit_update(job_id, {}, urgent=False))
            page.wait_for_timeout(interval * 1000)
        for _ in range(updates):
            _in_thread(lambda: _commit_update(job_id, stamps, urgent=False))
            page.wait_for_timeout(interval * 1000)
        page.wait_for_timeout(1000)
        seen = {int(version): at / 1000 for version, at in page.evaluate("window.__seen").items()}
        browser.close()
    latencies = [(seen[v] - at) * 1000 for v, at in stamps.items() if v in seen]
    missing = len(stamps) - len(latencies)
    print(f"latency: {len(stamps)} updates, one every {interval * 1000:.0f} ms, {missing} unseen")
    print(
        f"latency: commit -> DOM  p50 {_percentile(latencies, 0.5):.1f} ms  "
        f"p95 {_percentile(latencies, 0.95):.1f} ms  max {max(latencies):.1f} ms"
    )


def _in_thread(work: Any) -> Any:
    """Run ORM work off the thread where Playwright's event loop runs."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join()
    return result[0] if result else None


# -- 2. fan-out to plain WebSocket clients --------------------------------------------------------


class OverCapacity(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "over capacity" in record.getMessage():
            self.count += 1


async def _client(
    url: str, session: str, received: dict[int, float], ready: asyncio.Event, stop: asyncio.Event
) -> None:
    import websockets

    async with websockets.connect(
        url,
        # The site's own origin, scheme, host and port, as a browser sends it.
        origin=url.replace("ws://", "http://").split("/ws/")[0],  # type: ignore[arg-type]
        additional_headers={"Cookie": f"sessionid={session}"},
        max_size=2**22,
        open_timeout=60,
    ) as socket:
        await socket.recv()  # the snapshot
        ready.set()
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(socket.recv(decode=False), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            if match := VERSION.search(frame):
                received.setdefault(int(match.group(1)), now)


async def _fan_out(
    ws_url: str, job_id: int, session: str, clients: int, rate: float, seconds: float, pid: int
) -> None:
    import psutil

    server, this = psutil.Process(pid), psutil.Process()
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(clients)]
    received: list[dict[int, float]] = [{} for _ in range(clients)]
    tasks = []
    for index in range(clients):
        task = _client(ws_url, session, received[index], readies[index], stop)
        tasks.append(asyncio.ensure_future(task))
        if index % 50 == 49:
            await asyncio.gather(*(ready.wait() for ready in readies[: index + 1]))
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 120)
    print(f"fan-out: {clients} clients connected to one Daphne process")

    for _ in range(WARM_UP):
        await asyncio.to_thread(_commit_update, job_id, {}, urgent=True)  # type: ignore[arg-type]
        await asyncio.sleep(1 / rate)
    stamps: dict[int, float] = {}
    versions = []
    count = int(rate * seconds)
    server_cpu, client_cpu = _cpu(server), _cpu(this)
    started = time.monotonic()
    for number in range(count):
        await asyncio.sleep(max(0.0, started + number / rate - time.monotonic()))
        versions.append(
            await asyncio.to_thread(_commit_update, job_id, stamps, urgent=True)  # type: ignore[arg-type]
        )
    await asyncio.sleep(3)
    server_cpu, client_cpu = _cpu(server) - server_cpu, _cpu(this) - client_cpu
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    complete = sum(1 for got in received if all(v in got for v in versions))
    delays = [(got[v] - stamps[v]) * 1000 for got in received for v in versions if v in got]
    lost = clients * len(versions) - len(delays)
    print(f"fan-out: {len(versions)} updates at {rate:g}/s; {complete}/{clients} clients got all")
    print(f"fan-out: {lost} deliveries missing of {clients * len(versions)}")
    print(
        f"fan-out: CPU per update: Daphne {server_cpu / count * 1000:.1f} ms, "
        f"this process (clients, writes, publisher) {client_cpu / count * 1000:.1f} ms"
    )
    print(
        f"fan-out: commit -> client  p50 {_percentile(delays, 0.5):.1f} ms  "
        f"p95 {_percentile(delays, 0.95):.1f} ms  max {max(delays):.1f} ms"
    )


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def bench_fan_out(
    url: str, job_id: int, session: str, clients: int, rate: float, seconds: float, pid: int
) -> None:
    over = OverCapacity()
    logging.getLogger("channels_redis.core").addHandler(over)
    logging.getLogger("channels_redis.core").setLevel(logging.INFO)
    ws_url = url.replace("http://", "ws://") + f"/ws/sync/{job_id}/"
    asyncio.run(_fan_out(ws_url, job_id, session, clients, rate, seconds, pid))
    print(f"fan-out: channel layer 'over capacity' drops: {over.count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=250, help="latency: updates (>= 200)")
    parser.add_argument("--interval", type=float, default=0.3, help="latency: seconds apart")
    parser.add_argument("--clients", type=int, default=500, help="fan-out: WebSocket clients")
    parser.add_argument("--rate", type=float, default=5, help="fan-out: updates per second")
    parser.add_argument("--seconds", type=float, default=20, help="fan-out: duration")
    parser.add_argument("--repos", type=int, default=6, help="repositories in the job")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-fan-out", action="store_true")
    options = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="bench-progress-") as work:
        _prepare_environment(Path(work))
        job, _user, session = _setup_world(options.repos)
        from django.db import connection

        from tests.browser.servers import DaphneServer

        print(f"backends: database={connection.vendor} redis={os.environ['REDIS_URL']}")
        server = DaphneServer(Path(work) / "logs")
        server.start()
        try:
            if not options.skip_latency:
                bench_latency(server.url, job.pk, session, options.updates, options.interval)
            if not options.skip_fan_out:
                pid = server.process.popen.pid  # type: ignore[union-attr]
                bench_fan_out(
                    server.url,
                    job.pk,
                    session,
                    options.clients,
                    options.rate,
                    options.seconds,
                    pid,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
