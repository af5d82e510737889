"""One factory for GitHub clients, typed answers, and domain exceptions for GitHub's failures."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from github import Auth, Github, GithubException
from github.GithubException import BadCredentialsException
from requests import RequestException


class GitHubError(Exception):
    """GitHub answered with something the sync cannot use."""


class BadCredentials(GitHubError):
    """The token was revoked or never valid (401)."""


class Transient(GitHubError):
    """A failure worth retrying: 5xx, a timeout, a dropped connection."""


@dataclass(frozen=True)
class Viewer:
    id: int
    login: str
    name: str
    avatar_url: str
    scopes: tuple[str, ...]


def make_github(token: str) -> Github:
    """Build a PyGithub client for ``token`` from settings (never sleeps on limits itself)."""
    return Github(
        base_url=settings.GITHUB_API_URL,
        auth=Auth.Token(token),
        per_page=100,
        timeout=int(settings.GITHUB_TIMEOUT),
        retry=None,
        seconds_between_requests=None,
    )


def get_viewer(token: str) -> Viewer:
    """Return the user ``token`` belongs to, with the scopes it carries."""
    try:
        headers, data = make_github(token).requester.requestJsonAndCheck("GET", "/user")
    except BadCredentialsException as error:
        raise BadCredentials("GitHub access was revoked: reconnect GitHub.") from error
    except GithubException as error:
        if error.status >= 500:
            raise Transient(f"GitHub answered {error.status}; try again shortly.") from error
        raise GitHubError(f"GitHub refused the request ({error.status}).") from error
    except RequestException as error:
        raise Transient("GitHub could not be reached; try again shortly.") from error
    scopes = tuple(s.strip() for s in headers.get("x-oauth-scopes", "").split(",") if s.strip())
    return Viewer(
        data["id"], data["login"], data.get("name") or "", data.get("avatar_url") or "", scopes
    )
