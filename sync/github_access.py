"""What the pages ask of GitHub, as services: connect, list organizations, check a membership.

Views call these and catch the domain exceptions re-exported here; they never import
``sync.github``, the one boundary where GitHub's answers and failures are translated.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from sync import accounts
from sync.github import oauth, orgs
from sync.github.client import Viewer
from sync.github.errors import (
    BadCredentials,
    GitHubError,
    NotFound,
    RateLimited,
    SecondaryRateLimited,
    SSORequired,
    Timeout,
    Transient,
)
from sync.github.oauth import BadVerificationCode, Grant, OAuthError
from sync.github.orgs import Organization, OrgMembership, OrgPage, PreflightFailed, Repository

__all__ = [
    "BadCredentials",
    "BadVerificationCode",
    "Connection",
    "GitHubError",
    "NotFound",
    "OAuthError",
    "OrgMembership",
    "OrgPage",
    "Organization",
    "PreflightFailed",
    "RateLimited",
    "Repository",
    "SSORequired",
    "SecondaryRateLimited",
    "Timeout",
    "Transient",
    "authorize_url",
    "connect",
    "get_org_membership",
    "list_organizations",
]


@dataclass(frozen=True)
class Connection:
    """What GitHub granted on the callback: the token and the user it belongs to."""

    grant: Grant
    viewer: Viewer


def authorize_url(*, redirect_uri: str, state: str, extra_scopes: tuple[str, ...] = ()) -> str:
    """Return GitHub's authorize page for this app, coming back to ``redirect_uri``."""
    return oauth.authorize_url(redirect_uri=redirect_uri, state=state, extra_scopes=extra_scopes)


def connect(*, code: str, redirect_uri: str) -> Connection:
    """Trade the callback's code for a token and check it is usable (pre-flight)."""
    grant = oauth.exchange_code(code=code, redirect_uri=redirect_uri)
    return Connection(grant, orgs.preflight(grant.access_token))


def list_organizations(*, user: User, page: int = 1) -> OrgPage:
    """Return one page of the user's GitHub organizations (NotConnected without a token)."""
    return orgs.list_user_orgs(accounts.get_github_token(user), page=page)


def get_org_membership(*, user: User, org_login: str) -> OrgMembership:
    """Return the user's membership of ``org_login``; NotFound when GitHub shows none."""
    return orgs.get_org_membership(accounts.get_github_token(user), org_login)
