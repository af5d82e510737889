"""A Redis of a drill's own that it can restart without disturbing the run's Redis.

A real `redis-server` persisting with AOF (as production's compose Redis does) where one is
installed, and the embedded Redis-protocol server everywhere, stopped and started again on the
same port with its data kept: the honest equivalent of a persisted Redis restarting. Either
can also come back without its data (``wipe`` between ``stop`` and ``start``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Protocol

import redis
from fakeredis import FakeServer, TcpFakeServer

from project.embedded_redis import start_embedded_redis
from tests.processes import wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DrillRedis(Protocol):
    url: str
    kind: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wipe(self) -> None: ...


class RealRedis:
    """`redis-server` on a free port, persisting every write to its append-only file."""

    kind = "redis-server"

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        args = [
            shutil.which("redis-server") or "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
        ]  # fmt: skip
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
        wait_for(self._answers, timeout=20, interval=0.05)

    def stop(self) -> None:
        """Shut down gracefully (SHUTDOWN), as an orchestrator's restart does."""
        if self.process is None:
            return
        try:
            redis.Redis.from_url(self.url, socket_timeout=5).shutdown()
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def wipe(self) -> None:
        """Forget what was persisted: the next start is a Redis without its data."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, "redis-server died"
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False


class EmbeddedRedis:
    """The embedded Redis-protocol server on a fixed port, its data kept across restarts."""

    kind = "embedded fakeredis"

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data: FakeServer | None = None
        self.server: TcpFakeServer | None = None

    def start(self) -> None:
        self.server, _url = start_embedded_redis(port=self.port, data=self.data)
        self.data = self.server.fake_server

    def stop(self) -> None:
        if self.server is None:
            return
        self.server.shutdown()  # ends every client connection, as a stopping server does
        self.server.server_close()
        self.server = None

    def wipe(self) -> None:
        """Forget the data: the next start is a Redis without its data."""
        self.data = None


def available_kinds() -> list[str]:
    """Name every Redis a drill can restart here: the embedded one always, a real one if found
    (always under CI, where a missing `redis-server` fails the run: tests/backends.py)."""
    real = shutil.which("redis-server") or os.environ.get("REQUIRE_REAL_BACKENDS") == "1"
    return [EmbeddedRedis.kind] + ([RealRedis.kind] if real else [])


def drill_redis(kind: str, workdir: Path) -> DrillRedis:
    """Return a stopped drill Redis of ``kind`` (see ``available_kinds``)."""
    if kind == RealRedis.kind:
        return RealRedis(workdir / "data", workdir / "redis-server.log")
    return EmbeddedRedis()
