"""Every GitHub answer the product reads, in every shape the sandbox gives (null variants
included), holds to GitHub's published contract: REST answers validate against the OpenAPI
description, GraphQL answers type-check against GitHub's schema."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import requests
from graphql import (
    FieldNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    parse,
)
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.testing import RunningSandbox
from sync.github import org, orgs, pulls, queries
from sync.github.client import Session
from tests.contract import github_spec_path, load_openapi_spec

# What the product reads over REST (sync.github.orgs and sync.github.org), in each shape:
# acme has every field filled in; globex has null company/email/location/description and a
# repository never pushed to.
REST_READS = [
    "/user",
    "/user/orgs?per_page=100&page=1",
    "/user/memberships/orgs/acme",
    "/user/memberships/orgs/globex",
    "/orgs/acme/repos?type=all&sort=pushed&direction=desc&per_page=100",
    "/orgs/globex/repos?type=all&sort=pushed&direction=desc&per_page=100",
    "/orgs/acme/members?per_page=100&role=admin",
    "/orgs/acme/members?per_page=100&role=all",
    "/orgs/globex/members?per_page=100&role=all",
]
READ_ENDPOINTS = {
    "GET /user",
    "GET /user/orgs",
    "GET /user/memberships/orgs/{org}",
    "GET /orgs/{org}/repos",
    "GET /orgs/{org}/members",
}


@pytest.fixture(scope="module")
def openapi(sandbox: RunningSandbox) -> OpenAPI:
    return OpenAPI.from_dict(load_openapi_spec(sandbox.api_url))


@pytest.fixture
def token(github: RunningSandbox) -> str:
    return github.control.issue_token("mona", ["read:org", "repo"])


def _get(sandbox: RunningSandbox, path: str, token: str) -> requests.Response:
    headers = {"Authorization": f"token {token}"}
    return requests.get(f"{sandbox.api_url}{path}", headers=headers, timeout=10)


def test_it_reads_only_rest_answers_that_validate_against_githubs_description(
    openapi: OpenAPI, github: RunningSandbox, token: str
) -> None:
    for path in REST_READS:
        response = _get(github, path, token)
        assert response.status_code == 200, (path, response.text)
        openapi.validate_response(
            RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
        )
    github.control.reset_counters()

    orgs.preflight(token)
    orgs.list_user_orgs(token)
    for login in ("acme", "globex"):
        orgs.get_org_membership(token, login)
        orgs.list_org_repos(token, login)
        org.list_members(Session(token), org=login)

    assert set(github.control.counters()["by_endpoint"]) == READ_ENDPOINTS


def test_it_reads_the_null_variants_as_github_sends_them(
    github: RunningSandbox, token: str
) -> None:
    globex = {r.name: r for r in orgs.list_org_repos(token, "globex")}
    membership = orgs.get_org_membership(token, "globex")

    assert globex["empty"].pushed_at is None
    assert membership.organization.description == ""


# -- GraphQL ------------------------------------------------------------------------------------


@cache
def github_schema() -> GraphQLSchema:
    return build_schema(
        github_spec_path("schema.graphql").read_text(), assume_valid=True, assume_valid_sdl=True
    )


def type_errors(query: str, data: Any) -> list[str]:
    """Return where ``data`` breaks the types GitHub's schema gives ``query``'s fields."""
    schema = github_schema()
    operation = next(d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode))
    errors: list[str] = []
    assert schema.query_type is not None
    _check_selection(schema, operation.selection_set, schema.query_type, data, "", errors)
    return errors


def _check_selection(
    schema: GraphQLSchema,
    selection: SelectionSetNode,
    parent: Any,
    value: Any,
    path: str,
    errors: list[str],
) -> None:
    if not isinstance(value, dict):
        errors.append(f"{path or 'data'}: an object expected, got {value!r:.60}")
        return
    typename = value.get("__typename")
    for node in selection.selections:
        if isinstance(node, InlineFragmentNode):
            condition = node.type_condition.name.value if node.type_condition else None
            if condition is None or typename in (None, condition):
                target = schema.get_type(condition) if condition else parent
                _check_selection(schema, node.selection_set, target, value, path, errors)
            continue
        assert isinstance(node, FieldNode)
        key = (node.alias or node.name).value
        if node.name.value == "__typename":
            continue
        field = parent.fields[node.name.value]
        if key not in value:
            errors.append(f"{path}.{key}: missing")
            continue
        _check_value(schema, node, field.type, value[key], f"{path}.{key}", errors)


def _check_value(
    schema: GraphQLSchema, node: FieldNode, kind: Any, value: Any, path: str, errors: list[str]
) -> None:
    if isinstance(kind, GraphQLNonNull):
        if value is None:
            errors.append(f"{path}: null for a non-null {kind}")
            return
        kind = kind.of_type
    if value is None:
        return
    if isinstance(kind, GraphQLList):
        if not isinstance(value, list):
            errors.append(f"{path}: a list expected")
            return
        for i, item in enumerate(value):
            _check_value(schema, node, kind.of_type, item, f"{path}[{i}]", errors)
        return
    if isinstance(kind, GraphQLScalarType | GraphQLEnumType):
        if not _scalar_fits(kind, value):
            errors.append(f"{path}: {value!r:.40} is not a {kind.name}")
        return
    assert node.selection_set is not None
    target = kind
    if not isinstance(kind, GraphQLObjectType) and isinstance(value, dict):
        target = schema.get_type(value.get("__typename", "")) or kind
    _check_selection(schema, node.selection_set, target, value, path, errors)


def _scalar_fits(kind: Any, value: Any) -> bool:
    if isinstance(kind, GraphQLEnumType):
        return value in kind.values
    expected = {"Int": int, "Float": int | float, "Boolean": bool}.get(kind.name, str)
    return isinstance(value, expected) and not (kind.name == "Int" and isinstance(value, bool))


def _post(sandbox: RunningSandbox, token: str, query: str, variables: dict[str, Any]) -> Any:
    response = requests.post(
        sandbox.graphql_url,
        json={"query": query, "variables": variables},
        headers={"Authorization": f"bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _long_tail(sandbox: RunningSandbox, token: str) -> tuple[str, int]:
    for repo in ("api", "web"):
        page = _post(
            sandbox,
            token,
            queries.PULL_REQUESTS_QUERY,
            {"owner": "acme", "name": repo, "first": 20, "after": None},
        )
        for node in page["data"]["repository"]["pullRequests"]["nodes"]:
            if node["commits"]["totalCount"] > 100 or node["reviews"]["totalCount"] > 50:
                return repo, node["number"]
    raise AssertionError("the sandbox world has no long-tail pull request")


def test_it_reads_only_graphql_answers_that_type_check_against_githubs_schema(
    github: RunningSandbox, token: str
) -> None:
    repo, number = _long_tail(github, token)
    pages = {"owner": "acme", "name": "api", "first": 100, "after": None}
    follow = {"owner": "acme", "name": repo, "number": number, "after": None}
    checked = [
        (queries.PULL_REQUESTS_QUERY, pages),
        (queries.PULL_REQUEST_TIMES_QUERY, pages),
        (queries.PULL_REQUEST_REVIEWS_QUERY, follow),
        (queries.PULL_REQUEST_COMMITS_QUERY, follow),
    ]
    nulls = 0
    for query, variables in checked:
        answer = _post(github, token, query, variables)
        assert "errors" not in answer, answer
        assert type_errors(query, answer["data"]) == []
        nulls += str(answer["data"]).count("'author': None")

    assert nulls  # the deleted-author variant was among what was checked


def test_it_parses_the_deleted_author_variant(github: RunningSandbox, token: str) -> None:
    page = pulls.fetch_pull_requests(
        Session(token), owner="acme", name="api", first=100, after=None
    )

    assert "ghost" in {pull.author_login for pull in page.pulls}
    assert not page.skipped


def test_it_notices_an_answer_that_breaks_the_schema() -> None:
    broken = {"rateLimit": {"cost": "1", "limit": 5000, "remaining": None, "resetAt": "x"}}

    errors = type_errors(queries.PULL_REQUEST_TIMES_QUERY, broken)

    assert ".rateLimit.cost: '1' is not a Int" in errors
    assert ".rateLimit.remaining: null for a non-null Int!" in errors
    assert ".repository: missing" in errors
