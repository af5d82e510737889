"""What onboarding asks GitHub: the pre-flight, the user's organizations, their repositories.

Every request but the pre-flight goes through the sync's own transport
(:class:`sync.github.client.Session`: the rate-limit gate and the one error translator), so
onboarding and the import share one budget and one set of domain exceptions. Answers are parsed
here into typed objects. No token is ever logged or formatted.
"""

from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from django.conf import settings

from sync.github.client import GitHubError, Session, Transient, Viewer, token_key
from sync.github.errors import NotFound
from sync.github.ratelimit import remember_owner

logger = logging.getLogger(__name__)

# The pre-flight must answer within 5 s, whatever GITHUB_TIMEOUT says.
PREFLIGHT_TIMEOUT_S = 4.0
ORGS_PER_PAGE = 100
REPOS_PER_PAGE = 100  # GitHub's maximum
PAGE_CONCURRENCY = 4
# GitHub: a scope implies the narrower ones below it.
# https://docs.github.com/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps
REQUIRED_SCOPES: dict[str, frozenset[str]] = {
    "read:org": frozenset({"read:org", "write:org", "admin:org"}),
    "repo": frozenset({"repo"}),
}
SCOPE_REASONS = {
    "read:org": "your organizations and their members cannot be listed",
    "repo": "private repositories and their pull requests cannot be read",
}


class PreflightFailed(GitHubError):
    """The token cannot be used for onboarding: ``problem`` says why, ``fix`` what to do."""

    def __init__(self, code: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.code = code
        self.problem = problem
        self.fix = fix


@dataclass(frozen=True)
class Organization:
    id: int
    login: str
    description: str
    avatar_url: str


@dataclass(frozen=True)
class OrgPage:
    organizations: list[Organization]
    page: int
    next_page: int | None
    prev_page: int | None


@dataclass(frozen=True)
class OrgMembership:
    organization: Organization
    role: str  # "admin" or "member"
    state: str  # "active" or "pending"


@dataclass(frozen=True)
class Repository:
    id: int
    name: str
    full_name: str
    private: bool
    archived: bool
    fork: bool
    pushed_at: datetime | None
    description: str


# -- pre-flight --------------------------------------------------------------------------------


def preflight(token: str) -> Viewer:
    """Check in one request that ``token`` works and carries ``read:org repo``; return its user.

    Raises PreflightFailed with the exact problem and its fix.
    """
    timeout = min(float(settings.GITHUB_TIMEOUT), PREFLIGHT_TIMEOUT_S)
    try:
        response = requests.get(
            f"{settings.GITHUB_API_URL.rstrip('/')}/user",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=timeout,
        )
    except requests.Timeout:
        raise PreflightFailed(
            "timeout",
            f"GitHub did not answer within {timeout:g} seconds.",
            "Try again in a moment; if it keeps happening, check https://www.githubstatus.com.",
        ) from None
    except requests.RequestException:
        raise PreflightFailed(
            "unreachable",
            "GitHub could not be reached.",
            "Try again in a moment; if it keeps happening, check https://www.githubstatus.com.",
        ) from None
    _check_preflight_status(response)
    try:
        data = response.json()
        viewer = Viewer(
            int(data["id"]),
            str(data["login"]),
            str(data.get("name") or ""),
            str(data.get("avatar_url") or ""),
            parse_scopes(response.headers.get("x-oauth-scopes", "")),
        )
    except (ValueError, KeyError, TypeError):
        raise PreflightFailed(
            "malformed",
            "GitHub sent an answer we could not read.",
            "Try again in a moment.",
        ) from None
    _check_scopes(viewer.scopes)
    remember_owner(token_key(token), viewer.id)  # gate this token with its user's others
    return viewer


def parse_scopes(header: str) -> tuple[str, ...]:
    """Split GitHub's ``x-oauth-scopes`` header ("repo, read:org") into scopes."""
    return tuple(s.strip() for s in header.split(",") if s.strip())


def missing_scopes(granted: tuple[str, ...]) -> list[str]:
    """Return the required scopes that ``granted`` does not cover, in a stable order."""
    have = set(granted)
    return [scope for scope, covering in REQUIRED_SCOPES.items() if not have & covering]


def _check_preflight_status(response: requests.Response) -> None:
    status = response.status_code
    if status == 401:
        raise PreflightFailed(
            "bad_token",
            "GitHub did not accept the access token: it was revoked or has expired.",
            "Connect GitHub again.",
        )
    if status in (403, 429) and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    ):
        reset = _reset_at(response.headers)
        until = f" until {reset:%H:%M} UTC" if reset else ""
        raise PreflightFailed(
            "rate_limited",
            f"Your GitHub API rate limit is used up{until}.",
            "Try again after that; other tools using your GitHub account share this limit.",
        )
    if status >= 500:
        raise PreflightFailed(
            "github_error",
            f"GitHub answered with an error ({status}).",
            "Try again in a moment; if it keeps happening, check https://www.githubstatus.com.",
        )
    if status != 200:
        raise PreflightFailed(
            "refused",
            f"GitHub refused to tell us who the token belongs to ({status}).",
            "Connect GitHub again.",
        )


def _check_scopes(granted: tuple[str, ...]) -> None:
    missing = missing_scopes(granted)
    if not missing:
        return
    problem = " ".join(
        f"The `{scope}` scope is missing, so {SCOPE_REASONS[scope]}." for scope in missing
    )
    raise PreflightFailed(
        "missing_scopes",
        problem,
        "Connect GitHub again and approve all the access GitHub asks for "
        f"(`{' '.join(REQUIRED_SCOPES)}`).",
    )


# -- organizations -----------------------------------------------------------------------------


def list_user_orgs(token: str, *, page: int = 1) -> OrgPage:
    """Return one page of the organizations the token's user belongs to."""
    headers, data = _get(token, "/user/orgs", {"per_page": ORGS_PER_PAGE, "page": page})
    try:
        organizations = [_organization(item) for item in _list(data)]
    except (KeyError, TypeError, ValueError) as error:
        raise GitHubError("GitHub sent an organization we could not read.") from error
    links = parse_link_header(headers.get("link", ""))
    return OrgPage(organizations, page, _page_of(links.get("next")), _page_of(links.get("prev")))


def get_org_membership(token: str, org_login: str) -> OrgMembership:
    """Return the token's user's membership in ``org_login``; NotFound when not a member."""
    if not _LOGIN.fullmatch(org_login):
        raise NotFound(f"{org_login!r} is not an organization name.")
    _, data = _get(token, f"/user/memberships/orgs/{org_login}", {})
    try:
        return OrgMembership(
            _organization(data["organization"]), str(data["role"]), str(data["state"])
        )
    except (KeyError, TypeError) as error:
        raise GitHubError("GitHub sent a membership we could not read.") from error


def list_org_repos(token: str, org_login: str) -> list[Repository]:
    """Return every repository of ``org_login`` the token can see, most recently pushed first.

    The first page says how many pages there are (Link ``rel="last"``); the others are then
    fetched ``PAGE_CONCURRENCY`` at a time, far under GitHub's 100 concurrent requests per
    token, so 2,000 repositories take a few round trips instead of twenty.
    """
    if not _LOGIN.fullmatch(org_login):
        raise NotFound(f"{org_login!r} is not an organization name.")
    params = {"type": "all", "sort": "pushed", "direction": "desc", "per_page": REPOS_PER_PAGE}
    headers, data = _get(token, f"/orgs/{org_login}/repos", params)
    repositories = _parse_repositories(data)
    links = parse_link_header(headers.get("link", ""))
    last = _page_of(links.get("last"))
    if last and links.get("next"):
        urls = [_with_page(links["last"], page) for page in range(2, last + 1)]
        for page in _fetch_pages(token, urls):
            repositories.extend(page)
    else:
        url = links.get("next", "")
        while url:  # no "last" link: follow "next" one page at a time
            headers, data = _get(token, url, {})
            repositories.extend(_parse_repositories(data))
            url = parse_link_header(headers.get("link", "")).get("next", "")
    logger.info("listed org repos org=%s repos=%s pages=%s", org_login, len(repositories), last)
    unique = {repository.id: repository for repository in repositories}  # pages may shift
    return sorted(unique.values(), key=_activity, reverse=True)


def _fetch_pages(token: str, urls: list[str]) -> list[list[Repository]]:
    local = threading.local()

    def fetch(url: str) -> list[Repository]:
        if not hasattr(local, "session"):
            local.session = Session(token)  # one keep-alive connection per thread
        _, data = _get(token, url, {}, session=local.session)
        return _parse_repositories(data)

    with ThreadPoolExecutor(PAGE_CONCURRENCY, thread_name_prefix="github-pages") as pool:
        return list(pool.map(fetch, urls))


def _with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("page", str(page))])))


# -- parsing -----------------------------------------------------------------------------------

_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_LINK = re.compile(r'<([^>]+)>;\s*rel="([^"]+)"')
_EPOCH = datetime.min.replace(tzinfo=UTC)


def parse_link_header(header: str) -> dict[str, str]:
    """Parse GitHub's ``Link`` header into ``{rel: url}``."""
    return {rel: url for url, rel in _LINK.findall(header or "")}


def _page_of(url: str | None) -> int | None:
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get("page")
    return int(values[0]) if values and values[0].isdigit() else None


def _list(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise GitHubError("GitHub sent something other than a list.")
    return [item for item in data if isinstance(item, dict)]


def _organization(item: dict[str, Any]) -> Organization:
    return Organization(
        int(item["id"]),
        str(item["login"]),
        str(item.get("description") or ""),
        str(item.get("avatar_url") or ""),
    )


def _parse_repositories(data: Any) -> list[Repository]:
    repositories = []
    for item in _list(data):
        try:
            repositories.append(_repository(item))
        except (KeyError, TypeError, ValueError):
            # One unreadable repository must not hide the others: skip it, say so.
            logger.warning("skipped a repository GitHub sent that we could not read")
    return repositories


def _repository(item: dict[str, Any]) -> Repository:
    pushed = item.get("pushed_at")
    return Repository(
        int(item["id"]),
        str(item["name"]),
        str(item["full_name"]),
        bool(item.get("private")),
        bool(item.get("archived")),
        bool(item.get("fork")),
        datetime.fromisoformat(pushed) if pushed else None,
        str(item.get("description") or ""),
    )


def _activity(repository: Repository) -> tuple[datetime, int]:
    return (repository.pushed_at or _EPOCH, repository.id)


def _reset_at(headers: Any) -> datetime | None:
    value = headers.get("x-ratelimit-reset")
    if value and str(value).isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    return None


# -- transport: the sync's own, through the rate-limit gate -----------------------------------


def _get(
    token: str, url: str, params: dict[str, Any], *, session: Session | None = None
) -> tuple[dict[str, Any], Any]:
    try:
        return (session or Session(token)).rest_get(url, params or None)
    except GitHubError:
        raise
    except ValueError:  # the body is not JSON
        raise Transient("GitHub sent an answer that is not JSON; try again shortly.") from None
