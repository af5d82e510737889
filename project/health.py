"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

import dramatiq
import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from sync import services
from sync.heartbeat import TTL_SECONDS, latest_worker_heartbeat


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _check(_database),
        "redis": _check(_redis),
        "broker": _check(_broker),
        "worker": _check(_worker),
    }
    ready = all(check["ok"] for check in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable"}
    # Backend kinds and error text help an operator and an attacker alike.
    if _may_see_details(request, database_ok=bool(checks["database"]["ok"])):
        body["checks"] = checks
    return JsonResponse(body, status=200 if ready else 503)


def _may_see_details(request: HttpRequest, *, database_ok: bool) -> bool:
    """Return whether the caller is on this host or a signed-in staff user."""
    try:
        if ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback:
            return True
    except ValueError:
        pass
    if not database_ok:  # sessions live in the database: nobody is staff while it is down
        return False
    try:
        return bool(request.user.is_staff)
    except DatabaseError:
        return False


def _check(probe: Callable[[], str]) -> dict[str, object]:
    started = time.monotonic()
    try:
        detail, ok = probe(), True
    except Exception as error:  # a probe reports any failure instead of raising it
        detail, ok = f"{type(error).__name__}: {error}", False
    return {"ok": ok, "detail": detail, "ms": round((time.monotonic() - started) * 1000, 1)}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.vendor


def _redis() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    client.ping()
    return "ping"


def _broker() -> str:
    services.ping_broker()
    return type(dramatiq.get_broker()).__name__


def _worker() -> str:
    beat = latest_worker_heartbeat()
    if beat is None:
        raise RuntimeError(f"no worker process has reported in the last {TTL_SECONDS} s")
    return f"last heartbeat {time.time() - beat:.1f} s ago"
