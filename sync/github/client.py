"""One factory for GitHub clients, typed answers, and domain exceptions for GitHub's failures.

Every request of the sync goes through :class:`Session`: PyGithub's requester (retry=None, no
sleeping), behind the cross-process gate of :mod:`sync.github.ratelimit`, with GitHub's errors
turned into the exceptions below at this boundary.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from github import Auth, Github, GithubException
from github.GithubException import BadCredentialsException
from requests import RequestException
from requests import Timeout as RequestTimeout

from sync.github.errors import (
    BadCredentials,
    Busy,
    GitHubError,
    NotFound,
    RateLimited,
    RepositoryGone,
    RepositoryUnavailable,
    SecondaryRateLimited,
    SSORequired,
    Timeout,
    Transient,
)
from sync.github.ratelimit import Budget, Gate, gate_key, remember_owner

__all__ = [
    "BadCredentials",
    "Busy",
    "GitHubError",
    "NotFound",
    "RateLimited",
    "RepositoryGone",
    "RepositoryUnavailable",
    "SSORequired",
    "SecondaryRateLimited",
    "Session",
    "Timeout",
    "Transient",
    "Viewer",
    "get_viewer",
    "make_github",
]


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
        # PyGithub takes whole seconds; int() made a sub-second setting 0, which requests
        # refuses on every call, so round up instead.
        timeout=max(1, math.ceil(float(settings.GITHUB_TIMEOUT))),
        retry=None,
        seconds_between_requests=None,
        # PyGithub waits 1 s before every POST by default, GraphQL queries included.
        seconds_between_writes=None,
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
    remember_owner(token_key(token), int(data["id"]))
    return Viewer(
        data["id"], data["login"], data.get("name") or "", data.get("avatar_url") or "", scopes
    )


def token_key(token: str) -> str:
    """Return a stable, non-reversible name for ``token`` (Redis keys, logs)."""
    return hashlib.sha256(token.encode()).hexdigest()[:20]


class Session:
    """One user's access to GitHub: gated, budget-aware, with typed failures.

    The gate is keyed by the GitHub user id when known (GitHub's budgets and concurrency are
    the user's, shared by all their tokens), else by the token.
    """

    def __init__(self, token: str, *, user_id: int | None = None) -> None:
        self.github = _github_for(token)
        if user_id is not None:
            remember_owner(token_key(token), user_id)
        self.gate = Gate(gate_key(token_key(token), user_id))
        self.requests = 0
        self.points = 0  # rate-limit points spent: GraphQL cost plus one per REST request

    def graphql(
        self, query: str, variables: dict[str, Any], *, cost: int = 1, partial: bool = False
    ) -> dict[str, Any]:
        """Run ``query``; return its ``data``. Raise RateLimited before spending a spent budget.

        ``partial``: a query of many aliased objects answers the ones GitHub no longer has with
        null (and a NOT_FOUND error naming them) instead of raising RepositoryGone.
        """
        self.gate.check_budget("graphql", cost)
        requester = self.github.requester
        body = {"query": query, "variables": variables}
        headers, payload = self._request("POST", requester.graphql_url, input=body, graphql=True)
        if not isinstance(payload, dict):
            raise Transient("GitHub sent a GraphQL answer that is not an object.")
        _raise_for_graphql_errors(headers, payload, self.gate, partial=partial)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise Transient("GitHub sent a GraphQL answer without data.")
        limit = data.get("rateLimit")
        if isinstance(limit, dict):
            budget = _budget_from_graphql(limit)
            self.gate.record(budget)
            self.points += budget.cost
        return data

    def rest_get(
        self, url: str, params: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """GET one REST resource (a path or a full URL); return its headers and parsed body."""
        self.gate.check_budget("core", 1)
        answer = self._request("GET", url, parameters=params or None)
        self.points += 1
        return answer

    def rest_post(
        self, path: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """POST to one REST resource; return its headers and parsed body."""
        self.gate.check_budget("core", 1)
        answer = self._request("POST", path, input=body)
        self.points += 1
        return answer

    def rest_get_if_changed(
        self, url: str, params: dict[str, Any] | None, *, etag: str
    ) -> tuple[str, Any] | None:
        """GET ``url`` unless it still matches ``etag``: None for GitHub's 304 (free), else the
        answer's ETag and parsed body."""
        # GitHub: https://docs.github.com/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
        self.gate.check_budget("core", 1)
        headers, data = self._request(
            "GET", url, parameters=params or None, headers={"If-None-Match": etag} if etag else {}
        )
        if data is None:  # 304 Not Modified: no body, and GitHub does not charge it
            return None
        self.points += 1
        return str(headers.get("etag") or ""), data

    def rest_pages(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Yield each page of a REST list, following GitHub's Link header."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": 100, **params}
        while url:
            self.gate.check_budget("core", 1)
            headers, data = self._request("GET", url, parameters=query)
            self.points += 1
            if not isinstance(data, list):
                raise Transient(f"GitHub sent a list page of {path} that is not a list.")
            yield data
            url, query = _next_link(headers.get("link", "")), None

    def _request(
        self, verb: str, url: str, *, graphql: bool = False, **kwargs: Any
    ) -> tuple[dict[str, Any], Any]:
        requester = self.github.requester
        self.requests += 1
        try:
            with self.gate.slot():
                headers, data = requester.requestJsonAndCheck(verb, url, **kwargs)
        except GithubException as error:
            raise translate(error, self.gate, graphql=graphql) from error
        except RequestTimeout as error:
            raise Timeout("GitHub did not answer in time") from error
        except RequestException as error:
            raise Transient(f"GitHub could not be reached ({type(error).__name__})") from error
        except json.JSONDecodeError as error:
            raise Transient("GitHub sent a body that is not valid JSON.") from error
        budget = _budget_from_headers(headers)
        if budget is not None:
            self.gate.record(budget)
        return headers, data


# -- errors --------------------------------------------------------------------------------------


def translate(error: GithubException, gate: Gate | None, *, graphql: bool = False) -> GitHubError:
    """Map an HTTP error to the domain: who can fix it, and whether waiting helps.

    The one translator of GitHub's failures, for onboarding and the sync alike.
    """
    status, headers = error.status, {k.lower(): v for k, v in (error.headers or {}).items()}
    message = _message(error.data)
    budget = _budget_from_headers(headers)
    if budget is not None and gate is not None:
        gate.record(budget)
    if status == 401:
        return BadCredentials("GitHub access was revoked: reconnect")
    if status in (403, 429) and "x-github-sso" in headers:
        return SSORequired(
            "Your organization requires SAML single sign-on: authorize the GitHub app for it"
        )
    # GitHub: a secondary limit sends retry-after (wait that long) or x-ratelimit-remaining 0
    # (wait for the reset); a spent primary budget sends the latter alone.
    # https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
    if status in (403, 429) and "retry-after" in headers:
        retry_after = _seconds(headers["retry-after"])
        return SecondaryRateLimited(
            "GitHub's secondary rate limit was hit", retry_after=retry_after
        )
    if status in (403, 429) and (budget is not None and budget.remaining == 0):
        if "secondary" in message.lower():
            wait = (budget.reset_at - timezone.now()).total_seconds()
            return SecondaryRateLimited(
                "GitHub's secondary rate limit was hit", retry_after=max(1.0, wait)
            )
        return RateLimited(message, resource=budget.resource, reset_at=budget.reset_at)
    if status in (403, 429) and "secondary" in message.lower():
        return SecondaryRateLimited("GitHub's secondary rate limit was hit", retry_after=60)
    if status == 429:
        return SecondaryRateLimited("GitHub asked us to slow down", retry_after=60)
    if status in (404, 410):
        return RepositoryGone("The repository is gone or no longer visible to this token")
    if graphql and (status in (502, 504) or _timed_out(error.data)):
        return Timeout(f"GitHub gave up on the query ({status}): ask for less")
    if status >= 500:
        return Transient(f"GitHub answered {status}")
    return GitHubError(f"GitHub refused the request ({status}: {message[:200]})")


def _raise_for_graphql_errors(
    headers: dict[str, Any], payload: dict[str, Any], gate: Gate, *, partial: bool = False
) -> None:
    """Raise for the errors GitHub reports inside a 200 GraphQL answer."""
    errors = payload.get("errors")
    if not errors:
        return
    kinds = {str(e.get("type", "")) for e in errors if isinstance(e, dict)}
    text = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))[:300]
    if kinds & RATE_LIMIT_TYPES:
        budget = _budget_from_headers(headers)
        reset_at = budget.reset_at if budget else gate.known_reset("graphql")
        gate.record(Budget("graphql", budget.limit if budget else 0, 0, reset_at, 0))
        raise RateLimited(text, resource="graphql", reset_at=reset_at)
    if "x-github-sso" in {k.lower() for k in headers} or "FORBIDDEN" in kinds:
        raise SSORequired(
            "Your organization requires SAML single sign-on: authorize the GitHub app for it"
        )
    if "NOT_FOUND" in kinds and not (partial and isinstance(payload.get("data"), dict)):
        raise RepositoryGone("The repository is gone or no longer visible to this token")
    if payload.get("data") is None and _timed_out(payload):
        raise Timeout("GitHub gave up on the query after its time limit: ask for less")
    if payload.get("data") is None:
        raise GitHubError(f"GitHub refused the query: {text}")


# GitHub: the GraphQL rate-limit error is typed RATE_LIMITED (documented) or, since early 2026,
# RATE_LIMIT (githubkit #271, octokit/plugin-throttling.js #824).
RATE_LIMIT_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})
# GitHub's words when it stops a GraphQL query after 10 s (HTTP 200 or 502, data: null).
TIMEOUT_WORDS = "may be the result of a timeout"


def _timed_out(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    errors = data.get("errors")
    messages = [str(e.get("message", "")) for e in errors or [] if isinstance(e, dict)]
    return any(TIMEOUT_WORDS in message for message in messages)


def _seconds(value: Any) -> float:
    try:
        return max(1.0, float(value))
    except (TypeError, ValueError):
        return 60.0


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("message") or "")
    return ""


# -- budgets -------------------------------------------------------------------------------------


def _budget_from_headers(headers: dict[str, Any]) -> Budget | None:
    # GitHub: https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
    try:
        remaining = int(float(headers["x-ratelimit-remaining"]))
        limit = int(float(headers.get("x-ratelimit-limit", 0)))
        reset = datetime.fromtimestamp(int(float(headers["x-ratelimit-reset"])), UTC)
    except (KeyError, ValueError):
        return None
    resource = str(headers.get("x-ratelimit-resource") or "core")
    return Budget(resource, limit, remaining, reset, 0)


def _budget_from_graphql(limit: dict[str, Any]) -> Budget:
    reset_at = parse_time(limit.get("resetAt")) or timezone.now() + timedelta(hours=1)
    return Budget(
        "graphql",
        int(limit.get("limit") or 0),
        int(limit.get("remaining") or 0),
        reset_at,
        int(limit.get("cost") or 0),
    )


def parse_time(value: object) -> datetime | None:
    """Parse GitHub's ISO 8601 timestamps ("2024-05-01T12:00:00Z"); None stays None."""
    if not value:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    return datetime.fromisoformat(value)


def _next_link(link: str) -> str | None:
    # GitHub: <https://api.github.com/...&page=2>; rel="next", <...>; rel="last"
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().strip("<>")
    return None


# -- one PyGithub client per token and thread, so keep-alive connections are reused --------------

_local = threading.local()
_CLIENTS_PER_THREAD = 8


def _github_for(token: str) -> Github:
    clients: dict[tuple[str, str], tuple[Github, float]] = _local.__dict__.setdefault("clients", {})
    key = (token_key(token), settings.GITHUB_API_URL)
    found = clients.get(key)
    if found is None:
        if len(clients) >= _CLIENTS_PER_THREAD:
            oldest = min(clients, key=lambda k: clients[k][1])
            clients.pop(oldest)[0].close()
        found = (make_github(token), time.monotonic())
    clients[key] = (found[0], time.monotonic())
    return found[0]
