"""Worker liveness: every worker process writes a short-lived key to Redis while it runs.

`/readyz` reads it to say whether any worker is alive, and the progress page can tell "no
worker is running" from "the job is slow". The same middleware runs the watchdog that resumes
imports whose messages were lost (``sync.watchdog``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import redis
from django.conf import settings
from dramatiq.middleware import Middleware

INTERVAL_SECONDS = 5
TTL_SECONDS = 30


def _key(name: str = "*") -> str:
    return f"{settings.REDIS_PREFIX}:worker-heartbeat:{name}"


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def latest_worker_heartbeat() -> float | None:
    """Return the newest heartbeat (epoch seconds) of any live worker process, or None."""
    client = _client()
    beats = [float(value) for key in client.scan_iter(_key()) if (value := client.get(key))]
    return max(beats, default=None)


class WorkerHeartbeat(Middleware):
    """Dramatiq middleware: beat every few seconds from each worker process."""

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self._stop = threading.Event()
        name = f"{socket.gethostname()}-{os.getpid()}"
        threading.Thread(target=self._beat, args=(name,), daemon=True, name="heartbeat").start()
        from sync import watchdog  # needs the app registry, ready once the worker boots

        watchdog_args = (self._stop, _client())
        threading.Thread(
            target=watchdog.run, args=watchdog_args, daemon=True, name="watchdog"
        ).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()
        _client().delete(_key(f"{socket.gethostname()}-{os.getpid()}"))

    def _beat(self, name: str) -> None:
        client = _client()
        while not self._stop.is_set():
            try:
                client.set(_key(name), f"{time.time():.3f}", ex=TTL_SECONDS)
            except redis.RedisError:
                pass  # Redis is down; readiness reports it, and the next beat retries.
            self._stop.wait(INTERVAL_SECONDS)
