"""One GitHub user's limits shared by every worker process, through Redis.

GitHub: at most 100 concurrent requests per token, and hourly budgets per user (REST "core"
requests, GraphQL points) that reset at ``x-ratelimit-reset``. Workers of every process take a
slot before each request (a sorted set of leases, so a killed process's slots expire) and write
the budget each answer reports, so a spent budget is known everywhere without another request.
Keys hold the GitHub user id (or a hash of the token until its owner is known), never the
token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.utils import timezone

from sync.github.errors import Busy, RateLimited

# Far under GitHub's 100, so the user's other tools and our web requests keep their share.
DEFAULT_MAX_CONCURRENT = 8
# Points kept back from every budget for the user's own use of GitHub and our web pages.
DEFAULT_RESERVE = {"core": 50, "graphql": 50}
SLOT_WAIT_S = 3.0
OWNER_TTL_S = 90 * 86400  # refreshed at every sign-in

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""

# Keep the lowest remaining count seen for the newest window: answers arrive out of order.
_RECORD = """
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
local new_reset = tonumber(ARGV[2])
if new_reset > reset then
  redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'reset', ARGV[2], 'limit', ARGV[3])
elseif new_reset == reset then
  local remaining = tonumber(redis.call('HGET', KEYS[1], 'remaining') or ARGV[1])
  if tonumber(ARGV[1]) < remaining then
    redis.call('HSET', KEYS[1], 'remaining', ARGV[1])
  end
else
  return 0
end
redis.call('EXPIREAT', KEYS[1], new_reset + 60)
return 1
"""


@dataclass(frozen=True)
class Budget:
    resource: str  # "core" or "graphql"
    limit: int
    remaining: int
    reset_at: datetime
    cost: int  # what the answer that reported it cost (GraphQL), else 0


class Gate:
    """The concurrency slots and the last known budgets of one token."""

    def __init__(self, token_key: str) -> None:
        self.key = f"{settings.REDIS_PREFIX}:github:{token_key}"

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the token's concurrent-request slots; raise Busy if none frees soon."""
        member = uuid.uuid4().hex
        deadline = time.monotonic() + SLOT_WAIT_S
        while not self._acquire(member):
            if time.monotonic() > deadline:
                raise Busy("Every GitHub connection of this token is busy", retry_after=1)
            time.sleep(0.02)
        try:
            yield
        finally:
            _redis().zrem(f"{self.key}:slots", member)

    def _acquire(self, member: str) -> bool:
        now = time.time()
        lease_s = float(settings.GITHUB_TIMEOUT) * 2 + 10  # outlives any request, then expires
        acquired = _scripts().acquire(
            keys=[f"{self.key}:slots"],
            args=[now, now + lease_s, max_concurrent(), member, int(lease_s * 1000)],
        )
        return bool(acquired)

    def record(self, budget: Budget) -> None:
        """Remember the budget an answer reported, for every process."""
        reset = int(budget.reset_at.timestamp())
        _scripts().record(
            keys=[f"{self.key}:budget:{budget.resource}"],
            args=[budget.remaining, reset, budget.limit],
        )

    def known_reset(self, resource: str) -> datetime:
        """Return the last reported reset of ``resource``, or a minute from now if unknown."""
        stored = _redis().hget(f"{self.key}:budget:{resource}", "reset")
        if stored:
            return datetime.fromtimestamp(int(stored), UTC)
        return timezone.now() + timedelta(minutes=1)

    def remaining(self, resource: str) -> tuple[int, datetime] | None:
        """Return the last known (remaining, reset) of ``resource``, if its window is current."""
        values = _redis().hmget(f"{self.key}:budget:{resource}", ["remaining", "reset"])
        if values[0] is None or values[1] is None:
            return None
        reset_at = datetime.fromtimestamp(int(values[1]), UTC)
        if reset_at <= timezone.now():
            return None
        return int(values[0]), reset_at

    def check_budget(self, resource: str, cost: int) -> None:
        """Raise RateLimited when ``cost`` would dig into the reserve before the reset."""
        known = self.remaining(resource)
        if known is None:
            return
        remaining, reset_at = known
        if remaining - cost < reserve(resource):
            raise RateLimited(
                f"GitHub {resource} budget is spent until the reset",
                resource=resource,
                reset_at=reset_at,
            )


def gate_key(token_key: str, user_id: int | None = None) -> str:
    """Return the gate's name: the GitHub user's id when known (GitHub's budgets are per user)."""
    if user_id is None:
        stored = _redis().get(f"{settings.REDIS_PREFIX}:github:owner:{token_key}")
        user_id = int(stored) if stored else None
    return f"user:{user_id}" if user_id is not None else token_key


def remember_owner(token_key: str, user_id: int) -> None:
    """Remember whose token this is, so every process gates it with the user's other tokens."""
    _redis().set(f"{settings.REDIS_PREFIX}:github:owner:{token_key}", user_id, ex=OWNER_TTL_S)


def max_concurrent() -> int:
    return int(getattr(settings, "GITHUB_MAX_CONCURRENT_REQUESTS", DEFAULT_MAX_CONCURRENT))


def reserve(resource: str) -> int:
    reserves = getattr(settings, "GITHUB_RATE_LIMIT_RESERVE", DEFAULT_RESERVE)
    return int(reserves.get(resource, 0))


# -- one Redis client per process ---------------------------------------------------------------


@dataclass(frozen=True)
class _Scripts:
    acquire: redis.commands.core.Script
    record: redis.commands.core.Script


_lock = threading.Lock()
_client: tuple[str, redis.Redis, _Scripts] | None = None


def _connect() -> tuple[redis.Redis, _Scripts]:
    global _client
    with _lock:
        if _client is None or _client[0] != settings.REDIS_URL:
            connection = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
            scripts = _Scripts(
                connection.register_script(_ACQUIRE), connection.register_script(_RECORD)
            )
            _client = (settings.REDIS_URL, connection, scripts)
        return _client[1], _client[2]


def _redis() -> redis.Redis:
    return _connect()[0]


def _scripts() -> _Scripts:
    return _connect()[1]
