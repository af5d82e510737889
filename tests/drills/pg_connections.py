"""Count one process's PostgreSQL connections from ``pg_stat_activity`` while a drill runs.

A connection belongs to the process whose socket's local port is the backend's ``client_port``;
the counts come from the server's view, so a connection the process forgot but never closed
(Django ticket #33497) is counted too.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil
import psycopg
from django.db import connection


@dataclass
class ConnectionCounts:
    """The peak and the last sample of one process's connections (total and idle)."""

    peak: int = 0
    last: int = 0
    last_idle: int = 0
    samples: int = 0
    history: list[int] = field(default_factory=list)


class ConnectionSampler:
    """Sample a process's connections (and its children's) to this run's database."""

    def __init__(self, pid: int, *, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.counts = ConnectionCounts()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.enabled = connection.vendor == "postgresql"

    def __enter__(self) -> ConnectionSampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join(10)

    def sample(self) -> tuple[int, int]:
        """Return the process's connections now: (total, idle)."""
        if not self.enabled:
            return 0, 0
        with self._connect() as conn:
            return self._count(conn)

    def _run(self) -> None:
        with self._connect() as conn:
            while not self._stop.wait(self.interval):
                total, idle = self._count(conn)
                self.counts.peak = max(self.counts.peak, total)
                self.counts.last, self.counts.last_idle = total, idle
                self.counts.samples += 1
                self.counts.history.append(total)

    def _connect(self) -> psycopg.Connection[tuple[int, int]]:
        settings = connection.settings_dict
        return psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"] or "postgres",
            password=settings["PASSWORD"] or None,
            dbname=settings["NAME"],
            autocommit=True,
        )

    def _ports(self) -> list[int]:
        db_port = int(connection.settings_dict["PORT"] or 5432)
        ports = []
        try:
            parent = psutil.Process(self.pid)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for process in processes:
            try:
                sockets = process.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            ports += [s.laddr.port for s in sockets if s.raddr and s.raddr.port == db_port]
        return ports

    def _count(self, conn: psycopg.Connection[tuple[int, int]]) -> tuple[int, int]:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'idle') FROM pg_stat_activity"
            " WHERE client_port = ANY(%s)",
            (self._ports(),),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])
