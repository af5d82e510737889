"""Jira Cloud through Atlassian's OAuth 2.0 (3LO): the only module that talks to Atlassian.

Atlassian: https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/. Tokens come
from the authorization server (``JIRA_AUTH_URL``, https://auth.atlassian.com), data from the
API gateway (``JIRA_API_URL``, https://api.atlassian.com) under ``/ex/jira/{cloudid}``.
Answers are parsed here into typed objects and failures become the exceptions below. Nothing
in this module logs or formats a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from sync.fields import Secret
from sync.providers.base import Grant
from sync.providers.errors import AccessRevoked, BadCode, Misconfigured, ProviderError, Transient
from sync.providers.http import ProviderHttp, json_of

logger = logging.getLogger(__name__)

# Reading projects (and, later, issues), and a refresh token so the team's access outlives the
# hour an access token lasts.
SCOPES = ("read:jira-work", "offline_access")
AUDIENCE = "api.atlassian.com"
PROJECT_PAGE = 50  # Jira's default page size for project search
MAX_PROJECT_PAGES = 40


JiraError = ProviderError  # every failure below is one of sync.providers.errors' kinds


@dataclass(frozen=True)
class Site:
    """A Jira Cloud site the user granted the app (an accessible resource)."""

    id: str  # the cloud id
    name: str
    url: str
    scopes: tuple[str, ...]
    avatar_url: str


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str


class JiraClient(ProviderHttp):
    """Atlassian's authorize URL, token endpoint, accessible resources and project search."""

    vendor = "Atlassian"

    def __init__(self, *, auth_url: str, api_url: str, **app: Any) -> None:
        super().__init__(**app)
        self.auth_url = auth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Return Atlassian's consent page for our scopes."""
        query = {
            "audience": AUDIENCE,
            "client_id": self.client_id,
            "scope": " ".join(SCOPES),
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "prompt": "consent",
        }
        return f"{self.auth_url}/authorize?{urlencode(query)}"

    def exchange_code(self, *, code: str, redirect_uri: str) -> Grant:
        """Trade the callback's code for tokens; raise BadCode when Atlassian refuses it."""
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        return self._token(body, refused=BadCode("Atlassian did not accept the code."))

    def refresh(self, *, refresh_token: str) -> Grant:
        """Rotate the refresh token for a new pair; AccessRevoked when the grant is gone."""
        body = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self._token(body, refused=AccessRevoked("Jira access was revoked."))

    def accessible_sites(self, *, access_token: str) -> list[Site]:
        """Return the sites the user granted this app."""
        data = self._get("/oauth/token/accessible-resources", access_token)
        if not isinstance(data, list):
            raise Transient("Atlassian sent an unexpected list of sites.")
        try:
            return [
                Site(
                    id=str(item["id"]),
                    name=str(item["name"]),
                    url=str(item["url"]),
                    scopes=tuple(str(s) for s in item.get("scopes") or ()),
                    avatar_url=str(item.get("avatarUrl") or ""),
                )
                for item in data
            ]
        except (KeyError, TypeError, AttributeError):
            raise Transient("Atlassian sent an unexpected list of sites.") from None

    def list_projects(
        self, *, access_token: str, cloud_id: str, page_size: int = PROJECT_PAGE
    ) -> list[Project]:
        """Return every project of the site the user can browse, following the pages."""
        projects: list[Project] = []
        path = f"/ex/jira/{cloud_id}/rest/api/3/project/search"
        for _ in range(MAX_PROJECT_PAGES):
            params = {"startAt": len(projects), "maxResults": page_size, "orderBy": "key"}
            page = self._get(path, access_token, params)
            try:
                values = page["values"]
                projects += [Project(str(v["id"]), str(v["key"]), str(v["name"])) for v in values]
                if page.get("isLast", True) or not values:
                    break
            except (KeyError, TypeError):
                raise Transient("Jira sent an unexpected page of projects.") from None
        return projects

    # -- HTTP ------------------------------------------------------------------------------

    def _token(self, fields: dict[str, str], *, refused: JiraError) -> Grant:
        body = {"client_id": self.client_id, "client_secret": self.client_secret, **fields}
        response = self.send("POST", f"{self.auth_url}/oauth/token", json=body)
        data = json_of(response)
        if response.status_code in (401, 403) and isinstance(data, dict):
            error = str(data.get("error") or "")
            logger.info("Atlassian token endpoint refused: %s %s", response.status_code, error)
            if error in ("access_denied", "invalid_client", "unauthorized_client"):
                raise Misconfigured("Atlassian refused this service's Jira app credentials.")
            raise refused
        if response.status_code != 200 or not isinstance(data, dict):
            raise Transient(f"Atlassian answered {response.status_code}; try again shortly.")
        return _grant(data)

    def _get(self, path: str, access_token: str, params: dict[str, Any] | None = None) -> Any:
        response = self.send(
            "GET",
            f"{self.api_url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code == 401:
            raise AccessRevoked("Jira no longer accepts this access: connect Jira again.")
        if response.status_code in (403, 404):
            raise JiraError(f"Jira refused the request ({response.status_code}).")
        if response.status_code != 200:
            raise Transient(f"Jira answered {response.status_code}; try again shortly.")
        data = json_of(response)
        if data is None:
            raise Transient("Jira sent an answer that is not JSON; try again shortly.")
        return data


def make_client() -> JiraClient:
    """Build the Jira client from settings (URLs, app credentials, timeout)."""
    return JiraClient(
        auth_url=settings.JIRA_AUTH_URL,
        api_url=settings.JIRA_API_URL,
        client_id=settings.JIRA_CLIENT_ID,
        client_secret=settings.JIRA_CLIENT_SECRET,
        timeout=settings.JIRA_TIMEOUT,
    )


def _grant(data: dict[str, Any]) -> Grant:
    access = data.get("access_token")
    try:
        expires_in = int(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    if not isinstance(access, str) or not access or expires_in <= 0:
        raise Transient("Atlassian's answer carried no usable access token; try again shortly.")
    refresh = data.get("refresh_token")
    return Grant(
        access_token=Secret(access),
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        scopes=tuple(str(data.get("scope") or "").split()),
    )
