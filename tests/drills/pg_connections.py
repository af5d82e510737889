"""Count a process's PostgreSQL connections from ``pg_stat_activity`` while a drill runs.

The process is started with ``PGAPPNAME`` (libpq's environment variable for the connection's
``application_name``), so the server itself says which connections are its: one it forgot but
never closed (Django ticket #33497) counts too. Nothing scans the host's socket tables, which
costs a busy two-core machine more than the drill it measures.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import psycopg
from django.db import connection


@dataclass
class ConnectionCounts:
    """The peak of a process's connections, and every sample taken."""

    peak: int = 0
    history: list[int] = field(default_factory=list)


class ConnectionSampler:
    """Sample, every ``interval`` seconds, the connections named ``self.application_name``."""

    def __init__(self, role: str, *, interval: float = 0.2) -> None:
        self.application_name = f"{role}-{uuid.uuid4().hex[:8]}"
        self.interval = interval
        self.counts = ConnectionCounts()
        self.enabled = connection.vendor == "postgresql"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """Return the environment that names a child process's connections."""
        return {"PGAPPNAME": self.application_name}

    def __enter__(self) -> ConnectionSampler:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join(10)

    def sample(self) -> int:
        """Return how many connections the process holds now."""
        if not self.enabled:
            return 0
        with self._connect() as conn:
            return self._count(conn)

    def _run(self) -> None:
        with self._connect() as conn:
            while not self._stop.wait(self.interval):
                count = self._count(conn)
                self.counts.peak = max(self.counts.peak, count)
                self.counts.history.append(count)

    def _connect(self) -> psycopg.Connection[tuple[int]]:
        settings = connection.settings_dict
        return psycopg.connect(
            host=settings["HOST"],
            port=settings["PORT"] or 5432,
            user=settings["USER"] or "postgres",
            password=settings["PASSWORD"] or None,
            dbname=settings["NAME"],
            autocommit=True,
            application_name="connection-sampler",
        )

    def _count(self, conn: psycopg.Connection[tuple[int]]) -> int:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (self.application_name,),
        ).fetchone()
        assert row is not None
        return int(row[0])
