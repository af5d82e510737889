"""Helpers for webhook tests: a team whose admin owns the sandbox org with admin:org_hook, its
hook registered to a live server, deliveries signed as GitHub signs them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from sandbox.testing import RunningSandbox
from sync.models import Integration, IntegrationCredential, Membership, Team, WebhookDelivery
from sync.webhooks import events, registration, signatures
from tests.onboarding.personas import connect, identity, join
from tests.sync.importing import track_all

HOOK_SCOPES = ["read:org", "repo", "admin:org_hook"]
URL = "/webhooks/github/"


def hooked_team(github: RunningSandbox, alice: User) -> Team:
    """Alice, as mona (an owner of acme with admin:org_hook), connects acme; all repos tracked."""
    mona = identity(github, "mona", HOOK_SCOPES)
    account = connect(alice, mona)
    IntegrationCredential.objects.filter(githubaccount=account).update(scopes=" ".join(HOOK_SCOPES))
    membership: Membership = join(alice, mona)
    track_all(membership.team, mona.token)
    return membership.team


def register(team: Team, base_url: str) -> int:
    """Register the team's hook to ``base_url`` with its admin's GitHub access."""
    admin = Membership.objects.filter(team=team, role=Membership.Role.ADMIN).first()
    assert admin is not None
    hook = registration.register(team_id=team.pk, user=admin.user, url=f"{base_url}{URL}")
    return hook.id


def secret_of(team: Team) -> str:
    integration = Integration.objects.get(team=team, provider="github")
    return str(integration.webhook_secret)


def apply_queued() -> int:
    """Apply every queued delivery in this process, as the worker's actor does; return how many."""
    queued = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.QUEUED).values_list(
            "pk", flat=True
        )
    )
    for delivery_id in queued:
        events.apply_delivery(delivery_id)
    return len(queued)


def post(
    client: Client,
    payload: dict[str, Any] | bytes,
    *,
    event: str = "pull_request",
    secret: str | None = None,
    guid: str | None = None,
    signature: str | None = None,
) -> Any:
    """POST a delivery as GitHub does; signed with ``secret`` unless ``signature`` is given."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": guid or str(uuid.uuid4())}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = signatures.sign(secret, body)
    return client.post(URL, data=body, content_type="application/json", headers=headers)
