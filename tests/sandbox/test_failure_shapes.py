"""The sandbox fails the way GitHub fails: GraphQL timeouts in all three shapes (charged), both
rate-limit error types, 429/403 secondary limits per endpoint, GitHub's limit messages, and the
nulls real data carries (deleted authors, unfilled org fields, never-pushed repositories)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import requests

from sandbox.testing import RunningSandbox, SandboxControl
from sync.github import queries

PAGE = {"owner": "acme", "name": "api", "after": None}
TIMEOUT_WORDS = "This may be the result of a timeout"
TIMESTAMP = re.compile(r"and timestamp \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$")


def post_graphql(
    sandbox: RunningSandbox,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    timeout: float = 10,
) -> requests.Response:
    return requests.post(
        sandbox.graphql_url,
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"bearer {token}"},
        timeout=timeout,
    )


def pull_page(sandbox: RunningSandbox, token: str, first: int, **options: Any) -> requests.Response:
    return post_graphql(
        sandbox, token, queries.PULL_REQUESTS_QUERY, PAGE | {"first": first}, **options
    )


def api_get(sandbox: RunningSandbox, path: str, token: str | None) -> requests.Response:
    auth = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{sandbox.api_url}{path}", headers=auth, timeout=10)


def graphql_used(sandbox: RunningSandbox, token: str) -> int:
    return api_get(sandbox, "/rate_limit", token).json()["resources"]["graphql"]["used"]


# -- GraphQL timeouts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "status"), [("502", 502), ("504", 504), ("data_null", 200)], ids=str
)
def test_it_times_out_a_heavy_repositorys_big_page_and_charges_it(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str, shape: str, status: int
) -> None:
    control.set_graphql(shape=shape, wait_s=0)
    control.set_heavy("acme", "api")

    big = pull_page(sandbox, mona_token, 100)
    used_after_big = graphql_used(sandbox, mona_token)
    small = pull_page(sandbox, mona_token, 20)

    assert big.status_code == status
    if shape != "504":
        assert big.json()["data"] is None
        assert TIMEOUT_WORDS in big.json()["errors"][0]["message"]
    assert used_after_big == queries.page_cost(100)  # GitHub charges timeouts since 2025-07-21
    assert small.status_code == 200
    assert small.json()["data"]["repository"]["pullRequests"]["nodes"]
    counters = control.counters()
    assert (counters["graphql_timeouts"], counters["graphql_timeout_points"]) == (1, 2)


def test_it_answers_the_same_page_of_a_light_repository(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_graphql(wait_s=0)
    control.set_heavy("acme", "web")

    response = pull_page(sandbox, mona_token, 100)

    assert response.status_code == 200
    assert response.json()["data"]["repository"]["pullRequests"]["nodes"]


def test_it_keeps_a_client_waiting_past_its_timeout(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_graphql(shape="hang", hang_s=3)
    control.set_heavy("acme", "api")
    started = time.monotonic()

    with pytest.raises(requests.Timeout):
        pull_page(sandbox, mona_token, 100, timeout=1)

    assert time.monotonic() - started < 2.5


def test_it_times_out_a_share_of_queries_through_a_fault(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_graphql(wait_s=0)
    control.add_fault(r"^/api/graphql$", kind="timeout", shape="data_null", count=1)

    first = pull_page(sandbox, mona_token, 10)
    second = pull_page(sandbox, mona_token, 10)

    assert first.json()["data"] is None and TIMEOUT_WORDS in first.text
    assert second.json()["data"]["repository"]
    assert graphql_used(sandbox, mona_token) == 2


# -- rate limits --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["RATE_LIMITED", "RATE_LIMIT"])
def test_it_sends_the_rate_limit_error_type_the_control_api_chooses(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str, kind: str
) -> None:
    control.set_graphql(rate_limit_type=kind)
    control.set_budget(token=mona_token, resource="graphql", remaining=0, reset_in=60)

    response = post_graphql(sandbox, mona_token, "{ viewer { login } }")

    assert response.status_code == 200
    assert response.json()["errors"][0]["type"] == kind
    assert response.headers["x-ratelimit-remaining"] == "0"


def test_it_ends_the_limit_message_with_githubs_timestamp_and_reports_used_past_the_limit(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_budget(token=mona_token, remaining=0, reset_in=60)

    first = api_get(sandbox, "/orgs/acme", mona_token)

    assert first.status_code == 403
    assert TIMESTAMP.search(first.json()["message"]), first.json()["message"]
    assert int(first.headers["x-ratelimit-used"]) >= int(first.headers["x-ratelimit-limit"])


def test_it_answers_an_endpoints_own_secondary_limit_with_429_and_retry_after(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_secondary(status=429, retry_after=7, per_endpoint={"GET /orgs/{org}/repos": 2})

    answers = [api_get(sandbox, "/orgs/acme/repos", mona_token) for _ in range(3)]
    other = api_get(sandbox, "/orgs/acme", mona_token)

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"] == "7"
    message = answers[2].json()["message"]
    assert message.startswith("You have exceeded a secondary rate limit")
    assert TIMESTAMP.search(message)
    assert other.status_code == 200


def test_it_answers_a_secondary_limit_with_the_reset_to_wait_for(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_secondary(status=403, headers="reset", retry_after=30, rest_per_minute=1)

    api_get(sandbox, "/orgs/acme", mona_token)
    limited = api_get(sandbox, "/orgs/acme", mona_token)

    assert limited.status_code == 403
    assert "retry-after" not in limited.headers
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) >= time.time() + 25


# -- the nulls real data carries ------------------------------------------------------------------


def test_it_sends_deleted_authors_as_null_in_graphql_and_ghost_in_rest(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    query = """query($after: String) { repository(owner: "acme", name: "api") {
      pullRequests(first: 100, after: $after) { nodes { number author { login } } } } }"""
    nodes = post_graphql(sandbox, mona_token, query).json()["data"]["repository"]
    ghosts = [n["number"] for n in nodes["pullRequests"]["nodes"] if n["author"] is None]

    listed = api_get(sandbox, "/repos/acme/api/pulls?state=all&per_page=100", mona_token).json()
    rest_users = {p["number"]: p["user"] for p in listed}

    assert ghosts
    assert {rest_users[n]["login"] for n in ghosts} == {"ghost"}
    assert rest_users[ghosts[0]]["id"] == 10137


def test_it_sends_null_for_what_an_organization_never_filled_in(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    org = api_get(sandbox, "/orgs/globex", mona_token).json()
    graph = post_graphql(sandbox, mona_token, '{ organization(login: "globex") { description } }')

    assert [org[k] for k in ("company", "email", "location", "description")] == [None] * 4
    assert graph.json()["data"]["organization"]["description"] is None


def test_it_sends_null_pushed_at_for_a_repository_never_pushed(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    listed = api_get(sandbox, "/orgs/globex/repos?sort=pushed", mona_token).json()
    graph = post_graphql(
        sandbox, mona_token, '{ repository(owner: "globex", name: "empty") { pushedAt } }'
    )

    assert listed[-1]["name"] == "empty" and listed[-1]["pushed_at"] is None
    assert graph.json()["data"]["repository"]["pushedAt"] is None


# -- OAuth scopes -------------------------------------------------------------------------------


def test_it_refuses_user_orgs_without_read_org(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    response = api_get(sandbox, "/user/orgs", control.issue_token("mona", ["repo"]))

    assert response.status_code == 403
    assert "read:org" in response.json()["message"]


# -- one order, one membership view ----------------------------------------------------------------


def test_it_lists_reviews_in_the_same_order_over_rest_and_graphql(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    query = """{ repository(owner: "acme", name: "api") { pullRequests(first: 100) {
      nodes { number reviews(first: 100) { nodes { fullDatabaseId } } } } } }"""
    nodes = post_graphql(sandbox, mona_token, query).json()["data"]["repository"]
    reviewed = [n for n in nodes["pullRequests"]["nodes"] if len(n["reviews"]["nodes"]) > 2]

    for node in reviewed[:5]:
        rest = api_get(sandbox, f"/repos/acme/api/pulls/{node['number']}/reviews", mona_token)
        graph_ids = [int(r["fullDatabaseId"]) for r in node["reviews"]["nodes"]]
        assert graph_ids == [r["id"] for r in rest.json()]
    assert reviewed


def test_it_shows_outsiders_the_same_public_members_over_rest_and_graphql(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    outsider = control.issue_token("zoe", ["read:org"])  # not in acme at seed 7
    query = '{ organization(login: "acme") { membersWithRole(first: 100) { nodes { login } } } }'

    graph = post_graphql(sandbox, outsider, query).json()["data"]["organization"]
    rest = api_get(sandbox, "/orgs/acme/members", outsider).json()

    logins = sorted(n["login"] for n in graph["membersWithRole"]["nodes"])
    assert logins == sorted(m["login"] for m in rest)
    assert logins


# -- force-pushes and deleted pull requests --------------------------------------------------------


def test_it_rewrites_a_pull_requests_commits_on_a_force_push(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    before = api_get(sandbox, "/repos/acme/api/pulls/3/commits", mona_token).json()
    pushed = control.force_push("acme", "api", 3, keep=1, add=2)
    after = api_get(sandbox, "/repos/acme/api/pulls/3/commits", mona_token).json()

    assert [c["sha"] for c in after] == pushed["commits"]
    assert after[0]["sha"] == before[0]["sha"]
    assert len(after) == 3 and not {c["sha"] for c in after[1:]} & {c["sha"] for c in before}


def test_it_forgets_a_deleted_pull_request(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.delete_pull("acme", "api", 3)

    single = api_get(sandbox, "/repos/acme/api/pulls/3", mona_token)
    listed = api_get(sandbox, "/repos/acme/api/pulls?state=all&per_page=100", mona_token)

    assert single.status_code == 404
    assert 3 not in {p["number"] for p in listed.json()}
