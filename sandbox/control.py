"""The control API under ``/_sandbox/``: what tests and benchmarks use to steer the sandbox.

JSON in and out, no authentication. ``CONTROL_API`` is the reference printed by
``python -m sandbox --help``; keep it in step with ``ROUTES``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime

from sandbox.github import hook_payloads, rest
from sandbox.github.limits import (
    RATE_LIMIT_TYPES,
    SECONDARY_STATUSES,
    TIMEOUT_SHAPES,
    SecondaryPolicy,
)
from sandbox.github.world import REVIEW_STATES, Account, PullRequest, Repo, Review
from sandbox.server import Request, Response, Sandbox

CONTROL_API = """\
control API (JSON in/out, no auth; all under /_sandbox):
  GET    /_sandbox/health                     {"ok": true, "seed": S}
  GET    /_sandbox/counters                   requests by endpoint/token/login/status, GraphQL
                                              points, 304s, rate/secondary limits hit, faults
                                              fired, in-flight and max concurrency per token
  POST   /_sandbox/counters/reset             zero the counters
  POST   /_sandbox/tokens                     {login, scopes?: [..] | "a,b"} -> {token}
  POST   /_sandbox/tokens/revoke              {token} -> later requests get 401 Bad credentials
  GET    /_sandbox/faults                     the registered faults with match/fire counts
  POST   /_sandbox/faults                     {path: regex on the request path, method?,
                                              kind: status|delay|malformed_json|malformed_item|
                                              secondary_limit|sso|timeout, status?, body?,
                                              delay_s?, retry_after?, shape? (timeout:
                                              502|504|data_null|hang), count? (first N
                                              matches), fraction? (share of matches, seeded),
                                              after? (let the first N matches through)}
                                              -> {id}; a GraphQL timeout is charged
  DELETE /_sandbox/faults                     remove every fault
  POST   /_sandbox/budget                     {token? | login?, resource: core|graphql,
                                              remaining, reset_in (seconds)} -> the budget
  POST   /_sandbox/latency                    {fixed_ms?, per_node_ms?}
  POST   /_sandbox/secondary                  {max_concurrent?, rest_per_minute?,
                                              graphql_per_minute?} (GitHub: 100, 900, 2000),
                                              status? (403|429), headers? (retry_after|reset),
                                              retry_after?, per_endpoint? {"GET /orgs/{org}/
                                              repos": n per minute}
  POST   /_sandbox/graphql                    {rate_limit_type? (RATE_LIMITED|RATE_LIMIT),
                                              per_node_ms?, heavy_factor?, limit_s? (10),
                                              wait_s? (10), hang_s? (60), shape? (502|504|
                                              data_null|hang)}: the timeout model; a query
                                              estimated past limit_s times out, charged
  POST   /_sandbox/repos/{owner}/{repo}/heavy {heavy: bool}: queries reading it take longer
  POST   /_sandbox/oauth                      {callback_url}: the OAuth app's registered
                                              callback (redirect_uri must match it)
  POST   /_sandbox/clock                      {advance_s} moves the sandbox clock (OAuth code
                                              expiry, budget windows)
  POST   /_sandbox/repos/{owner}/{repo}/delete
  POST   /_sandbox/orgs/{org}/members/{login}/remove   the member leaves the organization
  POST   /_sandbox/pulls/{owner}/{repo}/{n}/update   {title}
  POST   /_sandbox/pulls/{owner}/{repo}/{n}/merge    {by?}
  POST   /_sandbox/pulls/{owner}/{repo}/{n}/review   {by, state?: APPROVED|CHANGES_REQUESTED|
                                                     COMMENTED|DISMISSED}
  POST   /_sandbox/pulls/{owner}/{repo}/{n}/force-push  {keep (commits kept), add? (new)}
  POST   /_sandbox/pulls/{owner}/{repo}/{n}/delete      the PR disappears (GitHub Support)
  POST   /_sandbox/orgs/{org}/members/{login}/add   {role?: member|admin} joins the org
  POST   /_sandbox/repos/{owner}/{repo}/archive      {archived?: true}
  POST   /_sandbox/repos/{owner}/{repo}/rename       {name}
  GET    /_sandbox/hooks/deliveries?org=acme  every org-hook delivery attempt (newest first)
  POST   /_sandbox/hooks/faults               {drop?, duplicate?, bad_signature? (shares 0-1),
                                              delay_s?}: deliveries dropped (recorded as
                                              failed), sent twice, signed wrongly, delayed
  POST   /_sandbox/hooks/wait                 {timeout_s?}: until no delivery is in flight
                                              (every change above to a PR, review, commit,
                                              member or repository is delivered, signed, to
                                              the org's hooks, as GitHub does)
  GET    /_sandbox/truth?org=acme&since=ISO   counts and checksum of the org's PR history
  GET    /_sandbox/timelines?org=acme         every live PR's repository, number, author,
                                              created_at, merged_at and reviews (submitted_at,
                                              author): what review and merge times are
                                              computed from
  POST   /_sandbox/reset                      fresh world from the same arguments; counters,
                                              faults, budgets, tokens and codes cleared
"""

Handler = Callable[["ControlService", Request, dict[str, str]], Response]


class BadInput(ValueError):
    """A control request the sandbox cannot act on (answered 400, or 404 for missing things)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _fields(request: Request) -> dict[str, object]:
    try:
        data = request.json() if request.body else {}
    except ValueError as error:
        raise BadInput("the body is not JSON") from error
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


def _number(fields: dict[str, object], name: str, default: float | None = None) -> float:
    value = fields.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BadInput(f"{name} must be a number")
    return float(value)


class ControlService:
    """Answer ``/_sandbox/...`` requests against one :class:`Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle(self, request: Request) -> Response:
        """Route a control request; input problems come back as ``{"error": ...}``."""
        for method, pattern, handler in ROUTES:
            found = pattern.match(request.path)
            if found and request.method == method:
                try:
                    return handler(self, request, found.groupdict())
                except BadInput as error:
                    return Response.json(error.status, {"error": str(error)})
                except KeyError as error:
                    return Response.json(404, {"error": str(error).strip("'\"")})
        return Response.json(404, {"error": f"no control endpoint {request.method} {request.path}"})

    # -- observation ------------------------------------------------------------------------

    def health(self, request: Request, params: dict[str, str]) -> Response:
        return Response.json(200, {"ok": True, "seed": self.sandbox.config.seed})

    def counters(self, request: Request, params: dict[str, str]) -> Response:
        return Response.json(200, self.sandbox.limits.snapshot())

    def reset_counters(self, request: Request, params: dict[str, str]) -> Response:
        self.sandbox.limits.reset_counters()
        return Response.json(200, {"ok": True})

    def truth(self, request: Request, params: dict[str, str]) -> Response:
        org = request.arg("org", "acme") or "acme"
        if self.sandbox.world.org(org) is None:
            raise BadInput(f"no org {org}", 404)
        since_text = request.arg("since")
        try:
            since = datetime.fromisoformat(since_text) if since_text else None
        except ValueError as error:
            raise BadInput("since must be an ISO 8601 timestamp") from error
        return Response.json(200, self.sandbox.world.ground_truth(org, since=since))

    def timelines(self, request: Request, params: dict[str, str]) -> Response:
        org = request.arg("org", "acme") or "acme"
        if self.sandbox.world.org(org) is None:
            raise BadInput(f"no org {org}", 404)
        return Response.json(200, {"pull_requests": self.sandbox.world.timelines(org)})

    # -- tokens and budgets -----------------------------------------------------------------

    def issue_token(self, request: Request, params: dict[str, str]) -> Response:
        fields = _fields(request)
        login = str(fields.get("login") or "mona")
        account = self.sandbox.world.account(login)
        if account is None:
            raise BadInput(f"no account {login}", 404)
        raw = fields.get("scopes", ["read:org", "repo"])
        scopes = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)  # type: ignore[call-overload]
        token = self.sandbox.world.issue_token(account.login, tuple(map(str, scopes)))
        return Response.json(201, {"token": token.value, "login": token.login, "scopes": scopes})

    def revoke_token(self, request: Request, params: dict[str, str]) -> Response:
        token = self.sandbox.world.revoke_token(str(_fields(request).get("token", "")))
        return Response.json(200, {"revoked": True, "login": token.login})

    def set_budget(self, request: Request, params: dict[str, str]) -> Response:
        fields = _fields(request)
        resource = str(fields.get("resource", "core"))
        if resource not in ("core", "graphql"):
            raise BadInput("resource must be core or graphql")
        budget = self.sandbox.limits.set_budget(
            self._subject(fields),
            resource,
            int(_number(fields, "remaining")),
            _number(fields, "reset_in", 3600),
        )
        return Response.json(200, budget.as_json() | {"resource": resource})

    def _subject(self, fields: dict[str, object]) -> str:
        world = self.sandbox.world
        login = fields.get("login")
        if fields.get("token"):
            token = world.tokens.get(str(fields["token"]))
            if token is None:
                raise BadInput("no such token", 404)
            login = token.login
        account = world.account(str(login or "mona"))
        if account is None:
            raise BadInput(f"no account {login}", 404)
        return f"user:{account.id}"

    # -- faults, latency, limits, clock -----------------------------------------------------

    def list_faults(self, request: Request, params: dict[str, str]) -> Response:
        with self.sandbox.limits.lock:
            faults = [f.as_json() for f in self.sandbox.limits.faults]
        return Response.json(200, faults)

    def add_fault(self, request: Request, params: dict[str, str]) -> Response:
        try:
            fault = self.sandbox.limits.add_fault(_fields(request))
        except (ValueError, TypeError, re.error) as error:
            raise BadInput(str(error)) from error
        return Response.json(201, {"id": fault.id})

    def clear_faults(self, request: Request, params: dict[str, str]) -> Response:
        self.sandbox.limits.clear_faults()
        return Response.json(200, {"ok": True})

    def set_latency(self, request: Request, params: dict[str, str]) -> Response:
        fields = _fields(request)
        limits = self.sandbox.limits
        limits.latency_ms = _number(fields, "fixed_ms", limits.latency_ms)
        limits.per_node_ms = _number(fields, "per_node_ms", limits.per_node_ms)
        return Response.json(
            200, {"fixed_ms": limits.latency_ms, "per_node_ms": limits.per_node_ms}
        )

    def set_secondary(self, request: Request, params: dict[str, str]) -> Response:
        fields = _fields(request)
        limits = self.sandbox.limits
        with limits.lock:
            for name in limits.secondary:
                if name in fields:
                    limits.secondary[name] = int(_number(fields, name))
            _set_policy(limits.secondary_policy, fields)
            return Response.json(200, dict(limits.secondary) | limits.secondary_policy.as_json())

    def set_graphql(self, request: Request, params: dict[str, str]) -> Response:
        fields = _fields(request)
        limits = self.sandbox.limits
        kind = fields.get("rate_limit_type", limits.rate_limit_type)
        if kind not in RATE_LIMIT_TYPES:
            raise BadInput(f"rate_limit_type must be one of {', '.join(RATE_LIMIT_TYPES)}")
        shape = fields.get("shape", limits.timeouts.shape)
        if shape not in TIMEOUT_SHAPES:
            raise BadInput(f"shape must be one of {', '.join(TIMEOUT_SHAPES)}")
        with limits.lock:
            limits.rate_limit_type = str(kind)
            model = limits.timeouts
            model.shape = str(shape)
            for name in ("per_node_ms", "heavy_factor", "limit_s", "wait_s", "hang_s"):
                setattr(model, name, _number(fields, name, getattr(model, name)))
            return Response.json(200, {"rate_limit_type": kind} | model.as_json())

    def set_heavy(self, request: Request, params: dict[str, str]) -> Response:
        repo = self.sandbox.world.repo(params["owner"], params["repo"])
        if repo is None:
            raise BadInput(f"no repository {params['owner']}/{params['repo']}", 404)
        heavy = bool(_fields(request).get("heavy", True))
        limits = self.sandbox.limits
        with limits.lock:
            (limits.timeouts.heavy.add if heavy else limits.timeouts.heavy.discard)(
                repo.full_name.lower()
            )
        return Response.json(200, {"repository": repo.full_name, "heavy": heavy})

    def set_oauth(self, request: Request, params: dict[str, str]) -> Response:
        url = _fields(request).get("callback_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise BadInput("callback_url (an http(s) URL) is required")
        # App configuration, like the client id: it outlives a reset of the world.
        self.sandbox.config = dataclasses.replace(self.sandbox.config, callback_url=url)
        oauth = self.sandbox.oauth
        oauth.app = dataclasses.replace(oauth.app, callback_url=url)
        return Response.json(200, {"callback_url": url})

    def advance_clock(self, request: Request, params: dict[str, str]) -> Response:
        self.sandbox.clock.advance(_number(_fields(request), "advance_s"))
        return Response.json(200, {"offset_s": self.sandbox.clock.offset})

    def reset(self, request: Request, params: dict[str, str]) -> Response:
        self.sandbox.reset()
        return Response.json(200, {"ok": True})

    # -- world mutations --------------------------------------------------------------------

    def force_push(self, request: Request, params: dict[str, str]) -> Response:
        repo = self._repo(params)
        fields = _fields(request)
        keep, add = int(_number(fields, "keep")), int(_number(fields, "add", 0))
        world = self.sandbox.world
        with world.lock:
            before = world._require_pull(repo, int(params["number"]))
            head = before.commits[-1].sha if before.commits else ""
            pull = world.force_push(repo, int(params["number"]), keep=keep, add=add)
            ctx, sender = self._hook_context(request), self._account("mona")
            added = pull.commits[keep:]
            self._emit(repo, "push", hook_payloads.push(ctx, repo, pull, head, added, sender))
            payload = hook_payloads.pull_request(ctx, repo, pull, "synchronize", sender)
            self._emit(repo, "pull_request", payload)
        return Response.json(200, _pull_json(pull) | {"commits": [c.sha for c in pull.commits]})

    def delete_pull(self, request: Request, params: dict[str, str]) -> Response:
        repo = self._repo(params)
        pull = self.sandbox.world.delete_pull(repo, int(params["number"]))
        return Response.json(200, {"deleted": pull.number})

    def _repo(self, params: dict[str, str]) -> Repo:
        repo = self.sandbox.world.repo(params["owner"], params["repo"])
        if repo is None:
            raise BadInput(f"no repository {params['owner']}/{params['repo']}", 404)
        return repo

    def delete_repo(self, request: Request, params: dict[str, str]) -> Response:
        repo = self.sandbox.world.delete_repo(params["owner"], params["repo"])
        payload = hook_payloads.repository(
            self._hook_context(request), repo, "deleted", self._account("mona")
        )
        self._emit(repo, "repository", payload)
        return Response.json(200, {"deleted": repo.full_name})

    def archive_repo(self, request: Request, params: dict[str, str]) -> Response:
        repo = self._repo(params)
        archived = bool(_fields(request).get("archived", True))
        world = self.sandbox.world
        with world.lock:
            repo.archived = archived
            repo.version += 1
            action = "archived" if archived else "unarchived"
            ctx = self._hook_context(request)
            payload = hook_payloads.repository(ctx, repo, action, self._account("mona"))
            self._emit(repo, "repository", payload)
        return Response.json(200, {"repository": repo.full_name, "archived": archived})

    def rename_repo(self, request: Request, params: dict[str, str]) -> Response:
        repo = self._repo(params)
        name = _fields(request).get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", name):
            raise BadInput("name (letters, digits, . _ -) is required")
        world = self.sandbox.world
        with world.lock:
            if world.repo(repo.owner.login, name) is not None:
                raise BadInput(f"{repo.owner.login}/{name} already exists", 422)
            old = repo.name
            del world.repos[repo.full_name.lower()]
            repo.name = name
            world.repos[repo.full_name.lower()] = repo
            repo.version += 1
            changes = {"repository": {"name": {"from": old}}}
            ctx = self._hook_context(request)
            payload = hook_payloads.repository(ctx, repo, "renamed", self._account("mona"), changes)
            self._emit(repo, "repository", payload)
        return Response.json(200, {"repository": repo.full_name, "was": old})

    def remove_member(self, request: Request, params: dict[str, str]) -> Response:
        world = self.sandbox.world
        with world.lock:
            try:
                org = world.remove_member(params["org"], params["login"])
            except KeyError as error:
                raise BadInput(str(error.args[0]), 404) from None
            member = self._account(params["login"])
            payload = hook_payloads.organization_member(
                self._hook_context(request), org, member, "member_removed", self._account("mona")
            )
            self.sandbox.hooks.emit(org.account.login, "organization", payload)
        return Response.json(200, {"org": org.account.login, "removed": params["login"]})

    def add_member(self, request: Request, params: dict[str, str]) -> Response:
        role = str(_fields(request).get("role") or "member")
        if role not in ("member", "admin"):
            raise BadInput("role must be member or admin")
        world = self.sandbox.world
        with world.lock:
            org = world.org(params["org"])
            member = world.account(params["login"])
            if org is None or member is None or member.type != "User":
                raise BadInput(f"no org {params['org']} or no user {params['login']}", 404)
            if member.login in org.members:
                raise BadInput(f"{member.login} is already a member of {org.account.login}", 422)
            org.members[member.login] = role
            payload = hook_payloads.organization_member(
                self._hook_context(request), org, member, "member_added", self._account("mona")
            )
            self.sandbox.hooks.emit(org.account.login, "organization", payload)
        return Response.json(200, {"org": org.account.login, "added": member.login, "role": role})

    # -- organization webhooks (sandbox.github.hooks) -----------------------------------------

    def hook_deliveries(self, request: Request, params: dict[str, str]) -> Response:
        org = request.arg("org", "acme") or "acme"
        hooks = self.sandbox.hooks
        with hooks.lock:
            ids = {h.id for h in hooks.of_org(org)}
            attempts = [d.as_json() for d in reversed(hooks.deliveries) if d.hook_id in ids]
        return Response.json(200, attempts)

    def hook_faults(self, request: Request, params: dict[str, str]) -> Response:
        fields = _fields(request)
        values = {}
        for name in ("drop", "duplicate", "bad_signature", "delay_s"):
            if name in fields:
                value = _number(fields, name)
                if value < 0 or (name != "delay_s" and value > 1):
                    raise BadInput(
                        f"{name} must be a share from 0 to 1"
                        if name != "delay_s"
                        else "delay_s must not be negative"
                    )
                values[name] = value
        return Response.json(200, self.sandbox.hooks.set_faults(**values).as_json())

    def hook_wait(self, request: Request, params: dict[str, str]) -> Response:
        timeout = _number(_fields(request), "timeout_s", 30)
        idle = self.sandbox.hooks.wait_idle(timeout)
        return Response.json(200 if idle else 504, {"idle": idle})

    def _hook_context(self, request: Request) -> rest.Context:
        base = request.base_url
        return rest.Context(self.sandbox.world, None, f"{base}/api/v3", base)

    def _account(self, login: str) -> Account:
        account = self.sandbox.world.account(login)
        if account is None:
            raise BadInput(f"no account {login}", 404)
        return account

    def _emit(self, repo: Repo, event: str, payload: dict[str, object]) -> None:
        self.sandbox.hooks.emit(repo.owner.login, event, payload)

    def change_pull(self, request: Request, params: dict[str, str]) -> Response:
        world = self.sandbox.world
        repo = world.repo(params["owner"], params["repo"])
        if repo is None:
            raise BadInput(f"no repository {params['owner']}/{params['repo']}", 404)
        fields = _fields(request)
        number = int(params["number"])
        action = params["action"]
        by = self._account(str(fields.get("by") or "mona"))
        ctx = self._hook_context(request)
        with world.lock:
            if action == "update":
                if not isinstance(fields.get("title"), str):
                    raise BadInput("title (a string) is required")
                pull = world.update_pull(repo, number, title=str(fields["title"]))
                payload = hook_payloads.pull_request(ctx, repo, pull, "edited", by)
                self._emit(repo, "pull_request", payload)
                return Response.json(200, _pull_json(pull))
            if action == "merge":
                pull = world.merge_pull(repo, number, by=by.login)
                payload = hook_payloads.pull_request(ctx, repo, pull, "closed", by)
                self._emit(repo, "pull_request", payload)
                return Response.json(200, _pull_json(pull))
            state = str(fields.get("state") or "APPROVED")
            if state not in REVIEW_STATES:
                raise BadInput(f"state must be one of {', '.join(REVIEW_STATES)}")
            review = world.review_pull(repo, number, by=by.login, state=state)
            pull = world._require_pull(repo, number)
            payload = hook_payloads.pull_request_review(ctx, repo, pull, review)
            self._emit(repo, "pull_request_review", payload)
            return Response.json(200, _review_json(review))


def _pull_json(pr: PullRequest) -> dict[str, object]:
    return {
        "id": pr.id,
        "number": pr.number,
        "title": pr.title,
        "state": pr.graphql_state,
        "updated_at": pr.updated_at.isoformat(),
        "merged_at": pr.merged_at.isoformat() if pr.merged_at else None,
    }


def _review_json(review: Review) -> dict[str, object]:
    return {
        "id": review.id,
        "state": review.state,
        "by": review.author.login,
        "submitted_at": review.submitted_at.isoformat(),
    }


def _set_policy(policy: SecondaryPolicy, fields: dict[str, object]) -> None:
    if "status" in fields:
        status = int(_number(fields, "status"))
        if status not in SECONDARY_STATUSES:
            raise BadInput("status must be 403 or 429")
        policy.status = status
    if "headers" in fields:
        if fields["headers"] not in ("retry_after", "reset"):
            raise BadInput("headers must be retry_after or reset")
        policy.headers = str(fields["headers"])
    if "retry_after" in fields:
        policy.retry_after = int(_number(fields, "retry_after"))
    per_endpoint = fields.get("per_endpoint")
    if per_endpoint is not None:
        if not isinstance(per_endpoint, dict):
            raise BadInput('per_endpoint must map "METHOD /path" to requests per minute')
        policy.per_endpoint = {str(k): int(_number(per_endpoint, k)) for k in per_endpoint}


def _r(method: str, path: str, handler: Handler) -> tuple[str, re.Pattern[str], Handler]:
    return method, re.compile(f"^/_sandbox{path}/?$"), handler


_NAME = r"[^/]+"
ROUTES = (
    _r("GET", "/health", ControlService.health),
    _r("GET", "/counters", ControlService.counters),
    _r("POST", "/counters/reset", ControlService.reset_counters),
    _r("POST", "/tokens", ControlService.issue_token),
    _r("POST", "/tokens/revoke", ControlService.revoke_token),
    _r("GET", "/faults", ControlService.list_faults),
    _r("POST", "/faults", ControlService.add_fault),
    _r("DELETE", "/faults", ControlService.clear_faults),
    _r("POST", "/budget", ControlService.set_budget),
    _r("POST", "/latency", ControlService.set_latency),
    _r("POST", "/secondary", ControlService.set_secondary),
    _r("POST", "/graphql", ControlService.set_graphql),
    _r("POST", "/oauth", ControlService.set_oauth),
    _r("POST", f"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/heavy", ControlService.set_heavy),
    _r("POST", "/clock", ControlService.advance_clock),
    _r("POST", "/reset", ControlService.reset),
    _r("GET", "/truth", ControlService.truth),
    _r("GET", "/timelines", ControlService.timelines),
    _r("POST", f"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/delete", ControlService.delete_repo),
    _r(
        "POST",
        f"/orgs/(?P<org>{_NAME})/members/(?P<login>{_NAME})/remove",
        ControlService.remove_member,
    ),
    _r(
        "POST",
        f"/orgs/(?P<org>{_NAME})/members/(?P<login>{_NAME})/add",
        ControlService.add_member,
    ),
    _r("POST", f"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/archive", ControlService.archive_repo),
    _r("POST", f"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/rename", ControlService.rename_repo),
    _r("GET", "/hooks/deliveries", ControlService.hook_deliveries),
    _r("POST", "/hooks/faults", ControlService.hook_faults),
    _r("POST", "/hooks/wait", ControlService.hook_wait),
    _r(
        "POST",
        f"/pulls/(?P<owner>{_NAME})/(?P<repo>{_NAME})/(?P<number>\\d+)/(?P<action>update|merge|review)",
        ControlService.change_pull,
    ),
    _r(
        "POST",
        f"/pulls/(?P<owner>{_NAME})/(?P<repo>{_NAME})/(?P<number>\\d+)/force-push",
        ControlService.force_push,
    ),
    _r(
        "POST",
        f"/pulls/(?P<owner>{_NAME})/(?P<repo>{_NAME})/(?P<number>\\d+)/delete",
        ControlService.delete_pull,
    ),
)
