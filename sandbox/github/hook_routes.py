"""REST routes of organization webhooks: create, list, get, deliveries, redeliver.

GitHub: https://docs.github.com/rest/orgs/webhooks. Only an organization owner whose token has
``admin:org_hook`` may use them; GitHub answers everyone else 404 (its documented answers are
200/201, 404 and 422), with ``X-Accepted-OAuth-Scopes`` naming the scope.
"""

from __future__ import annotations

import json
import re

from sandbox.github import hook_payloads
from sandbox.github.hooks import EVENTS, Hook, Hooks
from sandbox.github.rest import (
    DOCS,
    Answer,
    Context,
    Handler,
    Route,
    error,
    not_found,
    paginate,
    validation_failed,
)
from sandbox.github.world import Org

HOOK_SCOPE = "admin:org_hook"
_DOCS = f"{DOCS}/orgs/webhooks"
_ORG = r"orgs/(?P<org>[^/]+)/hooks"


def _owner_org(ctx: Context, params: dict[str, str]) -> tuple[Org, Hooks] | None:
    """Return the org and its hooks if the caller is an owner with the scope, else None."""
    org = ctx.world.org(params["org"])
    viewer = ctx.viewer
    if org is None or viewer is None or ctx.hooks is None:
        return None
    if HOOK_SCOPE not in (ctx.token.scopes if ctx.token else ()):
        return None
    if org.members.get(viewer.login) != "admin":
        return None
    return org, ctx.hooks


def _hook(ctx: Context, params: dict[str, str]) -> tuple[Org, Hooks, Hook] | None:
    found = _owner_org(ctx, params)
    if found is None:
        return None
    org, hooks = found
    hook = hooks.get(org.account.login, int(params["hook_id"]))
    return (org, hooks, hook) if hook else None


def _create(ctx: Context, params: dict[str, str]) -> Answer:
    found = _owner_org(ctx, params)
    if found is None:
        return not_found(params["docs"])
    org, hooks = found
    try:
        body = json.loads(ctx.body or b"{}")
    except ValueError:
        return error(400, "Problems parsing JSON", params["docs"])
    config = body.get("config") if isinstance(body, dict) else None
    if not isinstance(config, dict) or not str(config.get("url") or "").startswith("http"):
        return validation_failed("Hook", "config", params["docs"])
    events = body.get("events") or ["push"]
    if not isinstance(events, list) or not set(map(str, events)) <= EVENTS:
        return validation_failed("Hook", "events", params["docs"])
    if body.get("name", "web") != "web":
        return validation_failed("Hook", "name", params["docs"])
    hook = hooks.create(
        org=org.account.login,
        org_id=org.account.id,
        url=str(config["url"]),
        secret=str(config.get("secret") or ""),
        events=tuple(map(str, events)),
        active=bool(body.get("active", True)),
        api=ctx.api,
    )
    assert ctx.viewer is not None
    hooks.send(hook, "ping", hook_payloads.ping(ctx, org, hook.as_json(), ctx.viewer))
    return Answer(201, hook.as_json(), 1)


def _list(ctx: Context, params: dict[str, str]) -> Answer:
    found = _owner_org(ctx, params)
    if found is None:
        return not_found(params["docs"])
    org, hooks = found
    path = f"/orgs/{org.account.login}/hooks"
    return paginate(ctx, hooks.of_org(org.account.login), path, lambda h: h.as_json())


def _get(ctx: Context, params: dict[str, str]) -> Answer:
    found = _hook(ctx, params)
    return Answer(200, found[2].as_json(), 1) if found else not_found(params["docs"])


def _deliveries(ctx: Context, params: dict[str, str]) -> Answer:
    found = _hook(ctx, params)
    if found is None:
        return not_found(params["docs"])
    org, hooks, hook = found
    path = f"/orgs/{org.account.login}/hooks/{hook.id}/deliveries"
    return paginate(ctx, hooks.deliveries_of(hook.id), path, lambda d: d.as_json())


def _redeliver(ctx: Context, params: dict[str, str]) -> Answer:
    found = _hook(ctx, params)
    if found is None:
        return not_found(params["docs"])
    _, hooks, hook = found
    again = hooks.redeliver(hook, int(params["delivery_id"]))
    return Answer(202, {}, 0) if again else not_found(params["docs"])


def _route(name: str, regex: str, handler: Handler, docs: str) -> Route:
    return Route(
        name,
        re.compile(f"^/{regex}$"),
        handler,
        f"{_DOCS}#{docs}",
        True,
        HOOK_SCOPE,
    )


ROUTES = (
    _route("POST /orgs/{org}/hooks", _ORG, _create, "create-an-organization-webhook"),
    _route("GET /orgs/{org}/hooks", _ORG, _list, "list-organization-webhooks"),
    _route(
        "GET /orgs/{org}/hooks/{hook_id}",
        _ORG + r"/(?P<hook_id>\d+)",
        _get,
        "get-an-organization-webhook",
    ),
    _route(
        "GET /orgs/{org}/hooks/{hook_id}/deliveries",
        _ORG + r"/(?P<hook_id>\d+)/deliveries",
        _deliveries,
        "list-deliveries-for-an-organization-webhook",
    ),
    _route(
        "POST /orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
        _ORG + r"/(?P<hook_id>\d+)/deliveries/(?P<delivery_id>\d+)/attempts",
        _redeliver,
        "redeliver-a-delivery-for-an-organization-webhook",
    ),
)
