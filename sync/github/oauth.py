"""GitHub's OAuth web flow for an OAuth app: the authorize URL and the code exchange.

GitHub: https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps.
The exchange answers HTTP 200 even for errors, with an ``error`` field; each error becomes a
typed exception here. Nothing in this module logs or formats a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings

from sync.fields import Secret
from sync.github.client import GitHubError, Transient

logger = logging.getLogger(__name__)

# What the sync needs: private repositories and their pull requests (`repo`), the
# organizations and their members (`read:org`).
SCOPES = ("read:org", "repo")


class OAuthError(GitHubError):
    """GitHub refused the code exchange; ``code`` is GitHub's ``error`` value."""

    code = "oauth_error"


class BadVerificationCode(OAuthError):
    """The code was wrong, expired (10 minutes) or already used."""

    code = "bad_verification_code"


class IncorrectClientCredentials(OAuthError):
    """GITHUB_CLIENT_ID / GITHUB_CLIENT_SECRET do not match the OAuth app."""

    code = "incorrect_client_credentials"


class RedirectUriMismatch(OAuthError):
    """The callback URL is not the one registered for the OAuth app."""

    code = "redirect_uri_mismatch"


_ERRORS: dict[str, type[OAuthError]] = {
    cls.code: cls for cls in (BadVerificationCode, IncorrectClientCredentials, RedirectUriMismatch)
}


@dataclass(frozen=True)
class Grant:
    """An access token GitHub granted, with the scopes it says it granted."""

    access_token: Secret
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Grant(access_token=Secret('********'), scopes={self.scopes!r})"


def web_url() -> str:
    """Return GitHub's web root (OAuth pages live there, not under the API).

    ``GITHUB_WEB_URL`` when set; otherwise derived from ``GITHUB_API_URL``:
    ``https://api.github.com`` -> ``https://github.com``; ``http://host/api/v3`` (GitHub
    Enterprise Server, the sandbox) -> ``http://host``.
    """
    configured = getattr(settings, "GITHUB_WEB_URL", "")
    if configured:
        return str(configured).rstrip("/")
    api = urlsplit(settings.GITHUB_API_URL)
    if api.hostname == "api.github.com":
        return "https://github.com"
    return f"{api.scheme}://{api.netloc}"


def authorize_url(*, redirect_uri: str, state: str, extra_scopes: tuple[str, ...] = ()) -> str:
    """Return the GitHub page where the user approves the app (and any ``extra_scopes``).

    Asking again with more scopes is GitHub's incremental authorization: the new token
    carries the union, and the page names only what is new.
    """
    query = {
        "client_id": settings.GITHUB_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": " ".join(SCOPES + extra_scopes),
        "state": state,
        "allow_signup": "true",
    }
    return f"{web_url()}/login/oauth/authorize?{urlencode(query)}"


def exchange_code(*, code: str, redirect_uri: str) -> Grant:
    """Trade the callback's ``code`` for an access token, or raise a typed OAuthError."""
    try:
        response = requests.post(
            f"{web_url()}/login/oauth/access_token",
            data={
                "client_id": settings.GITHUB_CLIENT_ID,
                "client_secret": settings.GITHUB_CLIENT_SECRET,
                "code": code,
                "redirect_uri": redirect_uri,
            },
            headers={"Accept": "application/json"},
            timeout=settings.GITHUB_TIMEOUT,
        )
    except requests.RequestException as error:
        logger.warning("GitHub token exchange failed: %s", type(error).__name__)
        raise Transient("GitHub could not be reached; try again shortly.") from None
    if response.status_code >= 500:
        raise Transient(f"GitHub answered {response.status_code}; try again shortly.")
    try:
        data = response.json()
    except ValueError:
        raise Transient("GitHub sent an answer that is not JSON; try again shortly.") from None
    if not isinstance(data, dict):
        raise Transient("GitHub sent an unexpected answer; try again shortly.")
    if data.get("error"):
        error_code = str(data["error"])
        logger.info("GitHub token exchange refused: %s", error_code)
        raise _ERRORS.get(error_code, OAuthError)(error_code)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise Transient("GitHub's answer carried no access token; try again shortly.")
    raw_scopes = str(data.get("scope") or "")
    scopes = tuple(s.strip() for s in raw_scopes.replace(" ", ",").split(",") if s.strip())
    return Grant(Secret(token), scopes)
