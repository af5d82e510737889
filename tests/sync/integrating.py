"""Jira and Slack for tests: the project's settings pointed at the sandbox, and what a person
does on Atlassian's consent page and Slack's install page, over real HTTP.
The ``jira_sandbox`` and ``slack_sandbox`` fixtures live in tests/conftest.py.
"""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit

import requests
from django.db import connection

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
    base = authorize_url.split("?")[0]
    answer = requests.post(
        base,
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


def connect_jira(membership: Membership, *, site: str = "acme") -> Integration:
    """Connect the team to the sandbox Jira as its admin would (consent, then the code)."""
    url = integrations.jira_authorize_url(redirect_uri=JIRA_CALLBACK, state="s")
    code = code_of(consent_on_atlassian(url, site=site))
    return integrations.connect_jira(membership=membership, code=code, redirect_uri=JIRA_CALLBACK)


def connect_slack(membership: Membership, *, channel: str | None = "pr-notices") -> Integration:
    """Install the sandbox Slack app for the team and (optionally) choose a channel."""
    url = integrations.slack_authorize_url(redirect_uri=SLACK_CALLBACK, state="s")
    code = code_of(install_on_slack(url))
    integration = integrations.connect_slack(
        membership=membership, code=code, redirect_uri=SLACK_CALLBACK
    )
    if channel is None:
        return integration
    choices = integrations.slack_choices(membership=membership)
    chosen = next(c for c in choices.channels if c.name == channel)
    return integrations.choose_slack_channel(membership=membership, channel_id=chosen.id)


def stored_columns(credential: IntegrationCredential) -> tuple[str, str | None]:
    """Return the access and refresh token columns exactly as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM sync_integrationcredential WHERE id = %s",
            [credential.pk],
        )
        row = cursor.fetchone()
    return row[0], row[1]
