"""Organization webhooks in the sandbox: the hooks, their signed deliveries, faults, redelivery.

GitHub: https://docs.github.com/rest/orgs/webhooks and
https://docs.github.com/webhooks/webhook-events-and-payloads. Whenever the control API changes
the world, every active hook of the organization subscribed to the event gets a real HTTP POST
from a background thread, with GitHub's headers (``X-GitHub-Event``, ``X-GitHub-Delivery``,
``X-Hub-Signature-256``, ``X-GitHub-Hook-ID``) and a JSON body in GitHub's shape. Each attempt is
recorded (status code, duration), so the deliveries API reports failures as GitHub does, and
``POST .../attempts`` sends one again under the same GUID. Like GitHub, the sandbox never
retries a failed delivery by itself.

Faults, switchable at runtime: drop a share of deliveries (recorded as failed, never sent),
delay them, deliver a share twice, sign a share with the wrong secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

# GitHub waits 10 s for an answer.
TIMEOUT_S = 10.0
# GitHub keeps three days of deliveries; the sandbox keeps the last this many per hook.
KEPT = 5000
# The events an org hook may subscribe to that the sandbox sends ("*" is every one).
EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_review",
        "pull_request_review_comment",
        "push",
        "member",
        "membership",
        "organization",
        "repository",
        "ping",
        "*",
    }
)


@dataclass(slots=True)
class Hook:
    id: int
    org: str  # the organization's login
    org_id: int
    url: str
    secret: str
    events: tuple[str, ...]
    active: bool
    content_type: str
    created_at: datetime
    api: str  # http://host:port/api/v3 of the request that created it

    def wants(self, event: str) -> bool:
        return self.active and (event == "ping" or "*" in self.events or event in self.events)

    def as_json(self) -> dict[str, object]:
        """Return GitHub's ``org-hook`` shape (the secret is never shown back)."""
        base = f"{self.api}/orgs/{self.org}/hooks/{self.id}"
        config: dict[str, object] = {
            "url": self.url,
            "content_type": self.content_type,
            "insecure_ssl": "0",
        }
        if self.secret:
            config["secret"] = "********"  # noqa: S105 - GitHub masks it so
        return {
            "id": self.id,
            "url": base,
            "ping_url": f"{base}/pings",
            "deliveries_url": f"{base}/deliveries",
            "name": "web",
            "events": list(self.events),
            "active": self.active,
            "config": config,
            "updated_at": _iso(self.created_at),
            "created_at": _iso(self.created_at),
            "type": "Organization",
        }


@dataclass(slots=True)
class Delivery:
    id: int
    guid: str
    hook_id: int
    event: str
    action: str | None
    body: bytes
    repository_id: int | None
    redelivery: bool
    delivered_at: datetime | None = None
    duration: float = 0.0
    status_code: int = 0
    status: str = "Pending"
    finished: bool = False

    def as_json(self) -> dict[str, object]:
        """Return GitHub's ``hook-delivery-item`` shape."""
        return {
            "id": self.id,
            "guid": self.guid,
            "delivered_at": _iso(self.delivered_at),
            "redelivery": self.redelivery,
            "duration": round(self.duration, 3),
            "status": self.status,
            "status_code": self.status_code,
            "event": self.event,
            "action": self.action,
            "installation_id": None,
            "repository_id": self.repository_id,
            "throttled_at": None,
        }


@dataclass(slots=True)
class DeliveryFaults:
    drop: float = 0.0  # share never sent (recorded as failed to connect)
    delay_s: float = 0.0  # every delivery waits this long first
    duplicate: float = 0.0  # share sent twice (the network repeats it)
    bad_signature: float = 0.0  # share signed with a wrong secret
    dropped: int = 0
    duplicated: int = 0
    badly_signed: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "drop": self.drop,
            "delay_s": self.delay_s,
            "duplicate": self.duplicate,
            "bad_signature": self.bad_signature,
            "dropped": self.dropped,
            "duplicated": self.duplicated,
            "badly_signed": self.badly_signed,
        }


@dataclass
class Hooks:
    """Every org hook of one sandbox and every delivery attempt made to them."""

    seed: int = 1
    hooks: dict[int, Hook] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    faults: DeliveryFaults = field(default_factory=DeliveryFaults)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_id: int = 70_000_000
    _rng: random.Random = field(default_factory=random.Random)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(8, thread_name_prefix="sandbox-hook")
    )
    _pending: set[Future[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng.seed(f"{self.seed}:hooks")

    # -- hooks --------------------------------------------------------------------------

    def create(
        self,
        *,
        org: str,
        org_id: int,
        url: str,
        secret: str,
        events: tuple[str, ...],
        active: bool,
        api: str,
    ) -> Hook:
        """Add a hook and send it GitHub's ``ping``."""
        with self.lock:
            hook = Hook(self._id(), org, org_id, url, secret, events, active, "json", _now(), api)
            self.hooks[hook.id] = hook
        return hook

    def of_org(self, org: str) -> list[Hook]:
        with self.lock:
            return [h for h in self.hooks.values() if h.org.lower() == org.lower()]

    def get(self, org: str, hook_id: int) -> Hook | None:
        hook = self.hooks.get(hook_id)
        return hook if hook is not None and hook.org.lower() == org.lower() else None

    def deliveries_of(self, hook_id: int) -> list[Delivery]:
        """Return the hook's delivery attempts, newest first (as GitHub lists them)."""
        with self.lock:
            return [d for d in reversed(self.deliveries) if d.hook_id == hook_id]

    # -- sending ------------------------------------------------------------------------

    def emit(self, org: str, event: str, payload: dict[str, Any]) -> list[str]:
        """Deliver ``event`` to every hook of ``org`` that wants it; return the GUIDs."""
        guids = []
        for hook in self.of_org(org):
            if hook.wants(event):
                guids.append(self.send(hook, event, payload))
        return guids

    def send(self, hook: Hook, event: str, payload: dict[str, Any]) -> str:
        """Deliver ``event`` to ``hook`` (with the faults in force); return its GUID."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        repository = payload.get("repository")
        repository_id = repository.get("id") if isinstance(repository, dict) else None
        with self.lock:
            delivery = Delivery(
                self._id(),
                str(uuid.uuid4()),
                hook.id,
                event,
                payload.get("action"),
                body,
                repository_id,
                redelivery=False,
            )
            self._keep(delivery)
            faults = self.faults
            drop = self._rng.random() < faults.drop
            twice = not drop and self._rng.random() < faults.duplicate
            badly = self._rng.random() < faults.bad_signature
            faults.dropped += drop
            faults.duplicated += twice
            faults.badly_signed += badly
        if drop:
            self._finish(delivery, 0, "Invalid HTTP Response: failed to connect to host", 0.0)
            return delivery.guid
        self._submit(hook, delivery, bad_signature=badly)
        if twice:
            self._submit(hook, delivery, bad_signature=badly, copy=True)
        return delivery.guid

    def redeliver(self, hook: Hook, delivery_id: int) -> Delivery | None:
        """Send delivery ``delivery_id`` again as a new attempt with the same GUID."""
        with self.lock:
            found = next((d for d in self.deliveries if d.id == delivery_id), None)
            if found is None or found.hook_id != hook.id:
                return None
            again = Delivery(
                self._id(),
                found.guid,
                hook.id,
                found.event,
                found.action,
                found.body,
                found.repository_id,
                redelivery=True,
            )
            self._keep(again)
        self._submit(hook, again, bad_signature=False)
        return again

    def _submit(
        self, hook: Hook, delivery: Delivery, *, bad_signature: bool, copy: bool = False
    ) -> None:
        delay = self.faults.delay_s
        future = self._pool.submit(self._post, hook, delivery, bad_signature, delay, copy)
        with self.lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self.lock:
            self._pending.discard(future)

    def _post(
        self, hook: Hook, delivery: Delivery, bad_signature: bool, delay: float, copy: bool
    ) -> None:
        if delay:
            time.sleep(delay)
        secret = ("not-" + hook.secret) if bad_signature else hook.secret
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/sandbox",
            "X-GitHub-Event": delivery.event,
            "X-GitHub-Delivery": delivery.guid,
            "X-GitHub-Hook-ID": str(hook.id),
            "X-GitHub-Hook-Installation-Target-Type": "organization",
            "X-GitHub-Hook-Installation-Target-ID": str(hook.org_id),
        }
        if hook.secret:
            headers["X-Hub-Signature-256"] = "sha256=" + _hmac(secret, delivery.body, "sha256")
            headers["X-Hub-Signature"] = "sha1=" + _hmac(secret, delivery.body, "sha1")
        # The hook's URL was checked to be http(s) when the hook was created.
        request = urllib.request.Request(  # noqa: S310
            hook.url, data=delivery.body, headers=headers, method="POST"
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
                status = int(answer.status)
        except urllib.error.HTTPError as error:
            status = int(error.code)
        except TimeoutError:
            status = 0
        except (urllib.error.URLError, OSError):
            status = -1
        if copy:
            return  # the network's repeat: GitHub records one attempt
        self._finish(delivery, status, _status_text(status), time.monotonic() - started)

    def _finish(self, delivery: Delivery, code: int, status: str, duration: float) -> None:
        with self.lock:
            delivery.status_code = max(0, code)
            delivery.status = status
            delivery.duration = duration
            delivery.delivered_at = _now()
            delivery.finished = True

    # -- control ------------------------------------------------------------------------

    def set_faults(self, **values: float) -> DeliveryFaults:
        with self.lock:
            for name, value in values.items():
                setattr(self.faults, name, float(value))
            return self.faults

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no delivery is in flight; return whether that happened in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if not self._pending:
                    return True
            time.sleep(0.02)
        return False

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _keep(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if len(self.deliveries) > KEPT * max(1, len(self.hooks)):
            del self.deliveries[: len(self.deliveries) // 10]


def _hmac(secret: str, body: bytes, digest: str) -> str:
    return hmac.new(secret.encode(), body, getattr(hashlib, digest)).hexdigest()


def _status_text(code: int) -> str:
    if 200 <= code < 300:
        return "OK"
    if code == 0:
        return "Invalid HTTP Response: timed out"
    if code < 0:
        return "Invalid HTTP Response: failed to connect to host"
    return f"Invalid HTTP Response: {code}"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
