from __future__ import annotations

from functools import cache

import graphql
import pytest

from sandbox.github.graphql import GraphQLResult
from sync.github import queries
from tests.contract import github_spec_path

QUERIES = {name: value for name, value in vars(queries).items() if name.endswith("_QUERY")}


@cache
def _github_schema() -> graphql.GraphQLSchema:
    text = github_spec_path("schema.graphql").read_text()
    # GitHub's SDL breaks a deprecation rule of the spec; the query checks are what matter.
    return graphql.build_schema(text, assume_valid_sdl=True, assume_valid=True)


def test_it_has_the_queries_the_engine_sends() -> None:
    assert set(QUERIES) >= {
        "PULL_REQUESTS_QUERY",
        "PULL_REQUEST_TIMES_QUERY",
        "PULL_REQUEST_REVIEWS_QUERY",
        "PULL_REQUEST_COMMITS_QUERY",
    }


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_it_sends_only_queries_github_accepts(name: str) -> None:
    errors = graphql.validate(_github_schema(), graphql.parse(QUERIES[name]))

    assert errors == []


def test_it_orders_pull_requests_by_last_update_newest_first() -> None:
    for name in ("PULL_REQUESTS_QUERY", "PULL_REQUEST_TIMES_QUERY"):
        assert "orderBy: {field: UPDATED_AT, direction: DESC}" in QUERIES[name]


def test_it_costs_two_points_for_a_page_of_a_hundred_pull_requests() -> None:
    assert queries.page_cost(100) == 2
    assert queries.page_cost(25) == 1


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_it_sends_only_queries_the_sandbox_answers(name: str) -> None:
    from sandbox.github.graphql import load_schema

    errors = graphql.validate(load_schema(), graphql.parse(QUERIES[name]))

    assert errors == []


@pytest.mark.parametrize("schema", ["github", "sandbox"])
def test_it_asks_what_changed_in_a_query_github_and_the_sandbox_accept(schema: str) -> None:
    from sandbox.github.graphql import load_schema
    from sync.github import changes

    loaded = _github_schema() if schema == "github" else load_schema()
    errors = graphql.validate(loaded, graphql.parse(changes.REPOSITORY_CHANGES_QUERY))

    assert errors == []
    assert changes.REPOSITORY_CHANGES_QUERY.count("repository(owner:") == changes.CHANGES_BATCH


@pytest.mark.parametrize("schema", ["github", "sandbox"])
def test_it_counts_a_batch_and_its_recent_windows_in_one_query_github_accepts(
    schema: str,
) -> None:
    from sandbox.github.graphql import load_schema

    # A first import with a recent phase searches twice per repository.
    query = queries.count_query(2 * queries.COUNT_BATCH)
    loaded = _github_schema() if schema == "github" else load_schema()

    assert graphql.validate(loaded, graphql.parse(query)) == []
    assert query.count("search(type: ISSUE") == 2 * queries.COUNT_BATCH


def test_it_costs_one_point_to_count_a_batch_and_its_recent_windows() -> None:
    from sandbox.github.graphql import _prepare

    searches = 2 * queries.COUNT_BATCH
    variables = {
        f"q{i}": "repo:acme/api is:pr updated:>=2026-11-03T00:00:00Z" for i in range(searches)
    }
    prepared = _prepare({"query": queries.count_query(searches), "variables": variables})

    assert not isinstance(prepared, GraphQLResult), prepared
    assert prepared.points == 1  # GitHub: 50 searches are 50 requests, 0.5 rounds to 1 point
