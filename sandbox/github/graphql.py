"""The sandbox GitHub's GraphQL endpoint (``POST /api/graphql``).

Queries run with graphql-core against ``schema.graphql``, a strict subset of GitHub's public
schema, so anything GitHub would not accept is refused here too, in GitHub's error shapes
(GitHub runs graphql-ruby, whose messages are mirrored for the common mistakes). Before
execution every query meets GitHub's resource limits: ``first``/``last`` on each connection
(at most 100), at most 500,000 possible nodes, and a point cost by GitHub's published
formula. The HTTP server owns auth, budgets, headers, latency and faults.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    get_named_type,
    parse,
    validate,
)
from graphql import execute as run_query
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from sandbox.github.graphql_errors import (
    MAX_NODES,
    RULES,
    execution_error,
    node_limit_error,
    node_location,
    not_found,
    parse_error,
    validation_error,
    variable_error,
)
from sandbox.github.world import (
    Account,
    Commit,
    PullRequest,
    Repo,
    Review,
    Token,
    World,
    is_public_member,
    node_id,
)

logger = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
# GitHub: https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
MAX_PAGE_SIZE = 100
DEFAULT_LIMIT = 5_000

RateLimitHook = Callable[[int], Mapping[str, Any]]


@dataclass
class GraphQLResult:
    payload: dict[str, Any]
    cost: int  # points charged: 0 when refused before execution, or for a dry run
    nodes: int  # objects returned in connections, for the latency model
    status: int = 200
    requested: int = 0  # nodes the query may return (GitHub's node limit), for the time model
    repos: set[str] = field(default_factory=set)  # lower-case full names the query read


@dataclass
class _Prepared:
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any]
    limits: _Limits

    @property
    def points(self) -> int:
        # GitHub: connection requests (each times its parents' page sizes) / 100, rounded, min 1.
        return max(1, int(self.limits.requests / 100 + 0.5))

    @property
    def cost(self) -> int:
        # A dry run reports what the query would cost and is not charged.
        return 0 if self.limits.dry_run else self.points


# -- entry point ---------------------------------------------------------------------------------


def execute(
    world: World,
    token: Token,
    body: dict[str, Any],
    *,
    rate_limit: RateLimitHook | None = None,
    web_url: str = "https://github.com",
    rate_limit_type: str = "RATE_LIMITED",
) -> GraphQLResult:
    """Answer one GraphQL request as GitHub's ``POST /graphql`` does.

    ``body`` is the parsed JSON body (``query``, optional ``variables`` and ``operationName``);
    ``token.login`` is the viewer; ``web_url`` roots every ``url`` field (the sandbox's own
    URL, as ``https://github.com`` is GitHub's).

    ``rate_limit(points)`` is the server's budget keeper for ``token``. It is called once, and
    only for a query that passed validation and the resource limits, with the points to charge
    (0 for ``rateLimit(dryRun: true)``); it charges them and returns the budget after charging:
    ``{"limit": int, "remaining": int, "used": int, "resetAt": epoch seconds | aware datetime}``,
    plus ``"exceeded": True`` when the points did not fit (then nothing is charged and the
    answer is GitHub's rate-limit error, typed ``rate_limit_type``). With a hook the server must
    not charge ``result.cost`` again; without one it charges ``result.cost`` itself, and
    ``rateLimit`` reports a fresh 5,000-point budget less this query's cost.
    """
    prepared = _prepare(body)
    if isinstance(prepared, GraphQLResult):
        return prepared
    cost = prepared.cost
    budget = dict(rate_limit(cost)) if rate_limit else _fresh_budget(cost)
    if budget.get("exceeded"):
        return _rate_limited(world, token, rate_limit_type)
    context = _Context(world, token, web_url.rstrip("/"))
    context.rate_limit = _rate_limit_fields(budget, prepared.points, prepared.limits.nodes)
    with world.lock:
        payload = _run(prepared, context)
    return GraphQLResult(
        payload, cost, context.nodes, requested=prepared.limits.nodes, repos=context.repos
    )


@cache
def load_schema() -> GraphQLSchema:
    """Return the sandbox's schema (the subset of GitHub's in ``schema.graphql``)."""
    return build_schema(SCHEMA_PATH.read_text())


def _prepare(body: object) -> _Prepared | GraphQLResult:
    request = _read_request(body)
    if isinstance(request, GraphQLResult):
        return request
    query, variables, operation_name = request
    schema = load_schema()
    try:
        document = parse(query)
    except GraphQLSyntaxError as error:
        return _refused([parse_error(query, error)])
    errors = validate(schema, document, RULES, allow_empty_selection_sets=False)
    if errors:
        return _refused([validation_error(error) for error in errors])
    operation = _operation(document, operation_name)
    if isinstance(operation, GraphQLResult):
        return operation
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        return _refused([variable_error(e, operation, variables) for e in coerced])
    limits = _Limits(schema, document, coerced)
    limits.walk(operation.selection_set, schema.query_type, (), 1)
    if limits.errors:
        return _refused(limits.errors, data=True)
    if limits.nodes > MAX_NODES:
        return _refused([node_limit_error(limits.nodes)], data=True)
    return _Prepared(document, operation, variables, limits)


def _run(prepared: _Prepared, context: _Context) -> dict[str, Any]:
    document, operation = prepared.document, prepared.operation
    if prepared.limits.dry_run:  # GitHub: "calculate the cost ... without evaluating it"
        document = _rate_limit_only(document, operation)
    result = run_query(
        load_schema(),
        document,
        context_value=context,
        variable_values=prepared.variables,
        operation_name=operation.name.value if operation.name else None,
        field_resolver=_resolve_field,
        type_resolver=_resolve_type,
    )
    data = result.data  # type: ignore[union-attr]
    if prepared.limits.dry_run and data is not None:
        roots = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
        data = {key: data.get(key) for key in ((s.alias or s.name).value for s in roots)}
    payload: dict[str, Any] = {"data": data}
    if result.errors:  # type: ignore[union-attr]
        payload["errors"] = [execution_error(e) for e in result.errors]  # type: ignore[union-attr]
    return payload


def _rate_limit_only(document: DocumentNode, operation: OperationDefinitionNode) -> DocumentNode:
    fields = tuple(
        s
        for s in operation.selection_set.selections
        if isinstance(s, FieldNode) and s.name.value == "rateLimit"
    )
    trimmed = OperationDefinitionNode(
        operation=operation.operation,
        name=operation.name,
        variable_definitions=operation.variable_definitions,
        directives=operation.directives,
        selection_set=SelectionSetNode(selections=fields),
    )
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    return DocumentNode(definitions=(trimmed, *fragments))


def _read_request(body: object) -> tuple[str, dict[str, Any], str | None] | GraphQLResult:
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str) or not query.strip():
        return _refused([{"message": "A query attribute must be specified and must be a string."}])
    assert isinstance(body, dict)
    variables = body.get("variables") or {}
    if isinstance(variables, str):  # GitHub also takes variables as a JSON-encoded string
        try:
            variables = json.loads(variables or "{}")
        except ValueError:
            variables = None
    if not isinstance(variables, dict):
        return _refused([{"message": "Variables are invalid JSON."}])
    operation_name = body.get("operationName")
    return query, variables, operation_name if isinstance(operation_name, str) else None


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | GraphQLResult:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        found = [op for op in operations if op.name and op.name.value == name]
        return found[0] if found else _refused([{"message": f'No operation named "{name}"'}])
    if len(operations) > 1:
        return _refused([{"message": "An operation name is required"}])
    return operations[0]


def _refused(errors: list[dict[str, Any]], *, data: bool = False) -> GraphQLResult:
    payload: dict[str, Any] = {"data": None, "errors": errors} if data else {"errors": errors}
    return GraphQLResult(payload, 0, 0)


def _fresh_budget(cost: int) -> dict[str, Any]:
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    return {
        "limit": DEFAULT_LIMIT,
        "remaining": DEFAULT_LIMIT - cost,
        "used": cost,
        "resetAt": reset,
    }


def _rate_limit_fields(budget: Mapping[str, Any], cost: int, nodes: int) -> dict[str, Any]:
    reset = budget["resetAt"]
    if isinstance(reset, int | float):
        reset = datetime.fromtimestamp(reset, UTC)
    return {
        "cost": cost,
        "limit": budget["limit"],
        "nodeCount": nodes,
        "remaining": max(0, budget["remaining"]),
        "resetAt": _iso(reset) if isinstance(reset, datetime) else reset,
        "used": budget["used"],
    }


def _rate_limited(world: World, token: Token, kind: str) -> GraphQLResult:
    # GitHub answers a spent GraphQL budget with HTTP 200 and this error (x-ratelimit-remaining 0).
    account = world.account(token.login)
    message = f"API rate limit already exceeded for user ID {account.id if account else 0}."
    error = {"type": kind, "code": "graphql_rate_limit", "message": message}
    return GraphQLResult({"errors": [error]}, 0, 0)


# -- resource limits and cost -------------------------------------------------------------------


class _Limits:
    """Walk a query as GitHub's resource limits do: pagination, possible nodes, requests."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, variables: VariableValues):
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.requests = 0
        self.nodes = 0
        self.dry_run = False
        self.errors: list[dict[str, Any]] = []
        self.seen: set[tuple[str, ...]] = set()

    def walk(
        self, selections: SelectionSetNode, parent: Any, path: tuple[str, ...], scale: int
    ) -> None:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent, path, scale)
                continue
            target: InlineFragmentNode | FragmentDefinitionNode
            if isinstance(selection, FragmentSpreadNode):
                target = self.fragments[selection.name.value]
            else:  # the only other kind of selection
                target = cast(InlineFragmentNode, selection)
            condition = target.type_condition
            inner = self.schema.get_type(condition.name.value) if condition else parent
            self.walk(target.selection_set, inner, path, scale)

    def _field(self, node: FieldNode, parent: Any, path: tuple[str, ...], scale: int) -> None:
        definition = getattr(parent, "fields", {}).get(node.name.value)
        if definition is None:  # __typename and introspection
            return
        path = (*path, (node.alias or node.name).value)
        args = get_argument_values(definition, node, self.variables)
        if parent is self.schema.query_type and node.name.value == "rateLimit":
            self.dry_run = self.dry_run or bool(args.get("dryRun"))
        named = get_named_type(definition.type)
        if named.name.endswith("Connection"):
            scale *= self._connection(node, args, path, scale)
        if node.selection_set:
            self.walk(node.selection_set, named, path, scale)

    def _connection(
        self, node: FieldNode, args: dict[str, Any], path: tuple[str, ...], scale: int
    ) -> int:
        # GitHub: every connection needs `first` or `last` (1-100); a request costs one call
        # per parent object, and may ask for at most 500,000 nodes in all.
        first, last = args.get("first"), args.get("last")
        problem = _pagination_problem(node, first, last, self._lists_items(node.selection_set))
        if problem:
            location = node_location(node)
            self.errors.append(
                {**problem[0], "path": list(path), "locations": location, "message": problem[1]}
            )
        limit = first if first is not None else last or 0
        limit = max(0, min(limit, MAX_PAGE_SIZE))
        if path not in self.seen:
            self.seen.add(path)
            self.requests += scale
            self.nodes += scale * limit
        return limit

    def _lists_items(self, selections: SelectionSetNode | None) -> bool:
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                if selection.name.value in ("nodes", "edges"):
                    return True
            elif isinstance(selection, InlineFragmentNode):
                if self._lists_items(selection.selection_set):
                    return True
            elif isinstance(selection, FragmentSpreadNode) and self._lists_items(
                self.fragments[selection.name.value].selection_set
            ):
                return True
        return False


def _pagination_problem(
    node: FieldNode, first: int | None, last: int | None, lists_items: bool
) -> tuple[dict[str, str], str] | None:
    name = node.name.value
    if first is None and last is None:
        if not lists_items:  # GitHub lets `totalCount` alone through without a page size
            return None
        message = f"You must provide a `first` or `last` value to properly paginate the `{name}`"
        return {"type": "MISSING_PAGINATION_BOUNDARIES"}, message + " connection."
    if first is not None and last is not None:
        message = f"Passing both `first` and `last` to paginate the `{name}` connection"
        return {}, message + " is not supported."
    argument, value = ("first", first) if first is not None else ("last", last)
    assert value is not None
    if value > MAX_PAGE_SIZE:
        message = (
            f"Requesting {value} records on the `{name}` connection exceeds the "
            f"`{argument}` limit of {MAX_PAGE_SIZE} records."
        )
        return {"type": "EXCESSIVE_PAGINATION"}, message
    if value < 0:
        return {}, f"`{argument}` on the `{name}` connection cannot be less than zero."
    return None


# -- resolving over the world ------------------------------------------------------------------


@dataclass
class _Context:
    world: World
    token: Token
    web: str
    nodes: int = 0
    rate_limit: dict[str, Any] = field(default_factory=dict)
    repos: set[str] = field(default_factory=set)  # what the query read, for the time model


@dataclass(frozen=True)
class _PR:
    repo: Repo
    pr: PullRequest

    @property
    def path(self) -> str:
        return f"/{self.repo.full_name}/pull/{self.pr.number}"


@dataclass(frozen=True)
class _Review:
    repo: Repo
    pr: PullRequest
    review: Review


@dataclass(frozen=True)
class _PRCommit:
    repo: Repo
    pr: PullRequest
    index: int


@dataclass(frozen=True)
class _Commit:
    repo: Repo
    commit: Commit


@dataclass(frozen=True)
class _GitActor:
    commit: Commit
    date: datetime


@dataclass(frozen=True)
class _Language:
    name: str


Resolver = Callable[[Any, _Context, dict[str, Any]], Any]


def _resolve_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    resolver = _FIELDS.get(info.parent_type.name, {}).get(info.field_name)
    if resolver is not None:
        return resolver(source, info.context, args)
    if isinstance(source, Mapping):
        return source.get(info.field_name)
    return getattr(source, info.field_name, None)


def _resolve_type(value: Any, _info: GraphQLResolveInfo, _abstract: Any) -> str:
    if isinstance(value, Account):
        return value.type  # "User", "Bot" or "Organization", as GitHub names the types
    return _TYPE_NAMES[type(value)]


_TYPE_NAMES: dict[type, str] = {
    Repo: "Repository",
    _PR: "PullRequest",
    _Review: "PullRequestReview",
    _PRCommit: "PullRequestCommit",
    _Commit: "Commit",
    _Language: "Language",
}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _visible(context: _Context, repo: Repo) -> bool:
    """Say whether the viewer may see ``repo`` (GitHub hides what it may not: NOT_FOUND)."""
    if repo.deleted:
        return False
    if not repo.private:
        return True
    org = context.world.org(repo.owner.login)
    members = {login.lower() for login in org.members} if org else set()
    viewer = context.token.login.lower()
    owns = viewer == repo.owner.login.lower() or viewer in members
    return owns and "repo" in context.token.scopes


def _viewer(_: Any, context: _Context, _args: dict[str, Any]) -> Account | None:
    return context.world.account(context.token.login)


def _user(_: Any, context: _Context, args: dict[str, Any]) -> Account:
    account = context.world.account(args["login"])
    if account is None or account.type != "User":
        raise not_found(f"Could not resolve to a User with the login of '{args['login']}'.")
    return account


def _organization(_: Any, context: _Context, args: dict[str, Any]) -> Account:
    org = context.world.org(args["login"])
    if org is None:
        raise not_found(
            f"Could not resolve to an Organization with the login of '{args['login']}'."
        )
    return org.account


def _repository(_: Any, context: _Context, args: dict[str, Any]) -> Repo:
    repo = context.world.repo(args["owner"], args["name"])
    if repo is None or not _visible(context, repo):
        name = f"{args['owner']}/{args['name']}"
        raise not_found(f"Could not resolve to a Repository with the name '{name}'.")
    context.repos.add(repo.full_name.lower())
    return repo


def _node(_: Any, context: _Context, args: dict[str, Any]) -> Any:
    found = _find_node(context, args["id"])
    if found is None:
        raise not_found(f"Could not resolve to a node with the global id of '{args['id']}'")
    return found


def _find_node(context: _Context, global_id: str) -> Any:
    match = re.fullmatch(r"([A-Z]+)_kwDO([A-Za-z0-9_-]+)", global_id)
    if match is None:
        return None
    prefix, raw = match.groups()
    try:
        number = int.from_bytes(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)), "big")
    except (binascii.Error, ValueError):
        return None
    world = context.world
    if prefix in ("U", "BOT", "O"):
        return next((a for a in world.accounts.values() if a.node_id == global_id), None)
    if prefix == "R":
        repo = world.repos_by_id.get(number)
        return repo if repo is not None and _visible(context, repo) else None
    if prefix not in ("PR", "PRR", "PURC"):
        return None  # commits are keyed by sha; GitHub's ids for them are not derivable here
    pull_id = number if prefix == "PR" else number // 1000
    repo = world.repos_by_id.get(pull_id // 100_000)
    pr = world.pull(repo, pull_id % 100_000) if repo and _visible(context, repo) else None
    if repo is None or pr is None or pr.id != pull_id:
        return None
    if prefix == "PR":
        return _PR(repo, pr)
    if prefix == "PRR":
        review = next((r for r in pr.reviews if r.id == number), None)
        return _Review(repo, pr, review) if review else None
    return _PRCommit(repo, pr, number % 1000) if number % 1000 < len(pr.commits) else None


# -- accounts -----------------------------------------------------------------------------------


def _login(account: Account) -> str:
    # GitHub's GraphQL names a bot without the "[bot]" suffix its REST API shows.
    return account.login.removesuffix("[bot]") if account.type == "Bot" else account.login


def _account_path(account: Account) -> str:
    return f"/apps/{_login(account)}" if account.type == "Bot" else f"/{account.login}"


def _avatar(context: _Context, account_id: int, size: int | None) -> str:
    return f"{context.web}/avatars/u/{account_id}?v=4" + (f"&s={size}" if size else "")


_ACCOUNT: dict[str, Resolver] = {
    "avatarUrl": lambda a, c, args: _avatar(c, a.id, args.get("size")),
    "createdAt": lambda a, c, _: _iso(a.created_at),
    "databaseId": lambda a, c, _: a.id,
    "id": lambda a, c, _: a.node_id,
    "login": lambda a, c, _: _login(a),
    "resourcePath": lambda a, c, _: _account_path(a),
    "updatedAt": lambda a, c, _: _iso(a.created_at),
    "url": lambda a, c, _: c.web + _account_path(a),
}


def _members(account: Account, context: _Context, args: dict[str, Any]) -> _Connection:
    org = context.world.org(account.login)
    roles = {login.lower(): role for login, role in org.members.items()} if org else {}
    if org is not None and context.token.login.lower() not in roles:
        # GitHub: outsiders see the public members only (the same ones REST lists).
        roles = {k: v for k, v in roles.items() if is_public_member(org, k)}
    people = sorted((context.world.accounts[login] for login in roles), key=lambda a: a.id)
    # Bots cannot be organization members on GitHub (the nodes are Users), so none is listed.
    entries = [((person.id,), person) for person in people if person.type == "User"]
    return _Connection(
        context, entries, False, args, lambda p: {"role": roles[p.login.lower()].upper()}
    )


_REPO_ORDER: dict[str, Callable[[Repo], tuple[Any, ...]]] = {
    "CREATED_AT": lambda r: (_epoch(r.created_at), r.id),
    "NAME": lambda r: (r.name.lower(), r.id),
    "PUSHED_AT": lambda r: (_epoch(r.pushed_at) if r.pushed_at else 0, r.id),
    "UPDATED_AT": lambda r: (_epoch(r.updated_at), r.id),
}


def _repositories(account: Account, context: _Context, args: dict[str, Any]) -> _Connection:
    org = context.world.org(account.login)
    repos = [
        r for r in (org.repos if org else []) if _visible(context, r) and _repo_matches(r, args)
    ]
    order = args.get("orderBy")
    key = _REPO_ORDER[order["field"]] if order else lambda r: (r.id,)
    descending = bool(order and order["direction"] == "DESC")
    repos.sort(key=key, reverse=descending)
    return _Connection(context, [(key(r), r) for r in repos], descending, args)


def _repo_matches(repo: Repo, args: dict[str, Any]) -> bool:
    if args.get("isArchived") is not None and repo.archived != args["isArchived"]:
        return False
    if args.get("isFork") is not None and repo.fork != args["isFork"]:
        return False
    privacy = args.get("privacy")
    return privacy is None or (privacy == "PRIVATE") == repo.private


# -- search -----------------------------------------------------------------------------------

# GitHub: https://docs.github.com/search-github/searching-on-github/searching-issues-and-pull-requests
# The qualifiers the sandbox understands: repo:OWNER/NAME, is:pr, updated:>=T, updated:>T,
# updated:<=T, updated:<T and updated:A..B, with T a date or an ISO 8601 time.
_UPDATED = re.compile(r"updated:(>=|<=|>|<)?([0-9T:.+\-Z]+?)(?:\.\.([0-9T:.+\-Z]+))?$")


def _search(_: Any, context: _Context, args: dict[str, Any]) -> _Connection:
    """Search pull requests: what ``type: ISSUE`` with ``is:pr`` finds, newest update first."""
    terms = args["query"].split()
    repos = [t.removeprefix("repo:") for t in terms if t.startswith("repo:")]
    tests = [test for t in terms if (test := _updated_test(t)) is not None]
    found: list[tuple[tuple[Any, ...], Any]] = []
    if args["type"] == "ISSUE" and "is:pr" in terms:
        for full_name in repos:
            owner, _, name = full_name.partition("/")
            repo = context.world.repo(owner, name)
            if repo is None or not _visible(context, repo):
                continue  # GitHub finds nothing where the viewer may not look
            for pr in context.world.sorted_pulls(repo, "updated", True):
                if all(test(pr.updated_at) for test in tests):
                    found.append(((_epoch(pr.updated_at), repo.id, pr.number), _PR(repo, pr)))
    found.sort(key=lambda entry: entry[0], reverse=True)
    return _Connection(context, found, True, args)


def _updated_test(term: str) -> Callable[[datetime], bool] | None:
    match = _UPDATED.match(term)
    if match is None:
        return None
    operator, start, end = match.groups()
    low = _search_time(start)
    if end is not None:
        high = _search_time(end)
        return lambda t: low <= t <= high
    tests: dict[str | None, Callable[[datetime], bool]] = {
        ">=": lambda t: t >= low,
        ">": lambda t: t > low,
        "<=": lambda t: t <= low,
        "<": lambda t: t < low,
        None: lambda t: t.date() == low.date(),
    }
    return tests[operator]


def _search_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- repositories and pull requests -------------------------------------------------------------


def _pull_request(repo: Repo, context: _Context, args: dict[str, Any]) -> _PR:
    pr = context.world.pull(repo, args["number"])
    if pr is None:
        raise not_found(f"Could not resolve to a PullRequest with the number of {args['number']}.")
    return _PR(repo, pr)


def _pull_requests(repo: Repo, context: _Context, args: dict[str, Any]) -> _Connection:
    order = args.get("orderBy")
    key: Callable[[PullRequest], tuple[Any, ...]]
    if order:
        attr = {"CREATED_AT": "created", "UPDATED_AT": "updated"}[order["field"]]
        descending = order["direction"] == "DESC"
        pulls = context.world.sorted_pulls(repo, attr, descending)
        key = lambda pr: (_epoch(getattr(pr, f"{attr}_at")), pr.number)  # noqa: E731
    else:  # GitHub's default order: oldest first
        pulls, descending = [pr for pr in context.world.pulls(repo) if not pr.deleted], False
        key = lambda pr: (pr.number,)  # noqa: E731
    entries = [(key(pr), _PR(repo, pr)) for pr in pulls if _pull_matches(pr, args)]
    return _Connection(context, entries, descending, args)


def _pull_matches(pr: PullRequest, args: dict[str, Any]) -> bool:
    if args.get("states") and pr.graphql_state not in args["states"]:
        return False
    if args.get("baseRefName") is not None and pr.base_ref != args["baseRefName"]:
        return False
    if args.get("headRefName") is not None and pr.head_ref != args["headRefName"]:
        return False
    return not args.get("labels")  # the world's pull requests carry no labels


def _reviews(pull: _PR, context: _Context, args: dict[str, Any]) -> _Connection:
    states, author = args.get("states"), (args.get("author") or "").lower()
    # Chronological, as REST lists them (a review submitted late may have a lower id).
    entries = [
        ((_epoch(review.submitted_at), review.id), _Review(pull.repo, pull.pr, review))
        for review in sorted(pull.pr.reviews, key=lambda r: (r.submitted_at, r.id))
        if (not states or review.state in states) and author in ("", review.author.login.lower())
    ]
    return _Connection(context, entries, False, args)


def _commits(pull: _PR, context: _Context, args: dict[str, Any]) -> _Connection:
    entries = [((i,), _PRCommit(pull.repo, pull.pr, i)) for i in range(len(pull.pr.commits))]
    return _Connection(context, entries, False, args)


def _review_commit(item: _Review, _context: _Context, _args: dict[str, Any]) -> _Commit | None:
    commit = next((c for c in item.pr.commits if c.sha == item.review.commit_sha), None)
    return _Commit(item.repo, commit) if commit else None


_REPOSITORY: dict[str, Resolver] = {
    "createdAt": lambda r, c, _: _iso(r.created_at),
    "databaseId": lambda r, c, _: r.id,
    "id": lambda r, c, _: r.node_id,
    "isArchived": lambda r, c, _: r.archived,
    "isFork": lambda r, c, _: r.fork,
    "isPrivate": lambda r, c, _: r.private,
    "nameWithOwner": lambda r, c, _: r.full_name,
    "primaryLanguage": lambda r, c, _: _Language(r.language) if r.language else None,
    "pullRequest": _pull_request,
    "pullRequests": _pull_requests,
    "pushedAt": lambda r, c, _: _iso(r.pushed_at),
    "resourcePath": lambda r, c, _: f"/{r.full_name}",
    "updatedAt": lambda r, c, _: _iso(r.updated_at),
    "url": lambda r, c, _: f"{c.web}/{r.full_name}",
    "visibility": lambda r, c, _: "PRIVATE" if r.private else "PUBLIC",
}

_PULL_REQUEST: dict[str, Resolver] = {
    "additions": lambda p, c, _: p.pr.additions,
    "author": lambda p, c, _: p.pr.author,
    "baseRefName": lambda p, c, _: p.pr.base_ref,
    "body": lambda p, c, _: p.pr.body,
    "changedFiles": lambda p, c, _: p.pr.changed_files,
    "closed": lambda p, c, _: p.pr.closed_at is not None,
    "closedAt": lambda p, c, _: _iso(p.pr.closed_at),
    "commits": _commits,
    "createdAt": lambda p, c, _: _iso(p.pr.created_at),
    "databaseId": lambda p, c, _: p.pr.id,
    "deletions": lambda p, c, _: p.pr.deletions,
    "fullDatabaseId": lambda p, c, _: str(p.pr.id),  # BigInt: a string, as GitHub sends it
    "headRefName": lambda p, c, _: p.pr.head_ref,
    "headRefOid": lambda p, c, _: p.pr.commits[-1].sha,
    "id": lambda p, c, _: p.pr.node_id,
    "isDraft": lambda p, c, _: p.pr.draft,
    "merged": lambda p, c, _: p.pr.merged_at is not None,
    "mergedAt": lambda p, c, _: _iso(p.pr.merged_at),
    "mergedBy": lambda p, c, _: p.pr.merged_by,
    "number": lambda p, c, _: p.pr.number,
    "repository": lambda p, c, _: p.repo,
    "resourcePath": lambda p, c, _: p.path,
    "reviews": _reviews,
    "state": lambda p, c, _: p.pr.graphql_state,
    "title": lambda p, c, _: p.pr.title,
    "updatedAt": lambda p, c, _: _iso(p.pr.updated_at),
    "url": lambda p, c, _: c.web + p.path,
}

_REVIEW: dict[str, Resolver] = {
    "author": lambda r, c, _: r.review.author,
    "body": lambda r, c, _: r.review.body,
    "commit": _review_commit,
    "createdAt": lambda r, c, _: _iso(r.review.submitted_at),
    "databaseId": lambda r, c, _: r.review.id,  # null + error beyond 32 bits, as on GitHub
    "fullDatabaseId": lambda r, c, _: str(r.review.id),
    "id": lambda r, c, _: r.review.node_id,
    "pullRequest": lambda r, c, _: _PR(r.repo, r.pr),
    "state": lambda r, c, _: r.review.state,
    "submittedAt": lambda r, c, _: _iso(r.review.submitted_at),
    "url": lambda r, c, _: f"{c.web}{_PR(r.repo, r.pr).path}#pullrequestreview-{r.review.id}",
}


def _pr_commit_path(item: _PRCommit) -> str:
    return f"{_PR(item.repo, item.pr).path}/commits/{item.pr.commits[item.index].sha}"


_PR_COMMIT: dict[str, Resolver] = {
    "commit": lambda i, c, _: _Commit(i.repo, i.pr.commits[i.index]),
    "id": lambda i, c, _: node_id("PURC", i.pr.id * 1000 + i.index),
    "pullRequest": lambda i, c, _: _PR(i.repo, i.pr),
    "resourcePath": lambda i, c, _: _pr_commit_path(i),
    "url": lambda i, c, _: c.web + _pr_commit_path(i),
}

_COMMIT: dict[str, Resolver] = {
    "abbreviatedOid": lambda i, c, _: i.commit.sha[:7],
    "additions": lambda i, c, _: i.commit.additions,
    "author": lambda i, c, _: _GitActor(i.commit, i.commit.authored_at),
    "authoredDate": lambda i, c, _: _iso(i.commit.authored_at),
    "committedDate": lambda i, c, _: _iso(i.commit.committed_at),
    "committer": lambda i, c, _: _GitActor(i.commit, i.commit.committed_at),
    "deletions": lambda i, c, _: i.commit.deletions,
    "id": lambda i, c, _: i.commit.node_id,
    "message": lambda i, c, _: i.commit.message,
    "messageHeadline": lambda i, c, _: i.commit.message.split("\n")[0],
    "oid": lambda i, c, _: i.commit.sha,
    "resourcePath": lambda i, c, _: f"/{i.repo.full_name}/commit/{i.commit.sha}",
    "url": lambda i, c, _: f"{c.web}/{i.repo.full_name}/commit/{i.commit.sha}",
}


def _git_actor_avatar(actor: _GitActor, context: _Context, args: dict[str, Any]) -> str:
    if actor.commit.author is not None:
        return _avatar(context, actor.commit.author.id, args.get("size"))
    return f"{context.web}/avatars/u/e?email={actor.commit.author_email}" + (
        f"&s={args['size']}" if args.get("size") else ""
    )


_GIT_ACTOR: dict[str, Resolver] = {
    "avatarUrl": _git_actor_avatar,
    "date": lambda g, c, _: g.date.astimezone(UTC).isoformat(timespec="seconds"),
    "email": lambda g, c, _: g.commit.author_email,
    "name": lambda g, c, _: g.commit.author_name,
    "user": lambda g, c, _: g.commit.author,
}


# -- connections ------------------------------------------------------------------------------

_CURSOR_PREFIX = "cursor:v2:"


def _encode_cursor(key: tuple[Any, ...]) -> str:
    text = _CURSOR_PREFIX + json.dumps(list(key), separators=(",", ":"))
    return base64.b64encode(text.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[Any, ...]:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        if text.startswith(_CURSOR_PREFIX):
            key = json.loads(text.removeprefix(_CURSOR_PREFIX))
            if isinstance(key, list):
                return tuple(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise _invalid_cursor(cursor)


def _invalid_cursor(cursor: str) -> GraphQLError:
    message = f"`{cursor}` does not appear to be a valid cursor."
    return GraphQLError(message, extensions={"type": "INVALID_CURSOR_ARGUMENTS"})


class _Connection:
    """One page of a connection, cut the way GitHub's cursor pagination cuts it.

    ``entries`` are (sort key, item) in the connection's order; a cursor is the sort key of
    its item, so "after" means strictly past that key even when items moved meanwhile.
    """

    def __init__(
        self,
        context: _Context,
        entries: list[tuple[tuple[Any, ...], Any]],
        descending: bool,
        args: dict[str, Any],
        edge_extra: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        self.context = context
        self.entries = entries
        self.descending = descending
        self.first, self.last = args.get("first"), args.get("last")
        self.after = _decode_cursor(args["after"]) if args.get("after") is not None else None
        self.before = _decode_cursor(args["before"]) if args.get("before") is not None else None
        self.cursors = {"after": args.get("after"), "before": args.get("before")}
        self.edge_extra = edge_extra
        self._bounds: tuple[int, int] | None = None

    def bounds(self) -> tuple[int, int]:
        """Return the [start, end) slice of ``entries`` on this page, counting its nodes once."""
        if self._bounds is None:
            start, end = self._window()
            if self.first is not None:
                end = min(end, start + self.first)
            if self.last is not None:
                start = max(start, end - self.last)
            self._bounds = (start, end)
            self.context.nodes += end - start
        return self._bounds

    def _window(self) -> tuple[int, int]:
        keys = [key for key, _ in self.entries]
        start, end = 0, len(keys)
        try:
            if self.after is not None:
                start = next((i for i, k in enumerate(keys) if self._past(k, self.after)), end)
            if self.before is not None:
                end = next((i for i, k in enumerate(keys) if not self._past(self.before, k)), end)
        except TypeError:  # a cursor from another connection
            raise _invalid_cursor(str(self.cursors["after"] or self.cursors["before"])) from None
        return start, max(start, end)

    def _past(self, key: tuple[Any, ...], mark: tuple[Any, ...]) -> bool:
        return key < mark if self.descending else key > mark

    def page(self) -> list[tuple[tuple[Any, ...], Any]]:
        start, end = self.bounds()
        return self.entries[start:end]

    def edges(self) -> list[dict[str, Any]]:
        extra = self.edge_extra or (lambda _: {})
        return [{"cursor": _encode_cursor(k), "node": n, **extra(n)} for k, n in self.page()]

    def page_info(self) -> dict[str, Any]:
        start, end = self.bounds()
        page = self.entries[start:end]
        return {
            "endCursor": _encode_cursor(page[-1][0]) if page else None,
            "hasNextPage": end < len(self.entries),
            "hasPreviousPage": start > 0,
            "startCursor": _encode_cursor(page[0][0]) if page else None,
        }


_CONNECTION: dict[str, Resolver] = {
    "edges": lambda conn, c, _: conn.edges(),
    "nodes": lambda conn, c, _: [node for _, node in conn.page()],
    "pageInfo": lambda conn, c, _: conn.page_info(),
    "totalCount": lambda conn, c, _: len(conn.entries),
}

_FIELDS: dict[str, dict[str, Resolver]] = {
    "Query": {
        "node": _node,
        "organization": _organization,
        "rateLimit": lambda _, c, __: c.rate_limit,
        "repository": _repository,
        "search": _search,
        "user": _user,
        "viewer": _viewer,
    },
    "User": {**_ACCOUNT, "email": lambda a, c, _: a.email or ""},
    "Bot": _ACCOUNT,
    "Organization": {
        **_ACCOUNT,
        "description": lambda a, c, _: getattr(c.world.org(a.login), "description", None),
        "membersWithRole": _members,
        "repositories": _repositories,
    },
    "Repository": _REPOSITORY,
    "Language": {"id": lambda lang, c, _: node_id("LA", zlib.crc32(lang.name.encode()))},
    "PullRequest": _PULL_REQUEST,
    "PullRequestReview": _REVIEW,
    "PullRequestCommit": _PR_COMMIT,
    "Commit": _COMMIT,
    "GitActor": _GIT_ACTOR,
    "SearchResultItemConnection": {
        **_CONNECTION,
        "issueCount": lambda conn, c, _: len(conn.entries),
        **{
            kind: lambda conn, c, _: 0
            for kind in (
                "codeCount",
                "discussionCount",
                "repositoryCount",
                "userCount",
                "wikiCount",
            )
        },
    },
    **{
        name: _CONNECTION
        for name in (
            "OrganizationMemberConnection",
            "RepositoryConnection",
            "PullRequestConnection",
            "PullRequestReviewConnection",
            "PullRequestCommitConnection",
        )
    },
}
