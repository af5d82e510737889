"""Rate-limit budgets, request counters, injected faults and the latency model.

GitHub: https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api and
https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api.
Budgets belong to the user (every token of one user spends the same budget, as on GitHub);
anonymous callers share one budget per client address. All state sits behind one lock,
because the server answers each request in its own thread.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

RESOURCES = ("core", "graphql")
ANONYMOUS_LIMIT = 60  # GitHub: unauthenticated callers get 60 requests per hour per address
WINDOW_S = 3600
FAULT_KINDS = (
    "status",
    "delay",
    "malformed_json",
    "malformed_item",
    "secondary_limit",
    "sso",
    "timeout",
)
# GitHub's GraphQL timeout answers: a 502, a 504, a 200 with `data: null` and "This may be the
# result of a timeout", or nothing before the client gives up ("hang").
TIMEOUT_SHAPES = ("502", "504", "data_null", "hang")
# GitHub: GraphQL rate-limit errors are typed RATE_LIMITED (documented) or RATE_LIMIT (seen since
# January 2026: githubkit #271, octokit/plugin-throttling.js #824).
RATE_LIMIT_TYPES = ("RATE_LIMITED", "RATE_LIMIT")
# GitHub: "no more than 100 concurrent requests", "no more than 900 points per minute" for REST
# and 2,000 for GraphQL (a GET or a query without mutations costs one secondary point).
SECONDARY_DEFAULTS = {"max_concurrent": 100, "rest_per_minute": 900, "graphql_per_minute": 2000}
SECONDARY_STATUSES = (403, 429)


@dataclass(slots=True)
class SecondaryPolicy:
    """How a secondary limit is answered, and the per-endpoint limits (control API)."""

    status: int = 403
    # GitHub sends either retry-after (wait that long) or x-ratelimit-remaining: 0 (wait for
    # x-ratelimit-reset); "reset" answers the second way.
    headers: str = "retry_after"
    retry_after: int = 60
    per_endpoint: dict[str, int] = field(default_factory=dict)  # "GET /orgs/{org}/repos" -> n/min

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "headers": self.headers,
            "retry_after": self.retry_after,
            "per_endpoint": dict(self.per_endpoint),
        }


@dataclass(slots=True)
class TimeoutModel:
    """GitHub stops a GraphQL query after 10 s; the sandbox estimates each query's time.

    Time = nodes the query may return x ``per_node_ms``, times ``heavy_factor`` when it reads a
    repository flagged heavy. Over ``limit_s`` the query is answered in ``shape`` after
    ``wait_s`` (GitHub answers after its 10 s; tests shorten the wait), and is charged.
    """

    per_node_ms: float = 0.01
    heavy_factor: float = 100.0
    limit_s: float = 10.0
    wait_s: float = 10.0
    hang_s: float = 60.0
    shape: str = "502"
    heavy: set[str] = field(default_factory=set)  # lower-case full names

    def estimate_s(self, nodes: int, repos: set[str]) -> float:
        factor = self.heavy_factor if repos & self.heavy else 1.0
        return nodes * self.per_node_ms * factor / 1000

    def as_json(self) -> dict[str, object]:
        return {
            "per_node_ms": self.per_node_ms,
            "heavy_factor": self.heavy_factor,
            "limit_s": self.limit_s,
            "wait_s": self.wait_s,
            "hang_s": self.hang_s,
            "shape": self.shape,
            "heavy": sorted(self.heavy),
        }


class Clock:
    """Wall-clock seconds that tests may move forward (code expiry, budget windows)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(slots=True)
class Budget:
    limit: int
    used: int
    reset: int  # epoch seconds, as in x-ratelimit-reset

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self, resource: str) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
            # GitHub reports what was asked past the limit too (used may exceed limit).
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": resource,
        }

    def as_json(self) -> dict[str, int]:
        return {
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "reset": self.reset,
        }


@dataclass(slots=True)
class Fault:
    id: str
    path: re.Pattern[str]
    kind: str
    method: str | None = None
    status: int | None = None
    body: object = None
    delay_s: float = 0.0
    count: int | None = None
    fraction: float | None = None
    retry_after: int = 60
    shape: str = "502"  # timeout faults: one of TIMEOUT_SHAPES
    after: int = 0  # matching requests let through before the fault may fire
    matched: int = 0
    fired: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path.pattern,
            "kind": self.kind,
            "method": self.method,
            "status": self.status,
            "body": self.body,
            "delay_s": self.delay_s,
            "count": self.count,
            "fraction": self.fraction,
            "retry_after": self.retry_after,
            "shape": self.shape,
            "after": self.after,
            "matched": self.matched,
            "fired": self.fired,
        }


@dataclass(slots=True)
class Counters:
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_token: Counter[str] = field(default_factory=Counter)
    by_login: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    graphql_points: Counter[str] = field(default_factory=Counter)
    graphql_nodes: int = 0
    not_modified: int = 0
    rate_limited: int = 0
    secondary_limited: int = 0
    graphql_timeouts: int = 0
    graphql_timeout_points: int = 0
    faults_fired: int = 0
    in_flight: Counter[str] = field(default_factory=Counter)
    max_concurrency: Counter[str] = field(default_factory=Counter)
    in_flight_total: int = 0
    max_concurrency_total: int = 0


class Limits:
    """Budgets, counters, faults and latency for one sandbox GitHub."""

    def __init__(
        self,
        *,
        seed: int,
        rest_budget: int,
        graphql_budget: int,
        latency_ms: float,
        per_node_ms: float,
        clock: Clock,
    ) -> None:
        self.seed = seed
        self.limits = {"core": rest_budget, "graphql": graphql_budget}
        self.latency_ms = latency_ms
        self.per_node_ms = per_node_ms
        self.clock = clock
        self.secondary = dict(SECONDARY_DEFAULTS)
        self.secondary_policy = SecondaryPolicy()
        self.timeouts = TimeoutModel()
        self.rate_limit_type = RATE_LIMIT_TYPES[0]
        self.lock = threading.Lock()
        self.budgets: dict[tuple[str, str], Budget] = {}
        self.faults: list[Fault] = []
        self.counters = Counters()
        self._recent: dict[tuple[str, str], deque[float]] = {}
        self._next_fault = 0

    # -- budgets --------------------------------------------------------------------

    def budget(self, subject: str, resource: str) -> Budget:
        """Return ``subject``'s budget for ``resource``, opening a new window when due."""
        with self.lock:
            return self._budget(subject, resource)

    def _budget(self, subject: str, resource: str) -> Budget:
        now = int(self.clock.now())
        budget = self.budgets.get((subject, resource))
        if budget is None or now >= budget.reset:
            # GitHub: the window starts with the first request and lasts an hour.
            budget = Budget(self._limit(subject, resource), 0, now + WINDOW_S)
            self.budgets[(subject, resource)] = budget
        return budget

    def _limit(self, subject: str, resource: str) -> int:
        return ANONYMOUS_LIMIT if subject.startswith("ip:") else self.limits[resource]

    def charge(self, subject: str, resource: str, points: int) -> tuple[bool, Budget]:
        """Spend ``points``; answer False (and spend nothing) when the budget is already out."""
        with self.lock:
            budget = self._budget(subject, resource)
            if budget.remaining <= 0 or (resource == "graphql" and points > budget.remaining):
                return False, budget
            budget.used += points
            return True, budget

    def refund(self, subject: str, resource: str, points: int) -> Budget:
        """Give points back (a 304 answer is free on GitHub)."""
        with self.lock:
            budget = self._budget(subject, resource)
            budget.used = max(0, budget.used - points)
            return budget

    def set_budget(self, subject: str, resource: str, remaining: int, reset_in: float) -> Budget:
        """Force a budget's remaining points and its reset time (control API)."""
        with self.lock:
            limit = self._limit(subject, resource)
            reset = int(self.clock.now() + reset_in)
            budget = Budget(limit, max(0, limit - remaining), reset)
            self.budgets[(subject, resource)] = budget
            return budget

    # -- secondary limits -----------------------------------------------------------

    def secondary_exceeded(self, subject: str, resource: str, endpoint: str = "") -> bool:
        """Record one request for the per-minute secondary limits and report whether it is over.

        GitHub counts per resource and, for some endpoints, per endpoint: an endpoint's limit
        (``SecondaryPolicy.per_endpoint``) stops that endpoint only.
        """
        key = "graphql_per_minute" if resource == "graphql" else "rest_per_minute"
        now = self.clock.now()
        with self.lock:
            recent = self._window((subject, resource), now)
            per_endpoint = self.secondary_policy.per_endpoint.get(endpoint)
            mine = self._window((subject, f"endpoint:{endpoint}"), now) if per_endpoint else None
            over = len(recent) >= self.secondary[key] or self._too_concurrent(subject)
            if over or (mine is not None and len(mine) >= per_endpoint):  # type: ignore[operator]
                self.counters.secondary_limited += 1
                return True
            recent.append(now)
            if mine is not None:
                mine.append(now)
            return False

    def _window(self, key: tuple[str, str], now: float) -> deque[float]:
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        return recent

    def _too_concurrent(self, subject: str) -> bool:
        return self.counters.in_flight[subject] > self.secondary["max_concurrent"]

    def note_secondary(self) -> None:
        with self.lock:
            self.counters.secondary_limited += 1

    def note_rate_limited(self) -> None:
        with self.lock:
            self.counters.rate_limited += 1

    # -- concurrency and counters -----------------------------------------------------

    @contextmanager
    def in_flight(self, keys: tuple[str, ...]) -> Iterator[None]:
        """Count a request as in flight for each key (token, subject) while the block runs."""
        with self.lock:
            self._enter(keys)
        try:
            yield
        finally:
            with self.lock:
                for key in keys:
                    self.counters.in_flight[key] -= 1
                self.counters.in_flight_total -= 1

    def _enter(self, keys: tuple[str, ...]) -> None:
        counters = self.counters
        for key in keys:
            counters.in_flight[key] += 1
            counters.max_concurrency[key] = max(
                counters.max_concurrency[key], counters.in_flight[key]
            )
        counters.in_flight_total += 1
        counters.max_concurrency_total = max(
            counters.max_concurrency_total, counters.in_flight_total
        )

    def record(
        self, *, endpoint: str, token: str | None, login: str | None, status: int, points: int = 0
    ) -> None:
        """Count one answered request."""
        with self.lock:
            counters = self.counters
            counters.by_endpoint[endpoint] += 1
            counters.by_status[str(status)] += 1
            if token:
                counters.by_token[token] += 1
            if login:
                counters.by_login[login] += 1
                if points:
                    counters.graphql_points[login] += points
            if status == 304:
                counters.not_modified += 1

    def record_nodes(self, nodes: int) -> None:
        with self.lock:
            self.counters.graphql_nodes += nodes

    def record_timeout(self, points: int) -> None:
        with self.lock:
            self.counters.graphql_timeouts += 1
            self.counters.graphql_timeout_points += points

    def reset_counters(self) -> None:
        with self.lock:
            in_flight, total = self.counters.in_flight, self.counters.in_flight_total
            self.counters = Counters(in_flight=in_flight, in_flight_total=total)

    def snapshot(self) -> dict[str, object]:
        """Return the counters as JSON-ready data."""
        with self.lock:
            c = self.counters
            return {
                "requests": sum(c.by_endpoint.values()),
                "by_endpoint": dict(c.by_endpoint),
                "by_token": dict(c.by_token),
                "by_login": dict(c.by_login),
                "by_status": dict(c.by_status),
                "graphql_points": dict(c.graphql_points),
                "graphql_points_total": sum(c.graphql_points.values()),
                "graphql_nodes": c.graphql_nodes,
                "not_modified": c.not_modified,
                "rate_limited": c.rate_limited,
                "secondary_limited": c.secondary_limited,
                "graphql_timeouts": c.graphql_timeouts,
                "graphql_timeout_points": c.graphql_timeout_points,
                "faults_fired": c.faults_fired,
                "in_flight": {k: v for k, v in c.in_flight.items() if v},
                "max_concurrency": dict(c.max_concurrency),
                "max_concurrency_total": c.max_concurrency_total,
            }

    # -- faults ---------------------------------------------------------------------

    def add_fault(self, spec: dict[str, object]) -> Fault:
        """Register a fault from its control-API description; raise ValueError if malformed."""
        kind = str(spec.get("kind", "status"))
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if "path" not in spec:
            raise ValueError("path (a regular expression on the request path) is required")
        shape = str(spec.get("shape") or "502")
        if shape not in TIMEOUT_SHAPES:
            raise ValueError(f"shape must be one of {', '.join(TIMEOUT_SHAPES)}")
        with self.lock:
            self._next_fault += 1
            fault = Fault(
                id=f"f{self._next_fault}",
                path=re.compile(str(spec["path"])),
                kind=kind,
                method=str(spec["method"]).upper() if spec.get("method") else None,
                status=_optional_int(spec.get("status")),
                body=spec.get("body"),
                delay_s=float(spec.get("delay_s") or 0),  # type: ignore[arg-type]
                count=_optional_int(spec.get("count")),
                fraction=float(spec["fraction"]) if spec.get("fraction") is not None else None,  # type: ignore[arg-type]
                retry_after=_optional_int(spec.get("retry_after")) or 60,
                shape=shape,
                after=_optional_int(spec.get("after")) or 0,
            )
            self.faults.append(fault)
            return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def fault_for(self, method: str, path: str) -> Fault | None:
        """Return the first fault that fires for this request, counting the match."""
        with self.lock:
            for fault in self.faults:
                if fault.method not in (None, method) or not fault.path.search(path):
                    continue
                fault.matched += 1
                if self._fires(fault):
                    fault.fired += 1
                    self.counters.faults_fired += 1
                    return fault
            return None

    def _fires(self, fault: Fault) -> bool:
        if fault.matched <= fault.after:
            return False
        if fault.count is not None and fault.fired >= fault.count:
            return False
        if fault.fraction is None:
            return True
        # Deterministic from the seed: the same run of requests meets the same faults.
        digest = hashlib.sha256(f"{self.seed}:{fault.id}:{fault.matched}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < fault.fraction

    # -- latency --------------------------------------------------------------------

    def latency_s(self, nodes: int) -> float:
        """Return how long an answer with ``nodes`` nodes takes (fixed + per node)."""
        return max(0.0, self.latency_ms + self.per_node_ms * nodes) / 1000


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
