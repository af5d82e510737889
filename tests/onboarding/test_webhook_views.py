"""The optional webhook step: an owner grants admin:org_hook in a second OAuth round, then
creates the organization webhook; members, non-owners and tokens without the scope are refused
with a page saying why, and everyone may skip it."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sandbox.testing import RunningSandbox
from sync.models import GitHubAccount, Integration, Membership, WebhookDelivery
from tests.onboarding.personas import Identity, connect, identity, join

pytestmark = pytest.mark.django_db(transaction=True)

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@pytest.fixture
def signed_in(client: Client, alice: User, acme: Membership) -> Client:
    client.force_login(alice)
    return client


def _grant_on_github(client: Client, sandbox: RunningSandbox, login: str = "mona") -> Any:
    """Press "Grant" here, approve on the sandbox's page, come back through the callback."""
    answer = client.post(reverse("onboarding:webhook_authorize"))
    assert answer.status_code == 302
    authorize = answer["Location"]
    assert "admin:org_hook" in parse_qs(urlsplit(authorize).query)["scope"][0].split()
    page = requests.get(f"{authorize}&login={login}", timeout=5)
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    back = requests.post(
        f"{sandbox.url}/login/oauth/authorize",
        data={**fields, "authorize": "1"},
        allow_redirects=False,
        timeout=5,
    )
    location = urlsplit(back.headers["Location"])
    return client.get(f"{location.path}?{location.query}")


def test_it_explains_the_permission_and_lets_anyone_skip(signed_in: Client) -> None:
    page = signed_in.get(reverse("onboarding:webhooks"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "admin:org_hook" in text and "owner" in text
    assert 'data-testid="authorize"' in text and 'data-testid="skip"' in text


def test_it_asks_for_the_scope_again_then_creates_the_hook(
    signed_in: Client, gh: RunningSandbox, acme: Membership, live_server: Any, settings: Any
) -> None:
    settings.WEBHOOK_URL = f"{live_server.url}/webhooks/github/"
    back = _grant_on_github(signed_in, gh)
    assert back.status_code == 302 and back["Location"] == reverse("onboarding:webhooks")
    account = GitHubAccount.objects.get(user=acme.user)
    assert "admin:org_hook" in account.credential.scopes.split()  # type: ignore[union-attr]
    page = signed_in.get(reverse("onboarding:webhooks")).content.decode()
    assert 'data-testid="register"' in page

    created = signed_in.post(reverse("onboarding:webhook_register"))
    assert created.status_code == 302
    integration = Integration.objects.get(team=acme.team, provider="github")
    assert integration.webhook_id and integration.webhook_secret
    gh.control.wait_for_deliveries()
    assert WebhookDelivery.objects.get(event="ping").status == WebhookDelivery.Status.IGNORED
    page = signed_in.get(reverse("onboarding:webhooks")).content.decode()
    assert 'data-condition="healthy"' in page and "The webhook is set up" in page


def test_it_says_github_refused_a_token_without_the_scope(signed_in: Client) -> None:
    answer = signed_in.post(reverse("onboarding:webhook_register"))
    assert answer.status_code == 403 and b"owner of the organization" in answer.content
    assert Integration.objects.get(provider="github").webhook_id is None


def test_it_says_github_refused_an_admin_who_is_no_owner(
    client: Client, gh: RunningSandbox, bob: User, acme: Membership
) -> None:
    member: Identity = identity(gh, _plain_member(gh), ["read:org", "repo", "admin:org_hook"])
    connect(bob, member)
    membership = join(bob, member)
    Membership.objects.filter(pk=membership.pk).update(role=Membership.Role.ADMIN)
    client.force_login(bob)
    answer = client.post(reverse("onboarding:webhook_register"))
    assert answer.status_code == 403 and b"Only an owner" in answer.content


def test_it_refuses_a_member(
    client: Client, gh: RunningSandbox, bob: User, acme: Membership
) -> None:
    member = identity(gh, _plain_member(gh))
    connect(bob, member)
    join(bob, member)
    client.force_login(bob)
    page = client.get(reverse("onboarding:webhooks")).content.decode()
    assert "Only the team's admins" in page and 'data-testid="authorize"' not in page
    for name in ("onboarding:webhook_authorize", "onboarding:webhook_register"):
        answer = client.post(reverse(name))
        assert answer.status_code == 403 and b"not an admin" in answer.content


def _plain_member(gh: RunningSandbox) -> str:
    from tests.onboarding.personas import plain_member

    return plain_member(gh)
