"""The sandbox's HTTP server: one threaded stdlib server, a list of services mounted by prefix.

GitHub (``/api/``, ``/login/``), Jira (``/atlassian/``, ``/atlassian-api/``), Slack
(``/slack/``) and the control API (``/_sandbox/``) are services, each a ``Service(prefix,
handle)`` entry. Each request runs in its own thread (``ThreadingHTTPServer``), so concurrent
clients overlap in the latency model exactly as they would against GitHub. HTTP/1.1
keep-alive with Content-Length on every answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast
from urllib.parse import parse_qsl, urlsplit

from sandbox.github import payloads, rest
from sandbox.github.limits import Budget, Clock, Fault, Limits
from sandbox.github.world import Sizes, Token, World

logger = logging.getLogger(__name__)


# -- HTTP primitives -------------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    method: str
    path: str
    args: list[tuple[str, str]]
    headers: Message
    body: bytes
    client: str
    host: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = [v for k, v in self.args if k == name]
        return values[-1] if values else default

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def json(self) -> object:
        """Parse the body as JSON; raise ValueError when it is not."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """Parse a JSON or form-encoded body (plus query arguments) into one flat dict."""
        fields = dict(self.args)
        if "json" in self.header("Content-Type"):
            data = self.json()
            if isinstance(data, dict):
                fields.update({k: str(v) for k, v in data.items() if v is not None})
            return fields
        fields.update(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return fields


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(data, separators=(",", ":")).encode()
        content = {"Content-Type": "application/json; charset=utf-8"}
        return cls(status, body, content | (headers or {}))

    @classmethod
    def html(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location, "Content-Type": "text/html; charset=utf-8"})


@dataclass(frozen=True, slots=True)
class Service:
    prefix: str
    handle: Callable[[Request], Response]


# -- configuration and state ------------------------------------------------------------------

DEFAULT_CALLBACK_URL = "http://127.0.0.1:8000/onboarding/github/callback/"  # `make run`


@dataclass(frozen=True, slots=True)
class Config:
    seed: int = 1
    sizes: Sizes = field(default_factory=Sizes)
    latency_ms: float = 0.0
    per_node_ms: float = 0.0
    rest_budget: int = 5000
    graphql_budget: int = 5000
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"  # noqa: S105 - the sandbox's published default
    app_name: str = "Sandbox OAuth App"
    # GitHub checks every redirect_uri against the OAuth app's callback URL: so does the sandbox.
    callback_url: str | None = DEFAULT_CALLBACK_URL
    # The Jira and Slack stand-ins' OAuth apps (project.settings uses the same defaults).
    jira_client_id: str = "sandbox-jira-client-id"
    jira_client_secret: str = "sandbox-jira-client-secret"  # noqa: S105
    slack_client_id: str = "sandbox-slack-client-id"
    slack_client_secret: str = "sandbox-slack-client-secret"  # noqa: S105


class Sandbox:
    """Everything one running sandbox holds; ``reset`` rebuilds it from the same config."""

    def __init__(self, config: Config, world: World | None = None) -> None:
        self.config = config
        self.generation = 0
        self.reset(world)

    def reset(self, world: World | None = None) -> None:
        """Start over: a fresh world, budgets, counters, faults, codes and clock."""
        from sandbox.github.hooks import Hooks
        from sandbox.github.oauth import OAuth, OAuthApp
        from sandbox.jira.world import Jira
        from sandbox.slack.world import Slack

        config = self.config
        previous: Hooks | None = getattr(self, "hooks", None)
        if previous is not None:
            previous.shutdown()
        # Organization webhooks belong to the world: a fresh world has none.
        self.hooks = Hooks(seed=config.seed)
        self.clock = Clock()
        self.world = world or World(seed=config.seed, sizes=config.sizes)
        self.generation += 1
        if self.generation > 1:
            # Tokens of an earlier world must not come back to life after a reset.
            self.world.token_salt = f"{config.seed}.{self.generation}"
        self.limits = Limits(
            seed=config.seed,
            rest_budget=config.rest_budget,
            graphql_budget=config.graphql_budget,
            latency_ms=config.latency_ms,
            per_node_ms=config.per_node_ms,
            clock=self.clock,
        )
        app = OAuthApp(config.client_id, config.client_secret, config.app_name, config.callback_url)
        self.oauth = OAuth(app, self.world, self.clock)
        self.jira = Jira(
            seed=config.seed,
            clock=self.clock,
            client_id=config.jira_client_id,
            client_secret=config.jira_client_secret,
        )
        self.slack = Slack(
            seed=config.seed,
            clock=self.clock,
            client_id=config.slack_client_id,
            client_secret=config.slack_client_secret,
        )


def services(sandbox: Sandbox) -> list[Service]:
    """Return the services mounted on the server, longest prefix first."""
    from sandbox.control import ControlService
    from sandbox.github import avatars
    from sandbox.jira.service import JiraService
    from sandbox.slack.service import SlackService

    github = GitHubService(sandbox)
    control = ControlService(sandbox)
    jira = JiraService(sandbox)
    slack = SlackService(sandbox)
    mounted = [
        Service("/api/", github.handle),
        Service("/login/", github.handle),
        Service("/avatars/", avatars.handle),
        Service("/_sandbox/", control.handle),
        Service("/atlassian/", jira.handle),
        Service("/atlassian-api/", jira.handle),
        Service("/_sandbox/jira/", jira.control),
        Service("/slack/", slack.handle),
        Service("/_sandbox/slack/", slack.control),
    ]
    return sorted(mounted, key=lambda s: len(s.prefix), reverse=True)


# -- GitHub ----------------------------------------------------------------------------------

_RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
_SECONDARY_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
_SSO_DOCS = "https://docs.github.com/articles/authenticating-to-a-github-organization-with-saml-single-sign-on/"
_GRAPHQL_DOCS = "https://docs.github.com/graphql"
# GitHub's words for a GraphQL query stopped after 10 s.
_QUERY_TIMEOUT = (
    "Something went wrong while executing your query. This may be the result of a timeout, or "
    "it could be a GitHub bug. Please include `{}` when reporting this issue."
)
_GATEWAY_TIMEOUT = (
    "We couldn't respond to your request in time. Sorry about that. Please try resubmitting "
    "your request and contact us if the problem persists."
)
_IDENTITY_KEYS = ("id", "node_id", "number", "sha", "databaseId")


@dataclass(slots=True)
class _Reply:
    response: Response
    endpoint: str
    nodes: int = 0
    points: int = 0


class GitHubService:
    """GitHub on one host: REST at ``/api/v3``, GraphQL at ``/api/graphql``, OAuth at ``/login/``.

    Order per API request, as on GitHub: faults (the network's and the edge's), credentials,
    secondary limits, the primary budget, then the answer; 304 answers give their point back.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, request: Request) -> Response:
        """Answer one GitHub request, then record it in the counters."""
        limits = self.sandbox.limits
        if request.path.startswith("/login/"):
            reply = self._oauth(request)
            limits.record(
                endpoint=reply.endpoint, token=None, login=None, status=reply.response.status
            )
            return reply.response
        token, problem = self._authenticate(request)
        subject = self._subject(token, request)
        keys = (token.value, subject) if token else (subject,)
        with limits.in_flight(keys):
            reply = self._api(request, token, subject, problem)
            # GitHub: https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
            # (the sandbox's latency model: fixed cost plus a cost per node returned)
            time.sleep(limits.latency_s(reply.nodes))
        login = token.login if token else None
        limits.record(
            endpoint=reply.endpoint,
            token=token.value if token else None,
            login=login,
            status=reply.response.status,
            points=reply.points,
        )
        return reply.response

    # -- credentials and budgets ------------------------------------------------------------

    def _authenticate(self, request: Request) -> tuple[Token | None, Response | None]:
        header = request.header("Authorization").strip()
        if not header:
            return None, None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value).decode().partition(":")[2]
            except ValueError:
                value = ""
        token = self.sandbox.world.token(value.strip())
        if token is None:
            return None, Response.json(401, _error_body(401, "Bad credentials", rest.DOCS))
        return token, None

    def _subject(self, token: Token | None, request: Request) -> str:
        # GitHub: budgets belong to the user, shared by all of that user's tokens.
        account = self.sandbox.world.account(token.login) if token else None
        return f"user:{account.id}" if account else f"ip:{request.client}"

    def _limited(self, request: Request, subject: str, resource: str) -> Response:
        self.sandbox.limits.note_rate_limited()
        budget = self.sandbox.limits.budget(subject, resource)
        request_id = _request_id()
        if subject.startswith("ip:"):
            who = (
                f"{request.client}. (But here's the good news: Authenticated requests get a "
                "higher rate limit. Check out the documentation for more details.)"
            )
        else:
            who = f"user ID {subject.removeprefix('user:')}."
        if resource == "graphql":
            # GitHub answers a spent GraphQL budget with 200 and an error list whose type is
            # RATE_LIMITED as documented, or RATE_LIMIT (seen since 2026); the control API
            # chooses which, and sandbox.github.graphql uses the same body.
            message = f"API rate limit already exceeded for {who}"
            kind = self.sandbox.limits.rate_limit_type
            error = {"type": kind, "code": "graphql_rate_limit", "message": message}
            body: dict[str, object] = {"errors": [error]}
            return Response.json(200, body, _rate_headers(budget, resource))
        message = (
            f"API rate limit exceeded for {who} If you reach out to GitHub Support for help, "
            f"please include the request ID {request_id} and timestamp "
            f"{_timestamp(self.sandbox.clock)}."
        )
        headers = _rate_headers(budget, resource) | {"X-GitHub-Request-Id": request_id}
        return Response.json(403, _error_body(403, message, _RATE_DOCS), headers)

    # -- API ----------------------------------------------------------------------------

    def _api(
        self, request: Request, token: Token | None, subject: str, problem: Response | None
    ) -> _Reply:
        resource = "graphql" if request.path == "/api/graphql" else "core"
        endpoint = self._endpoint(request)
        fault = self.sandbox.limits.fault_for(request.method, request.path)
        if fault and fault.kind == "delay":
            time.sleep(fault.delay_s)
        if fault and fault.kind == "timeout" and resource != "graphql":
            reply = _Reply(self._timed_out(fault.shape, request), endpoint)
        elif fault and fault.kind in ("status", "secondary_limit", "sso"):
            if fault.kind == "secondary_limit":
                self.sandbox.limits.note_secondary()
            reply = _Reply(self._fault_response(fault, request, subject, resource), endpoint)
        elif problem is not None:
            reply = _Reply(problem, endpoint)
        elif resource == "graphql":
            forced = fault.shape if fault and fault.kind == "timeout" else None
            reply = self._graphql(request, token, subject, forced)
        elif request.path.startswith("/api/v3/"):
            reply = self._rest(request, token, subject)
        else:
            reply = _Reply(Response.json(404, _error_body(404, "Not Found", rest.DOCS)), endpoint)
        if fault and reply.response.status == 200:
            _corrupt(reply.response, fault.kind)
        # GitHub sends the x-ratelimit-* headers on every API answer, errors included.
        budget = self.sandbox.limits.budget(subject, resource)
        for name, value in _rate_headers(budget, resource).items():
            reply.response.headers.setdefault(name, value)
        return reply

    def _endpoint(self, request: Request) -> str:
        if request.path == "/api/graphql":
            return "POST /graphql"
        found = rest.match(request.method, request.path.removeprefix("/api/v3"))
        return (
            found[0].name if found else f"{request.method} {request.path.removeprefix('/api/v3')}"
        )

    def _rest(self, request: Request, token: Token | None, subject: str) -> _Reply:
        limits = self.sandbox.limits
        path = request.path.removeprefix("/api/v3")
        found = rest.match(request.method, path)
        endpoint = found[0].name if found else f"{request.method} {path}"
        if found and found[0].needs_auth and token is None:
            body = _error_body(401, "Requires authentication", found[0].docs)
            headers = _rate_headers(limits.budget(subject, "core"), "core")
            return _Reply(Response.json(401, body, headers), endpoint)
        if found and found[0].name == "GET /rate_limit":
            return _Reply(self._rate_limit(subject, token), endpoint)  # free, as on GitHub
        if limits.secondary_exceeded(subject, "core", endpoint):
            return _Reply(self._secondary(request, subject, "core"), endpoint)
        allowed, budget = limits.charge(subject, "core", 1)
        if not allowed:
            return _Reply(self._limited(request, subject, "core"), endpoint)
        ctx = rest.Context(
            self.sandbox.world,
            token,
            f"{request.base_url}/api/v3",
            request.base_url,
            request.args,
            body=request.body,
            hooks=self.sandbox.hooks,
        )
        answer = rest.answer(ctx, *found) if found else rest.not_found()
        response = Response.json(answer.status, answer.data)
        if answer.status == 200 and _not_modified(request, response):
            budget = limits.refund(subject, "core", 1)
            response = Response(304, b"", {"ETag": response.headers["ETag"]})
        response.headers.update(_rate_headers(budget, "core"))
        response.headers.update(_github_headers(token, found[0].accepted_scopes if found else ""))
        if answer.link and response.status == 200:
            response.headers["Link"] = answer.link
        return _Reply(response, endpoint, answer.nodes if response.status == 200 else 0)

    def _rate_limit(self, subject: str, token: Token | None) -> Response:
        limits = self.sandbox.limits
        budgets = {r: limits.budget(subject, r) for r in ("core", "graphql")}
        body = payloads.rate_limit_body({r: b.as_json() for r, b in budgets.items()})
        headers = _rate_headers(budgets["core"], "core") | _github_headers(token, "")
        return Response.json(200, body, headers)

    def _graphql(
        self, request: Request, token: Token | None, subject: str, forced: str | None = None
    ) -> _Reply:
        limits = self.sandbox.limits
        endpoint = "POST /graphql"
        headers = _rate_headers(limits.budget(subject, "graphql"), "graphql")
        if token is None:
            message = "This endpoint requires you to be authenticated."
            docs = f"{_GRAPHQL_DOCS}/guides/forming-calls-with-graphql#authenticating-with-graphql"
            return _Reply(Response.json(401, _error_body(401, message, docs), headers), endpoint)
        if request.method != "POST":
            return _Reply(
                Response.json(404, _error_body(404, "Not Found", _GRAPHQL_DOCS), headers), endpoint
            )
        try:
            body = request.json()
        except ValueError:
            answer = _error_body(400, "Problems parsing JSON", _GRAPHQL_DOCS)
            return _Reply(Response.json(400, answer, headers), endpoint)
        if limits.secondary_exceeded(subject, "graphql", endpoint):
            return _Reply(self._secondary(request, subject, "graphql"), endpoint)
        if limits.budget(subject, "graphql").remaining <= 0:
            return _Reply(self._limited(request, subject, "graphql"), endpoint)
        return self._execute_graphql(request, token, subject, body, forced)

    def _execute_graphql(
        self, request: Request, token: Token, subject: str, body: object, forced: str | None
    ) -> _Reply:
        limits = self.sandbox.limits
        try:
            from sandbox.github import graphql
        except ImportError:
            message = "The sandbox has no GraphQL module yet."
            return _Reply(
                Response.json(501, _error_body(501, message, _GRAPHQL_DOCS)), "POST /graphql"
            )
        charged = {"points": 0}

        def charge(points: int) -> dict[str, object]:
            allowed, budget = limits.charge(subject, "graphql", points)
            charged["points"] = points if allowed else 0
            if not allowed:
                limits.note_rate_limited()
            return {
                "limit": budget.limit,
                "remaining": budget.remaining,
                "used": budget.used,
                "resetAt": budget.reset,
                "exceeded": not allowed,
            }

        result = graphql.execute(
            self.sandbox.world,
            token,
            body if isinstance(body, dict) else {},
            rate_limit=charge,
            web_url=request.base_url,
            rate_limit_type=limits.rate_limit_type,
        )
        budget = limits.budget(subject, "graphql")
        headers = _rate_headers(budget, "graphql") | _github_headers(token, "")
        model = limits.timeouts
        slow = model.estimate_s(result.requested, result.repos) > model.limit_s
        if result.cost and (forced or slow):
            # GitHub stops the query after 10 s and charges it all the same (since 2025-07-21).
            limits.record_timeout(charged["points"])
            response = self._timed_out(forced or model.shape, request)
            response.headers.update(headers)
            return _Reply(response, "POST /graphql", 0, charged["points"])
        limits.record_nodes(result.nodes)
        response = Response.json(result.status, result.payload, headers)
        return _Reply(response, "POST /graphql", result.nodes, charged["points"])

    def _timed_out(self, shape: str, request: Request) -> Response:
        """Wait as GitHub does before giving up, then answer in one of its timeout shapes."""
        model = self.sandbox.limits.timeouts
        time.sleep(model.hang_s if shape == "hang" else model.wait_s)
        if shape == "504" or shape == "hang":
            return Response.json(504, {"message": _GATEWAY_TIMEOUT, "documentation_url": _DOCS})
        body = {"data": None, "errors": [{"message": _QUERY_TIMEOUT.format(_request_id())}]}
        return Response.json(502 if shape == "502" else 200, body)

    # -- secondary limits -------------------------------------------------------------------

    def _secondary(self, request: Request, subject: str, resource: str) -> Response:
        policy = self.sandbox.limits.secondary_policy
        return self._secondary_answer(subject, resource, policy.status, policy.retry_after)

    def _fault_response(
        self, fault: Fault, request: Request, subject: str, resource: str
    ) -> Response:
        if fault.kind == "secondary_limit":
            status = fault.status or self.sandbox.limits.secondary_policy.status
            return self._secondary_answer(subject, resource, status, fault.retry_after)
        return _fault_response(fault, request)

    def _secondary_answer(
        self, subject: str, resource: str, status: int, retry_after: int
    ) -> Response:
        # GitHub: a secondary limit answers 403 or 429 with retry-after, or with
        # x-ratelimit-remaining 0 and the reset to wait for.
        # https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit
        limits = self.sandbox.limits
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
            "again. If you reach out to GitHub Support for help, please include the request ID "
            f"{_request_id()} and timestamp {_timestamp(self.sandbox.clock)}."
        )
        headers = {"Retry-After": str(retry_after)}
        if limits.secondary_policy.headers == "reset":
            budget = limits.budget(subject, resource)
            reset = int(self.sandbox.clock.now()) + retry_after
            headers = _rate_headers(budget, resource) | {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            }
        return Response.json(status, _error_body(status, message, _SECONDARY_DOCS), headers)

    # -- OAuth ----------------------------------------------------------------------------

    def _oauth(self, request: Request) -> _Reply:
        endpoint = f"{request.method} {request.path}"
        fault = self.sandbox.limits.fault_for(request.method, request.path)
        if fault and fault.kind == "delay":
            time.sleep(fault.delay_s)
        if fault and fault.kind in ("status", "secondary_limit", "sso"):
            subject = f"ip:{request.client}"
            return _Reply(self._fault_response(fault, request, subject, "core"), endpoint)
        response = self.sandbox.oauth.handle(request)
        if fault and response.status == 200:
            _corrupt(response, fault.kind)
        return _Reply(response, endpoint)


def _error_body(status: int, message: str, docs: str) -> dict[str, str]:
    return {"message": message, "documentation_url": docs, "status": str(status)}


def _request_id() -> str:
    raw = secrets.token_hex(16).upper()
    return f"{raw[:4]}:{raw[4:8]}:{raw[8:15]}:{raw[15:22]}:{raw[22:30]}"


def _rate_headers(budget: Budget, resource: str) -> dict[str, str]:
    return budget.headers(resource)


def _github_headers(token: Token | None, accepted: str) -> dict[str, str]:
    headers = {
        "Cache-Control": "private, max-age=60, s-maxage=60",
        "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Api-Version-Selected": "2022-11-28",
        "X-GitHub-Request-Id": _request_id(),
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": (
            "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, "
            "X-RateLimit-Remaining, X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, "
            "X-OAuth-Scopes, X-Accepted-OAuth-Scopes, X-Poll-Interval, X-GitHub-Media-Type, "
            "X-GitHub-SSO, X-GitHub-Request-Id, Deprecation, Sunset"
        ),
    }
    if token is not None:
        # GitHub: https://docs.github.com/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps
        headers["X-OAuth-Scopes"] = ", ".join(sorted(token.scopes))
        headers["X-Accepted-OAuth-Scopes"] = accepted
    return headers


def _not_modified(request: Request, response: Response) -> bool:
    """Set a weak ETag on ``response``; True when the request's If-None-Match names it."""
    etag = f'W/"{hashlib.sha256(response.body).hexdigest()[:32]}"'
    response.headers["ETag"] = etag
    wanted = request.header("If-None-Match")
    if not wanted:
        return False
    tags = {t.strip().removeprefix("W/") for t in wanted.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def _timestamp(clock: Clock) -> str:
    # GitHub's error messages end "... and timestamp 2026-01-05 12:00:00 UTC."
    return datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fault_response(fault: Fault, request: Request) -> Response:
    if fault.kind == "sso":
        return _sso_response(fault, request)
    status = fault.status or 500
    if isinstance(fault.body, str):
        return Response(status, fault.body.encode(), {"Content-Type": "text/html; charset=utf-8"})
    body = fault.body if fault.body is not None else _error_body(status, _reason(status), rest.DOCS)
    return Response.json(status, body)


def _sso_response(fault: Fault, request: Request) -> Response:
    # GitHub: https://docs.github.com/rest/authentication/authenticating-to-the-rest-api
    # ("SAML SSO and ... X-GitHub-SSO header")
    found = re.search(r"/(?:orgs|repos)/([^/]+)", request.path)
    org = found.group(1) if found else "acme"
    url = f"{request.base_url}/orgs/{org}/sso?authorization_request={secrets.token_hex(10)}"
    message = (
        "Resource protected by organization SAML enforcement. You must grant your OAuth token "
        "access to this organization."
    )
    body = fault.body if fault.body is not None else _error_body(403, message, _SSO_DOCS)
    return Response.json(fault.status or 403, body, {"X-GitHub-SSO": f"required; url={url}"})


def _corrupt(response: Response, kind: str) -> None:
    """Apply a body fault: cut the JSON short, or null the identity of one list item."""
    if kind == "malformed_json":
        response.body = response.body[: max(1, len(response.body) // 2)]
    elif kind == "malformed_item":
        try:
            data = json.loads(response.body)
        except ValueError:
            return
        items = _first_list(data)
        if items:
            for key in _IDENTITY_KEYS:
                if key in items[0]:
                    items[0][key] = None
            response.body = json.dumps(data, separators=(",", ":")).encode()


def _first_list(data: object) -> list[dict[str, object]] | None:
    """Find the first non-empty list of objects, breadth first (REST list or GraphQL nodes)."""
    queue = [data]
    while queue:
        value = queue.pop(0)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return value
        if isinstance(value, dict):
            queue.extend(value.values())
    return None


# -- the server -----------------------------------------------------------------------------


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.services = services(sandbox)
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        # An AF_INET server bound to a str host: typeshed also allows bytes.
        host, port = cast("tuple[str, int]", self.server_address[:2])
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox"
    sys_version = ""
    server: SandboxServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        request = self._request()
        try:
            response = self._dispatch(request)
        except Exception:
            logger.exception("sandbox failed on %s %s", request.method, request.path)
            response = Response.json(500, {"message": "Server Error"})
        self._send(response, head=request.method == "HEAD")

    def _request(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return Request(
            method=self.command,
            path=parts.path,
            args=parse_qsl(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            client=self.client_address[0],
            host=host,
        )

    def _dispatch(self, request: Request) -> Response:
        for service in self.server.services:
            if request.path.startswith(service.prefix):
                return service.handle(request)
        return Response.json(404, {"message": "Not Found", "documentation_url": _DOCS})

    def _send(self, response: Response, *, head: bool) -> None:
        body = b"" if response.status in (204, 304) else response.body
        self.send_response(response.status, _reason(response.status))
        for name, value in response.headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)


_DOCS = "https://docs.github.com/rest"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def build_server(world: World | None, config: Config, host: str, port: int) -> SandboxServer:
    """Build (not start) a sandbox server; ``port`` 0 picks a free one. Run it in any thread."""
    return SandboxServer((host, port), Sandbox(config, world))


def serve_in_thread(server: SandboxServer) -> threading.Thread:
    """Start ``server.serve_forever`` in a daemon thread and return the thread."""
    thread = threading.Thread(target=server.serve_forever, name="sandbox", daemon=True)
    thread.start()
    return thread
