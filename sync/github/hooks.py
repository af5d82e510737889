"""An organization's webhook over REST: create it, read it and its deliveries, redeliver.

GitHub: https://docs.github.com/rest/orgs/webhooks. Every call needs an organization owner's
token with the ``admin:org_hook`` scope; GitHub answers 404 to anyone else, which becomes
:class:`HookForbidden` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.github.client import Session, parse_time
from sync.github.errors import GitHubError, NotFound, Transient

# The scope an OAuth token needs to manage organization webhooks.
HOOK_SCOPE = "admin:org_hook"
# What the service listens to (sync.webhooks.events applies them).
EVENTS = (
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "push",
    "member",
    "membership",
    "organization",
    "repository",
)


class HookForbidden(GitHubError):
    """GitHub will not show or create the hook: the user is not an owner, or lacks the scope."""


@dataclass(frozen=True, slots=True)
class HookData:
    id: int
    url: str
    events: tuple[str, ...]
    active: bool


@dataclass(frozen=True, slots=True)
class DeliveryData:
    id: int
    guid: str
    delivered_at: datetime | None
    redelivery: bool
    status_code: int
    status: str
    event: str
    action: str

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 300


def create_org_hook(session: Session, *, org: str, url: str, secret: str) -> HookData:
    """Create the organization's webhook to ``url``, signed with ``secret``; return it."""
    # GitHub: https://docs.github.com/rest/orgs/webhooks#create-an-organization-webhook
    body = {
        "name": "web",
        "active": True,
        "events": list(EVENTS),
        "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
    }
    try:
        _, data = session.rest_post(f"/orgs/{org}/hooks", body)
    except NotFound as error:
        raise HookForbidden(_FORBIDDEN.format(org=org)) from error
    return _hook(data)


def get_org_hook(session: Session, *, org: str, hook_id: int) -> HookData | None:
    """Return the organization's hook ``hook_id``, or None when GitHub no longer has it."""
    try:
        _, data = session.rest_get(f"/orgs/{org}/hooks/{hook_id}")
    except NotFound:
        return None
    return _hook(data)


def list_deliveries(session: Session, *, org: str, hook_id: int) -> list[DeliveryData]:
    """Return the hook's recent deliveries (GitHub keeps three days), newest first."""
    # GitHub: https://docs.github.com/rest/orgs/webhooks#list-deliveries-for-an-organization-webhook
    path = f"/orgs/{org}/hooks/{hook_id}/deliveries"
    try:
        return [_delivery(item) for page in session.rest_pages(path, {}) for item in page]
    except NotFound as error:
        raise HookForbidden(_FORBIDDEN.format(org=org)) from error


def redeliver(session: Session, *, org: str, hook_id: int, delivery_id: int) -> None:
    """Ask GitHub to send delivery ``delivery_id`` again (a new attempt, the same GUID)."""
    # GitHub: https://docs.github.com/rest/orgs/webhooks#redeliver-a-delivery-for-an-organization-webhook
    path = f"/orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts"
    try:
        session.rest_post(path)
    except NotFound as error:
        raise HookForbidden(_FORBIDDEN.format(org=org)) from error


_FORBIDDEN = (
    "GitHub does not let this account manage {org}'s webhooks: an organization owner must "
    "grant the admin:org_hook scope"
)


def _hook(data: Any) -> HookData:
    try:
        return HookData(
            id=int(data["id"]),
            url=str((data.get("config") or {}).get("url") or ""),
            events=tuple(str(e) for e in data.get("events") or ()),
            active=bool(data.get("active")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise Transient("GitHub sent a webhook that is not one") from error


def _delivery(item: Any) -> DeliveryData:
    try:
        return DeliveryData(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=parse_time(item.get("delivered_at")),
            redelivery=bool(item.get("redelivery")),
            status_code=int(item.get("status_code") or 0),
            status=str(item.get("status") or ""),
            event=str(item.get("event") or ""),
            action=str(item.get("action") or ""),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise Transient("GitHub sent a webhook delivery that is not one") from error
