"""The optional providers for tests: what a person does on each consent page over real HTTP,
and one driver a provider, so that one suite runs every provider's step.
The ``jira_sandbox`` and ``slack_sandbox`` fixtures live in tests/conftest.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import urlsplit

import requests
from django.db import connection

from sandbox.testing import SandboxControl
from sync import integrations
from sync.models import Integration, IntegrationCredential, Membership

CALLBACK_HOST = "http://testserver"
JIRA_CALLBACK = f"{CALLBACK_HOST}/onboarding/jira/callback/"
SLACK_CALLBACK = f"{CALLBACK_HOST}/onboarding/slack/callback/"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_OPTION = re.compile(r'<option value="([^"]+)">([^<]+)</option>')


def _back(answer: requests.Response) -> str:
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def consent_on_atlassian(authorize_url: str, *, accept: bool = True, site: str = "acme") -> str:
    """Act on Atlassian's consent page like a person; return the callback path and query."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    fields = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    sites = {unescape(label).split(" ")[0]: value for value, label in _OPTION.findall(page.text)}
    answer = requests.post(
        authorize_url.split("?")[0],
        data=fields | {"site": sites[site], "decision": "accept" if accept else "cancel"},
        allow_redirects=False,
        timeout=10,
    )
    return _back(answer)


def install_on_slack(authorize_url: str, *, allow: bool = True) -> str:
    """Act on Slack's install page like a person; return the callback path and query."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    fields = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    answer = requests.post(
        authorize_url.split("?")[0],
        data=fields | {"decision": "allow" if allow else "cancel"},
        allow_redirects=False,
        timeout=10,
    )
    return _back(answer)


def code_of(callback: str) -> str:
    found = re.search(r"[?&]code=([^&]+)", callback)
    assert found, callback
    return requests.utils.unquote(found.group(1))


@dataclass(frozen=True)
class Driver:
    """One provider as the tests drive it: its pages, its sandbox and a valid choice."""

    name: str
    label: str
    vendor: str
    authorize_path: str  # where its consent page lives on the sandbox
    exchange_endpoint: str  # the code exchange, as the sandbox counts it
    exchange_fault: str  # a fault pattern matching the code exchange
    list_fault: str  # a fault pattern matching the pick page's list
    pick_path: str
    next_url: str
    options: int  # rows the pick page offers on a fresh connection
    authorize_query: dict[str, list[str]]  # what the consent page is asked, beside the state
    unknown_choice: str  # the title of the page refusing a choice the provider does not list
    prompt: str  # what the pick page says when nothing was chosen
    consent: Callable[..., str]  # (authorize_url, *, accept) -> callback path and query
    revoke: Callable[[SandboxControl], object]  # the user removes the app
    pick: Callable[[SandboxControl, str], dict[str, Any]]  # (control, list page) -> valid choice
    bad_pick: Callable[[SandboxControl, str], dict[str, Any]]  # a choice it does not list
    no_pick: Callable[[str], dict[str, Any]]  # a submission that chose nothing
    counters: Callable[[SandboxControl], dict[str, Any]]

    @property
    def callback(self) -> str:
        return f"{CALLBACK_HOST}/onboarding/{self.name}/callback/"

    def exchanges(self, control: SandboxControl) -> int:
        return int(self.counters(control)["by_endpoint"].get(self.exchange_endpoint, 0))


def _jira_pick(control: SandboxControl, page: str) -> dict[str, Any]:
    site = page.split('name="site" value="')[1].split('"')[0]
    keys = [part.split('"')[0] for part in page.split('name="projects" value="')[1:]]
    return {"site": site, "projects": [keys[1], keys[3]]}


def _slack_pick(control: SandboxControl, page: str) -> dict[str, Any]:
    return {"channel": control.slack_channel_id("pr-notices")}


def _site_of(page: str) -> str:
    return page.split('name="site" value="')[1].split('"')[0]


DRIVERS = {
    "jira": Driver(
        name="jira",
        label="Jira",
        vendor="Atlassian",
        authorize_path="/atlassian/authorize?",
        exchange_endpoint="POST /atlassian/oauth/token",
        exchange_fault="^/atlassian/oauth/token$",
        list_fault="accessible-resources",
        pick_path="projects",
        next_url="onboarding:slack",
        options=6,
        authorize_query={
            "audience": ["api.atlassian.com"],
            "client_id": ["sandbox-jira-client-id"],
            "scope": ["read:jira-work offline_access"],
            "redirect_uri": [JIRA_CALLBACK],
            "response_type": ["code"],
            "prompt": ["consent"],
        },
        unknown_choice="That is not one of your Jira projects",
        prompt="Choose at least one project, or skip this step.",
        consent=lambda url, accept=True: consent_on_atlassian(url, accept=accept),
        revoke=lambda control: control.revoke_jira(),
        pick=_jira_pick,
        bad_pick=lambda control, page: {"site": _site_of(page), "projects": ["NOPE"]},
        no_pick=lambda page: {"site": _site_of(page)},
        counters=lambda control: control.jira_counters(),
    ),
    "slack": Driver(
        name="slack",
        label="Slack",
        vendor="Slack",
        authorize_path="/slack/oauth/v2/authorize?",
        exchange_endpoint="POST /slack/api/oauth.v2.access",
        exchange_fault="oauth.v2.access",
        list_fault="conversations.list",
        pick_path="channel",
        next_url="onboarding:complete",
        options=13,
        authorize_query={
            "client_id": ["sandbox-slack-client-id"],
            "scope": ["chat:write,channels:read"],
            "redirect_uri": [SLACK_CALLBACK],
        },
        unknown_choice="That channel cannot be used",
        prompt="Choose a channel, or skip this step.",
        consent=lambda url, accept=True: install_on_slack(url, allow=accept),
        revoke=lambda control: control.revoke_slack(),
        pick=_slack_pick,
        bad_pick=lambda control, page: {"channel": control.slack_channel_id("old-launch")},
        no_pick=lambda page: {},
        counters=lambda control: control.slack_counters(),
    ),
}


def connect_provider(driver: Driver, membership: Membership) -> Integration:
    """Connect the team to the provider as its admin would (consent, then the code)."""
    url = integrations.authorize_url(provider=driver.name, redirect_uri=driver.callback, state="s")
    code = code_of(driver.consent(url))
    return integrations.connect(
        provider=driver.name, membership=membership, code=code, redirect_uri=driver.callback
    )


def connect_jira(membership: Membership, *, site: str = "acme") -> Integration:
    """Connect the team to the sandbox Jira, granting ``site``."""
    url = integrations.authorize_url(provider="jira", redirect_uri=JIRA_CALLBACK, state="s")
    code = code_of(consent_on_atlassian(url, site=site))
    return integrations.connect(
        provider="jira", membership=membership, code=code, redirect_uri=JIRA_CALLBACK
    )


def connect_slack(membership: Membership, *, channel: str | None = "pr-notices") -> Integration:
    """Install the sandbox Slack app for the team and (optionally) choose a channel."""
    integration = connect_provider(DRIVERS["slack"], membership)
    if channel is None:
        return integration
    choices = integrations.choices(provider="slack", membership=membership, pick={})
    chosen = next(c for c in choices.channels if c.name == channel)
    return integrations.choose(provider="slack", membership=membership, pick={"channel": chosen.id})


def stored_columns(credential: IntegrationCredential) -> tuple[str, str | None]:
    """Return the access and refresh token columns exactly as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM sync_integrationcredential WHERE id = %s",
            [credential.pk],
        )
        row = cursor.fetchone()
    return row[0], row[1]
