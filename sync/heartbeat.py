"""Worker liveness: every worker process beats into Redis every few seconds while it runs.

`/readyz` reads it to say whether any worker is alive, and the progress page tells "no worker
is running" from "the job is slow" (``sync.progress.JobState.condition``). Each beat also
renews the process's heartbeat in Dramatiq's broker, which otherwise beats only when the
process fetches or acks a message: a process whose every thread is busy on a slow page would
look dead there and have its messages requeued, so the broker's ``heartbeat_timeout`` can be
short (a process that really died has its messages redelivered within seconds) without
mistaking a busy process for a dead one. The same middleware runs the watchdog that resumes
imports whose messages were lost (``sync.watchdog``).
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from dramatiq.middleware import Middleware

INTERVAL_SECONDS = 2
TTL_SECONDS = 30
# A process whose last beat is older than this is taken for dead by the pages.
ALIVE_SECONDS = 6


def _key() -> str:
    return f"{settings.REDIS_PREFIX}:worker-heartbeats"


def _client() -> redis.Redis:
    return _client_for(settings.REDIS_URL)


@functools.cache
def _client_for(url: str) -> redis.Redis:
    # One pool per process: every published state asks for the newest heartbeat.
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def latest_worker_heartbeat() -> float | None:
    """Return the newest heartbeat (epoch seconds) of any live worker process, or None."""
    newest = _client().zrevrange(_key(), 0, 0, withscores=True)
    beat = float(newest[0][1]) if newest else None
    return beat if beat is not None and time.time() - beat < TTL_SECONDS else None


def latest_worker_heartbeat_at() -> datetime | None:
    """Return the newest worker heartbeat as a time, or None (none, or Redis unreachable)."""
    try:
        beat = latest_worker_heartbeat()
    except redis.RedisError:
        return None
    return datetime.fromtimestamp(beat, UTC) if beat is not None else None


class WorkerHeartbeat(Middleware):
    """Dramatiq middleware: beat every few seconds from each worker process."""

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        self._stop = threading.Event()
        name = f"{socket.gethostname()}-{os.getpid()}"
        threading.Thread(
            target=self._beat, args=(name, broker), daemon=True, name="heartbeat"
        ).start()
        from sync import watchdog  # needs the app registry, ready once the worker boots

        watchdog_args = (self._stop, _client())
        threading.Thread(
            target=watchdog.run, args=watchdog_args, daemon=True, name="watchdog"
        ).start()

    def before_worker_shutdown(self, broker: Any, worker: Any) -> None:
        self._stop.set()
        _client().zrem(_key(), f"{socket.gethostname()}-{os.getpid()}")

    def _beat(self, name: str, broker: Any) -> None:
        client = _client()
        while not self._stop.is_set():
            now = time.time()
            try:
                pipe = client.pipeline()
                pipe.zadd(_key(), {name: now})
                pipe.zremrangebyscore(_key(), 0, now - TTL_SECONDS)
                pipe.expire(_key(), TTL_SECONDS)
                _renew_broker_heartbeat(pipe, broker, now)
                pipe.execute()
            except redis.RedisError:
                pass  # Redis is down; readiness reports it, and the next beat retries.
            self._stop.wait(INTERVAL_SECONDS)


def _renew_broker_heartbeat(pipe: Any, broker: Any, now: float) -> None:
    # Dramatiq's Redis broker keeps each process's last beat (milliseconds) in this sorted set;
    # see dramatiq/brokers/redis/dispatch.lua.
    namespace, broker_id = getattr(broker, "namespace", None), getattr(broker, "broker_id", None)
    if namespace and broker_id:
        pipe.zadd(f"{namespace}:__heartbeats__", {broker_id: int(now * 1000)})
