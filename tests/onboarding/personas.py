"""The personas on the sandbox GitHub, and the OAuth dance a browser does, for onboarding tests.

Alice signs in as ``mona`` (an admin of acme on GitHub), Bob as a plain member of acme,
Charlie as someone outside acme. Who is what is read from the sandbox, never assumed.
Import the fixtures you use into a test module or conftest.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from sandbox.github.world import FIRST_NAMES
from sandbox.testing import RunningSandbox, start_sandbox
from sync import accounts
from sync.fields import Secret
from sync.github import orgs
from sync.models import GitHubAccount, IntegrationCredential, Membership
from tests.conftest import TEST_CLIENT_CALLBACK

# The sandbox's OAuth app (its --client-id/--client-secret defaults).
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Identity:
    """A sandbox GitHub user with a token of theirs."""

    login: str
    id: int
    token: str


def identity(sandbox: RunningSandbox, login: str, scopes: list[str] | None = None) -> Identity:
    token = sandbox.control.issue_token(login, scopes)
    response = requests.get(
        f"{sandbox.api_url}/user", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    response.raise_for_status()
    return Identity(login, int(response.json()["id"]), token)


def org_members(sandbox: RunningSandbox, org: str, role: str = "all") -> list[str]:
    admin = identity(sandbox, "mona")
    response = requests.get(
        f"{sandbox.api_url}/orgs/{org}/members",
        params={"role": role, "per_page": "100"},
        headers={"Authorization": f"Bearer {admin.token}"},
        timeout=5,
    )
    response.raise_for_status()
    return [user["login"] for user in response.json() if user["type"] == "User"]


def plain_member(sandbox: RunningSandbox, org: str = "acme") -> str:
    members = [login for login in org_members(sandbox, org, "member") if login != "mona"]
    assert members, f"the sandbox world has no plain member of {org}"
    return members[0]


def outsider(sandbox: RunningSandbox, org: str = "acme") -> str:
    inside = set(org_members(sandbox, org))
    return next(name for name in FIRST_NAMES if name not in inside)


def connect(user: User, who: Identity) -> GitHubAccount:
    """Give ``user`` this GitHub identity and its token, as signing in with GitHub does."""
    credential = IntegrationCredential.objects.create(
        user=user, provider="github", access_token=Secret(who.token), scopes="read:org repo"
    )
    return GitHubAccount.objects.create(
        user=user, github_id=who.id, login=who.login, credential=credential
    )


def join(user: User, who: Identity, org: str = "acme") -> Membership:
    """Choose ``org`` as ``user`` would on the organizations page."""
    found = orgs.get_org_membership(who.token, org)
    return accounts.choose_organization(user=user, org_membership=found).membership


def authorize_on_github(
    client: Client,
    sandbox: RunningSandbox,
    *,
    login: str = "mona",
    approve: bool = True,
    scopes: str | None = None,
    next_url: str | None = None,
) -> tuple[str, str]:
    """Start the OAuth flow here, then act on the sandbox's Authorize page like a browser.

    Returns the callback path with its query, and the ``state`` we sent.
    """
    response = client.post(reverse("onboarding:github_connect"), {"next": next_url or ""})
    assert response.status_code == 302, response
    authorize = response["Location"]
    page = requests.get(f"{authorize}&login={login}", timeout=5)
    assert page.status_code == 200, page.text
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    if scopes is not None:
        fields["scope"] = scopes  # what the user ends up granting
    answer = requests.post(
        f"{sandbox.url}/login/oauth/authorize",
        data={**fields, "authorize": "1" if approve else "0"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}", fields["state"]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def gh(github: RunningSandbox, settings: object) -> RunningSandbox:
    """The sandbox GitHub (reset), with our OAuth app's settings pointed at it."""
    settings.GITHUB_CLIENT_ID = CLIENT_ID  # type: ignore[attr-defined]
    settings.GITHUB_CLIENT_SECRET = CLIENT_SECRET  # type: ignore[attr-defined]
    settings.GITHUB_WEB_URL = ""  # type: ignore[attr-defined]
    cache.clear()  # repository lists remembered by an earlier test
    return github


@pytest.fixture
def mona(gh: RunningSandbox) -> Identity:
    return identity(gh, "mona")


@pytest.fixture
def alice_github(alice: User, mona: Identity) -> Identity:
    connect(alice, mona)
    return mona


@pytest.fixture
def bob_github(bob: User, gh: RunningSandbox) -> Identity:
    who = identity(gh, plain_member(gh))
    connect(bob, who)
    return who


@pytest.fixture
def charlie_github(charlie: User, gh: RunningSandbox) -> Identity:
    who = identity(gh, outsider(gh))
    connect(charlie, who)
    return who


@pytest.fixture
def acme(alice: User, alice_github: Identity) -> Membership:
    """Alice's acme team, created by choosing acme: she is its admin."""
    return join(alice, alice_github)


@pytest.fixture(scope="session")
def many_orgs() -> Iterator[RunningSandbox]:
    """A sandbox where mona belongs to more organizations than one page holds."""
    running = start_sandbox(
        "--seed", "5", "--orgs", "103", "--repos", "3", "--prs", "20",
        "--callback-url", TEST_CLIENT_CALLBACK,
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="session")
def big_org() -> Iterator[RunningSandbox]:
    """A sandbox whose acme has 30 repositories, three of them archived."""
    running = start_sandbox(
        "--seed", "9", "--repos", "30", "--prs", "60", "--members", "4",
        "--callback-url", TEST_CLIENT_CALLBACK,
    )  # fmt: skip
    yield running
    running.stop()
