from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from github import Github, GithubException, UnknownObjectException
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    parse,
    print_ast,
    validate,
)

from sandbox.github.graphql import GraphQLResult, execute, load_schema
from sandbox.github.world import Sizes, World
from sandbox.testing import SandboxControl
from tests.contract import github_spec_path

PULL_REQUEST_PAGE = """
query PullRequestPage($owner: String!, $name: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining used nodeCount }
  repository(owner: $owner, name: $name) {
    pullRequests(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: DESC}) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        number
        updatedAt
        author { __typename login }
        reviews(first: 50) {
          totalCount
          nodes { fullDatabaseId state author { login } commit { oid } }
        }
        commits(first: 50) {
          totalCount
          nodes { commit { oid authoredDate author { name email user { login databaseId } } } }
        }
      }
    }
  }
}
"""

PULL_REQUEST_DETAIL = """
query PullRequestDetail($owner: String!, $name: String!, $number: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      number
      reviews(first: 50) { totalCount pageInfo { hasNextPage endCursor } nodes { fullDatabaseId } }
      commits(first: 100, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        nodes { commit { oid } }
      }
    }
  }
}
"""

NESTED_COST = """
query NestedCost {
  rateLimit { cost nodeCount }
  organization(login: "acme") {
    repositories(first: 10) {
      nodes { pullRequests(first: 100) { nodes { reviews(first: 10) { totalCount } } } }
    }
  }
}
"""

TOO_MANY_NODES = """
query TooManyNodes {
  organization(login: "acme") {
    repositories(first: 100) {
      nodes { pullRequests(first: 100) { nodes { commits(first: 100) { totalCount } } } }
    }
  }
}
"""

DRY_RUN = """
query DryRun {
  rateLimit(dryRun: true) { cost remaining }
  repository(owner: "acme", name: "api") { pullRequests(first: 100) { totalCount } }
}
"""

ORGANIZATION = """
query Organization($login: String!) {
  organization(login: $login) {
    login
    membersWithRole(first: 100) { totalCount edges { role node { login databaseId } } }
    repositories(first: 100, orderBy: {field: NAME, direction: ASC}, isArchived: false) {
      totalCount
      nodes { databaseId name nameWithOwner isPrivate isArchived isFork pushedAt owner { login } }
    }
  }
}
"""

SAMPLE_QUERIES = {
    "PULL_REQUEST_PAGE": PULL_REQUEST_PAGE,
    "PULL_REQUEST_DETAIL": PULL_REQUEST_DETAIL,
    "NESTED_COST": NESTED_COST,
    "TOO_MANY_NODES": TOO_MANY_NODES,
    "DRY_RUN": DRY_RUN,
    "ORGANIZATION": ORGANIZATION,
}

API = {"owner": "acme", "name": "api"}


@pytest.fixture
def gh(github_for: Callable[..., Github]) -> Github:
    # PyGithub waits 1 s between POSTs, so between GraphQL queries, unless told not to.
    return github_for("mona", ["read:org", "repo", "user"], seconds_between_writes=None)


def run(gh: Github, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    _headers, body = gh.requester.graphql_query(query, variables or {})
    return body["data"]


def refusal(gh: Github, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    with pytest.raises(GithubException) as raised:
        gh.requester.graphql_query(query, variables or {})
    assert raised.value.status == 400  # PyGithub's status for any GraphQL error list
    return raised.value.data  # type: ignore[return-value]


def all_pull_requests(gh: Github, after: str | None = None) -> tuple[list[dict[str, Any]], int]:
    nodes: list[dict[str, Any]] = []
    while True:
        page = run(gh, PULL_REQUEST_PAGE, {**API, "first": 25, "after": after})
        connection = page["repository"]["pullRequests"]
        nodes += connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, connection["totalCount"]
        after = connection["pageInfo"]["endCursor"]


# -- pagination ---------------------------------------------------------------------------------


def test_it_pages_pull_requests_newest_update_first_through_many_pages(gh: Github) -> None:
    nodes, total = all_pull_requests(gh)

    keys = [(node["updatedAt"], node["number"]) for node in nodes]
    assert total > 3 * 25
    assert len(nodes) == total
    assert sorted({node["number"] for node in nodes}) == list(range(1, total + 1))
    assert keys == sorted(keys, reverse=True)


def test_it_continues_after_a_cursor_when_a_pull_request_is_updated(
    gh: Github, control: SandboxControl
) -> None:
    first = run(gh, PULL_REQUEST_PAGE, {**API, "first": 25})["repository"]["pullRequests"]
    seen = [node["number"] for node in first["nodes"]]
    rest, total = all_pull_requests(gh)
    moved = rest[60]["number"]  # not yet fetched by a client that stopped after page one

    control.update_pull("acme", "api", moved, title="Touched while paging")
    later, _ = all_pull_requests(gh, after=first["pageInfo"]["endCursor"])

    numbers = [node["number"] for node in later]
    assert moved not in numbers  # it moved ahead of the cursor, as on GitHub
    assert not set(numbers) & set(seen)
    assert len(numbers) == total - len(seen) - 1
    newest = run(gh, PULL_REQUEST_PAGE, {**API, "first": 25})["repository"]["pullRequests"]
    assert moved in [node["number"] for node in newest["nodes"]]


def test_it_returns_long_tail_reviews_and_commits_beyond_one_page(gh: Github) -> None:
    total = run(gh, PULL_REQUEST_PAGE, {**API, "first": 1})["repository"]["pullRequests"]
    newest, second = total["totalCount"], total["totalCount"] - 1
    many_commits, many_reviews = (newest, second) if newest % 2 == 0 else (second, newest)

    page = run(gh, PULL_REQUEST_DETAIL, {**API, "number": many_commits})
    commits = page["repository"]["pullRequest"]["commits"]
    rest = run(
        gh,
        PULL_REQUEST_DETAIL,
        {**API, "number": many_commits, "after": commits["pageInfo"]["endCursor"]},
    )["repository"]["pullRequest"]["commits"]
    reviewed = run(gh, PULL_REQUEST_DETAIL, {**API, "number": many_reviews})
    reviews = reviewed["repository"]["pullRequest"]["reviews"]

    assert (commits["totalCount"], len(commits["nodes"])) == (130, 100)
    assert commits["pageInfo"]["hasNextPage"] is True
    assert (len(rest["nodes"]), rest["pageInfo"]["hasNextPage"]) == (30, False)
    oids = {node["commit"]["oid"] for node in commits["nodes"] + rest["nodes"]}
    assert len(oids) == 130
    assert (reviews["totalCount"], len(reviews["nodes"])) == (60, 50)
    assert reviews["pageInfo"]["hasNextPage"] is True


def test_it_names_bots_as_githubs_graphql_does(gh: Github) -> None:
    nodes, _ = all_pull_requests(gh)

    authors = [n["author"] for n in nodes if n["author"] is not None]
    bots = {a["login"] for a in authors if a["__typename"] == "Bot"}
    assert bots
    assert not {login for login in bots if login.endswith("[bot]")}


def test_it_answers_null_for_a_database_id_beyond_32_bits(gh: Github) -> None:
    # GitHub's review ids outgrew GraphQL's Int; `databaseId` is deprecated for `fullDatabaseId`.
    query = """{ repository(owner: "acme", name: "api") { pullRequests(first: 1) {
      nodes { reviews(first: 1) { nodes { databaseId fullDatabaseId } } } } } }"""

    body = refusal(gh, query)

    review = body["data"]["repository"]["pullRequests"]["nodes"][0]["reviews"]["nodes"][0]
    assert review["databaseId"] is None
    assert int(review["fullDatabaseId"]) > 2**31
    assert body["errors"][0]["path"][-1] == "databaseId"


def test_it_lists_an_organizations_members_and_repositories(gh: Github) -> None:
    org = run(gh, ORGANIZATION, {"login": "acme"})["organization"]

    members = org["membersWithRole"]
    repos = org["repositories"]
    assert members["totalCount"] == len(members["edges"])
    assert {"role": "ADMIN", "node": {"login": "mona", "databaseId": 1001}} in members["edges"]
    assert [r["name"] for r in repos["nodes"]] == sorted(r["name"] for r in repos["nodes"])
    assert repos["totalCount"] == len(repos["nodes"]) >= 1
    assert not [r for r in repos["nodes"] if r["isArchived"]]


# -- refusals, in GitHub's words ----------------------------------------------------------------


def test_it_refuses_an_unknown_field_as_github_does(gh: Github) -> None:
    body = refusal(gh, '{ repository(owner: "acme", name: "api") { stargazerCount } }')

    assert body == {
        "errors": [
            {
                "path": ["query", "repository", "stargazerCount"],
                "extensions": {
                    "code": "undefinedField",
                    "typeName": "Repository",
                    "fieldName": "stargazerCount",
                },
                "locations": [{"line": 1, "column": 44}],
                "message": "Field 'stargazerCount' doesn't exist on type 'Repository'",
            }
        ]
    }


def test_it_refuses_a_connection_without_first_or_last(gh: Github) -> None:
    body = refusal(
        gh, '{ repository(owner: "acme", name: "api") { pullRequests { nodes { id } } } }'
    )

    assert body == {
        "data": None,
        "errors": [
            {
                "type": "MISSING_PAGINATION_BOUNDARIES",
                "path": ["repository", "pullRequests"],
                "locations": [{"line": 1, "column": 44}],
                "message": "You must provide a `first` or `last` value to properly paginate "
                "the `pullRequests` connection.",
            }
        ],
    }


def test_it_counts_a_connection_without_first_or_last(gh: Github) -> None:
    data = run(gh, '{ repository(owner: "acme", name: "api") { pullRequests { totalCount } } }')

    assert data["repository"]["pullRequests"]["totalCount"] > 0


def test_it_refuses_more_than_100_records_on_a_connection(gh: Github) -> None:
    query = """query($n: Int!) { repository(owner: "acme", name: "api") {
      pullRequests(first: 5) { nodes { commits(first: $n) { totalCount } } } } }"""

    body = refusal(gh, query, {"n": 101})

    assert body == {
        "data": None,
        "errors": [
            {
                "type": "EXCESSIVE_PAGINATION",
                "path": ["repository", "pullRequests", "nodes", "commits"],
                "locations": [{"line": 2, "column": 40}],
                "message": "Requesting 101 records on the `commits` connection exceeds the "
                "`first` limit of 100 records.",
            }
        ],
    }


def test_it_answers_not_found_for_a_missing_repository(gh: Github) -> None:
    with pytest.raises(UnknownObjectException) as raised:
        gh.requester.graphql_query('query { repository(owner: "acme", name: "nope") { id } }', {})

    assert raised.value.data == {
        "data": {"repository": None},
        "errors": [
            {
                "type": "NOT_FOUND",
                "path": ["repository"],
                "locations": [{"line": 1, "column": 9}],
                "message": "Could not resolve to a Repository with the name 'acme/nope'.",
            }
        ],
    }


@pytest.mark.parametrize(
    ("query", "variables", "error"),
    [
        (
            '{ repository(name: "api") { id } }',
            {},
            {
                "path": ["query", "repository"],
                "extensions": {
                    "code": "missingRequiredArguments",
                    "className": "Field",
                    "name": "repository",
                    "arguments": "owner",
                },
                "locations": [{"line": 1, "column": 3}],
                "message": "Field 'repository' is missing required arguments: owner",
            },
        ),
        (
            '{ repository(owner: "acme", name: "api") { pullRequests(first: "9") { totalCount } }}',
            {},
            {
                "path": ["query", "repository", "pullRequests", "first"],
                "extensions": {
                    "code": "argumentLiteralsIncompatible",
                    "typeName": "Field",
                    "argumentName": "first",
                },
                "locations": [{"line": 1, "column": 44}],
                "message": "Argument 'first' on Field 'pullRequests' has an invalid value "
                "(\"9\"). Expected type 'Int'.",
            },
        ),
        (
            "query($n: String!) { viewer { login avatarUrl(size: $n) } }",
            {"n": "4"},
            {
                "path": ["query", "viewer", "avatarUrl", "size"],
                "extensions": {
                    "code": "variableMismatch",
                    "variableName": "n",
                    "typeName": "String!",
                    "argumentName": "size",
                    "errorMessage": "Type mismatch",
                },
                "locations": [{"line": 1, "column": 47}],
                "message": "Type mismatch on variable $n and argument size (String! / Int)",
            },
        ),
        (
            "query($unused: Int) { viewer { login } }",
            {},
            {
                "path": ["query"],
                "extensions": {"code": "variableNotUsed", "variableName": "unused"},
                "locations": [{"line": 1, "column": 1}],
                "message": "Variable $unused is declared by anonymous query but not used",
            },
        ),
        (
            "{ viewer { login }",
            {},
            {"message": "Unexpected end of document", "locations": []},
        ),
        (
            "{ viewer { login } } }",
            {},
            {
                "message": 'Parse error on "}" (RCURLY) at [1, 22]',
                "locations": [{"line": 1, "column": 22}],
            },
        ),
    ],
)
def test_it_refuses_malformed_queries_as_github_does(
    gh: Github, query: str, variables: dict[str, Any], error: dict[str, Any]
) -> None:
    assert refusal(gh, query, variables) == {"errors": [error]}


# -- cost and budget ----------------------------------------------------------------------------


def test_it_charges_a_pull_request_page_by_githubs_formula(gh: Github) -> None:
    # 1 pullRequests request + 50 reviews requests + 50 commits requests = 101 -> 1 point.
    before = run(gh, "{ rateLimit { remaining } }")["rateLimit"]["remaining"]
    page = run(gh, PULL_REQUEST_PAGE, {**API, "first": 50})
    after = run(gh, "{ rateLimit { remaining } }")["rateLimit"]["remaining"]

    assert page["rateLimit"]["cost"] == 1
    assert page["rateLimit"]["nodeCount"] == 50 + 50 * 50 + 50 * 50
    assert page["rateLimit"]["remaining"] == before - 1
    assert after == before - 2


def test_it_charges_nested_connections_by_their_parents_page_sizes(gh: Github) -> None:
    # 1 repositories + 10 pullRequests + 10 x 100 reviews = 1,011 requests -> 10 points.
    before = run(gh, "{ rateLimit { remaining } }")["rateLimit"]["remaining"]

    data = run(gh, NESTED_COST)

    assert data["rateLimit"] == {"cost": 10, "nodeCount": 10 + 10 * 100 + 10 * 100 * 10}
    assert run(gh, "{ rateLimit { remaining } }")["rateLimit"]["remaining"] == before - 10 - 1


def test_it_refuses_a_query_asking_for_more_than_500000_nodes(gh: Github) -> None:
    body = refusal(gh, TOO_MANY_NODES)

    assert body == {
        "data": None,
        "errors": [
            {
                "type": "MAX_NODE_LIMIT_EXCEEDED",
                "message": "This query requests up to 1,010,100 possible nodes which exceeds "
                "the maximum limit of 500,000.",
            }
        ],
    }


def test_it_reports_a_dry_runs_cost_without_charging_it(gh: Github) -> None:
    first = run(gh, DRY_RUN)
    second = run(gh, DRY_RUN)

    assert first == {"rateLimit": {"cost": 1, "remaining": 5000}, "repository": None}
    assert second == first


def test_it_answers_rate_limited_when_a_query_costs_more_than_is_left(
    gh: Github, control: SandboxControl
) -> None:
    control.set_budget(remaining=5, resource="graphql", login="mona")

    body = refusal(gh, NESTED_COST)

    assert body == {
        "errors": [
            {
                "type": "RATE_LIMITED",
                "code": "graphql_rate_limit",
                "message": "API rate limit already exceeded for user ID 1001.",
            }
        ]
    }
    assert run(gh, "{ rateLimit { remaining } }")["rateLimit"]["remaining"] == 4


def test_it_calls_the_budget_keeper_once_with_the_points_to_charge() -> None:
    world = World(seed=3, sizes=Sizes(orgs=1, repos=2, prs=40, long_tail=0))
    token = world.issue_token("mona")
    calls: list[int] = []

    def keeper(points: int) -> dict[str, Any]:
        calls.append(points)
        return {"limit": 5000, "remaining": 4000 - points, "used": 1000 + points, "resetAt": 0}

    answers: list[GraphQLResult] = [
        execute(world, token, {"query": NESTED_COST}, rate_limit=keeper),
        execute(world, token, {"query": DRY_RUN}, rate_limit=keeper),
        execute(world, token, {"query": TOO_MANY_NODES}, rate_limit=keeper),
    ]

    assert calls == [10, 0]
    assert [(a.cost, a.status) for a in answers] == [(10, 200), (0, 200), (0, 200)]
    assert answers[0].payload["data"]["rateLimit"]["cost"] == 10
    assert answers[0].nodes == 2 + 40  # two repositories, then every pull request of each


# -- contract: GitHub's schema ------------------------------------------------------------------


@cache
def github_schema() -> GraphQLSchema:
    # GitHub's SDL repeats two fields, so strict SDL validation would refuse it.
    text = github_spec_path("schema.graphql").read_text()
    # graphql-core 3.3 also refuses deprecated implementations of undeprecated interface fields.
    return build_schema(text, assume_valid_sdl=True, assume_valid=True)


def schema_differences(ours: GraphQLSchema, github: GraphQLSchema) -> list[str]:
    """List what ``ours`` has that GitHub's schema lacks or types differently."""
    problems: list[str] = []
    for name, ours_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        theirs = github.type_map.get(name)
        if theirs is None or type(theirs) is not type(ours_type):
            problems.append(f"type {name}: {'missing' if theirs is None else 'other kind'}")
        elif isinstance(ours_type, GraphQLObjectType | GraphQLInterfaceType):
            problems += _field_differences(name, ours_type, theirs)  # type: ignore[arg-type]
        elif isinstance(ours_type, GraphQLInputObjectType):
            problems += _input_differences(name, ours_type, theirs)  # type: ignore[arg-type]
        elif isinstance(ours_type, GraphQLEnumType):
            extra = set(ours_type.values) - set(theirs.values)  # type: ignore[attr-defined]
            problems += [f"enum value {name}.{value}" for value in sorted(extra)]
        elif isinstance(ours_type, GraphQLUnionType):
            extra = {t.name for t in ours_type.types} - {t.name for t in theirs.types}  # type: ignore[attr-defined]
            problems += [f"union member {name}.{member}" for member in sorted(extra)]
    return problems


def _field_differences(name: str, ours: Any, theirs: Any) -> list[str]:
    problems = [
        f"{name} implements {i.name}"
        for i in ours.interfaces
        if i.name not in {t.name for t in theirs.interfaces}
    ]
    for field_name, field in ours.fields.items():
        other = theirs.fields.get(field_name)
        if other is None or str(other.type) != str(field.type):
            problems.append(f"field {name}.{field_name}: {field.type} vs {other and other.type}")
            continue
        if other.deprecation_reason != field.deprecation_reason:
            problems.append(f"deprecation of {name}.{field_name}")
        problems += _argument_differences(f"{name}.{field_name}", field.args, other.args)
    return problems


def _argument_differences(owner: str, ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    problems = []
    for arg_name, arg in ours.items():
        other = theirs.get(arg_name)
        if other is None or (str(other.type), _default(other)) != (str(arg.type), _default(arg)):
            problems.append(f"argument {owner}({arg_name})")
    for arg_name, arg in theirs.items():
        if arg_name not in ours and str(arg.type).endswith("!") and _default(arg) is None:
            problems.append(f"argument {owner}({arg_name}) is required by GitHub")
    return problems


def _input_differences(name: str, ours: Any, theirs: Any) -> list[str]:
    problems = _argument_differences(name, ours.fields, theirs.fields)
    return [p.replace("argument", "input field") for p in problems]


def _default(argument: Any) -> str | None:
    node = argument.ast_node
    return print_ast(node.default_value) if node is not None and node.default_value else None


def test_it_keeps_its_schema_a_subset_of_githubs() -> None:
    assert schema_differences(load_schema(), github_schema()) == []


def test_it_notices_a_schema_that_strays_from_githubs() -> None:
    strayed = build_schema(
        """
        type Query { repository(owner: String!, name: String!, stars: Int): Repository }
        type Repository { id: ID! name: Int! starCount: Int! }
        enum PullRequestState { OPEN DRAFT }
        """
    )

    assert sorted(schema_differences(strayed, github_schema())) == [
        "argument Query.repository(stars)",
        "enum value PullRequestState.DRAFT",
        "field Repository.name: Int! vs String!",
        "field Repository.starCount: Int! vs None",
    ]


def project_queries() -> dict[str, str]:
    """Return every ``*_QUERY`` string of ``sync.github.queries`` (none until it exists)."""
    try:
        module = importlib.import_module("sync.github.queries")
    except ModuleNotFoundError as error:
        if error.name != "sync.github.queries":
            raise
        return {}
    return {
        name: value
        for name, value in vars(module).items()
        if name.endswith("_QUERY") and isinstance(value, str)
    }


ALL_QUERIES = {**{f"sample:{k}": v for k, v in SAMPLE_QUERIES.items()}, **project_queries()}


@pytest.mark.parametrize("name", sorted(ALL_QUERIES))
def test_it_sends_only_queries_github_accepts(name: str) -> None:
    errors = validate(github_schema(), parse(ALL_QUERIES[name]))

    assert [error.message for error in errors] == []


@pytest.mark.parametrize("name", sorted(ALL_QUERIES))
def test_it_serves_every_query_the_project_sends(name: str) -> None:
    errors = validate(load_schema(), parse(ALL_QUERIES[name]))

    assert [error.message for error in errors] == []
