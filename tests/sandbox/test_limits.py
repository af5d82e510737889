from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from github import Github, GithubException, GithubRetry, RateLimitExceededException
from github.GithubException import RateLimitExceededExceedsMaxWait

from sandbox.testing import RunningSandbox, SandboxControl
from tests.sandbox.conftest import make_github

RATE_HEADERS = (
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-used",
    "x-ratelimit-reset",
    "x-ratelimit-resource",
)


def api_get(
    sandbox: RunningSandbox, path: str, token: str | None, **headers: str
) -> requests.Response:
    auth = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{sandbox.api_url}{path}", headers=auth | headers, timeout=10)


def graphql(sandbox: RunningSandbox, token: str, query: str) -> requests.Response:
    headers = {"Authorization": f"bearer {token}"}
    return requests.post(sandbox.graphql_url, json={"query": query}, headers=headers, timeout=10)


def test_it_sends_rate_limit_headers_on_every_api_answer(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    answers = [
        api_get(sandbox, "/repos/acme/api", mona_token),
        api_get(sandbox, "/repos/acme/nothing", mona_token),
        api_get(sandbox, "/user", None),
        api_get(sandbox, "/user", "gho_unknown"),
        api_get(sandbox, "/rate_limit", mona_token),
        requests.get(f"{sandbox.url}/api/nowhere", timeout=10),
    ]

    assert [a.status_code for a in answers] == [200, 404, 401, 401, 200, 404]
    for answer in answers:
        assert all(name in answer.headers for name in RATE_HEADERS), answer.headers
        assert int(answer.headers["x-ratelimit-reset"]) > time.time()
    assert answers[0].headers["x-ratelimit-resource"] == "core"


def test_it_charges_one_request_per_answer_and_nothing_for_rate_limit(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    first = api_get(sandbox, "/orgs/acme", mona_token)
    second = api_get(sandbox, "/orgs/acme/repos", mona_token)
    overview = api_get(sandbox, "/rate_limit", mona_token)
    again = api_get(sandbox, "/rate_limit", mona_token)

    assert int(first.headers["x-ratelimit-remaining"]) == 4999
    assert int(second.headers["x-ratelimit-remaining"]) == 4998
    assert overview.json()["resources"]["core"]["remaining"] == 4998
    assert again.json()["resources"]["core"]["used"] == 2


def test_it_shares_one_budget_between_the_tokens_of_a_user(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    first, second = control.issue_token("mona"), control.issue_token("mona")
    api_get(sandbox, "/orgs/acme", first)
    response = api_get(sandbox, "/orgs/acme", second)

    assert response.headers["x-ratelimit-used"] == "2"


def test_it_refuses_with_403_when_the_budget_is_spent(
    gh: Github, control: SandboxControl, mona_token: str
) -> None:
    reset_at = control.set_budget(token=mona_token, remaining=2, reset_in=1200)["reset"]
    gh.get_organization("acme")
    gh.get_repo("acme/api")

    with pytest.raises(RateLimitExceededException) as raised:
        gh.get_repo("acme/web")

    error = raised.value
    assert error.status == 403
    assert error.data["message"].startswith("API rate limit exceeded for user ID ")
    assert error.headers is not None
    assert error.headers["x-ratelimit-remaining"] == "0"
    assert int(error.headers["x-ratelimit-reset"]) == reset_at
    assert control.counters()["rate_limited"] == 1


def test_it_opens_a_new_window_at_reset(
    gh: Github, control: SandboxControl, mona_token: str
) -> None:
    control.set_budget(token=mona_token, remaining=0, reset_in=60)
    with pytest.raises(RateLimitExceededException):
        gh.get_repo("acme/api")
    control.advance_clock(61)

    assert gh.get_repo("acme/api").name == "api"
    assert gh.rate_limiting[0] == 4999


def test_it_answers_304_for_a_matching_etag_without_charging(
    gh: Github, control: SandboxControl
) -> None:
    repo = gh.get_repo("acme/api")
    before = gh.rate_limiting[0]
    control.reset_counters()

    changed = repo.update()

    assert changed is False
    assert gh.rate_limiting[0] == before
    assert control.counters()["not_modified"] == 1


def test_it_changes_the_etag_when_the_pull_changes(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    first = api_get(sandbox, "/repos/acme/api/pulls/3", mona_token)
    control.update_pull("acme", "api", 3, title="A new title")
    second = api_get(
        sandbox, "/repos/acme/api/pulls/3", mona_token, **{"If-None-Match": first.headers["ETag"]}
    )

    assert first.headers["ETag"].startswith('W/"')
    assert second.status_code == 200
    assert second.json()["title"] == "A new title"


def test_it_answers_an_unchanged_member_listing_304_and_a_changed_one_200(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    path = "/orgs/acme/members?role=all&per_page=100&page=1"
    first = api_get(sandbox, path, mona_token)
    again = api_get(sandbox, path, mona_token, **{"If-None-Match": first.headers["ETag"]})
    control.remove_member("acme", first.json()[-1]["login"])
    changed = api_get(sandbox, path, mona_token, **{"If-None-Match": first.headers["ETag"]})

    assert (first.status_code, again.status_code, changed.status_code) == (200, 304, 200)
    assert int(again.headers["x-ratelimit-remaining"]) == int(
        first.headers["x-ratelimit-remaining"]
    )
    assert len(changed.json()) == len(first.json()) - 1


def test_it_moves_pushed_at_on_a_push_only(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    query = (
        '{ repository(owner: "acme", name: "api") { pushedAt '
        "pullRequests(first: 1, orderBy: {field: UPDATED_AT, direction: DESC}) "
        "{ nodes { number updatedAt } } } }"
    )

    def read() -> dict[str, object]:
        return graphql(sandbox, mona_token, query).json()["data"]["repository"]

    before = read()
    time.sleep(1.1)
    control.review_pull("acme", "api", 3, by="alice")
    reviewed = read()
    time.sleep(1.1)
    control.merge_pull("acme", "api", 4)
    merged = read()

    # GitHub: a review moves the pull request's updatedAt, not the repository's pushedAt.
    assert reviewed["pushedAt"] == before["pushedAt"]
    assert reviewed["pullRequests"]["nodes"][0]["number"] == 3  # type: ignore[index]
    assert merged["pushedAt"] > before["pushedAt"]  # type: ignore[operator]
    assert merged["pullRequests"]["nodes"][0]["number"] == 4  # type: ignore[index]


def test_it_raises_a_secondary_limit_with_retry_after(gh: Github, control: SandboxControl) -> None:
    control.add_fault(r"/pulls$", kind="secondary_limit", count=1, retry_after=30)

    with pytest.raises(RateLimitExceededException) as raised:
        list(gh.get_repo("acme/api").get_pulls())
    pulls = list(gh.get_repo("acme/api").get_pulls())

    assert raised.value.status == 403
    assert raised.value.headers is not None
    assert raised.value.headers["retry-after"] == "30"
    assert raised.value.data["message"].startswith("You have exceeded a secondary rate limit")
    assert pulls


def test_it_answers_a_secondary_limit_as_429_when_asked(
    gh: Github, control: SandboxControl
) -> None:
    control.add_fault(r"/orgs/", kind="secondary_limit", status=429, count=1)

    with pytest.raises(GithubException) as raised:
        gh.get_organization("acme")

    assert raised.value.status == 429
    assert "retry-after" in raised.value.headers


def test_it_enforces_the_per_minute_secondary_limit(gh: Github, control: SandboxControl) -> None:
    control.set_secondary(rest_per_minute=3)
    for _ in range(3):
        gh.get_organization("acme")

    with pytest.raises(RateLimitExceededException) as raised:
        gh.get_organization("acme")

    assert "secondary rate limit" in raised.value.data["message"]
    assert control.counters()["secondary_limited"] == 1


def test_it_counts_concurrency_per_token_and_overlaps_latency(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_latency(fixed_ms=300)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: api_get(sandbox, "/orgs/acme", mona_token), range(6)))
    elapsed = time.monotonic() - started

    assert {a.status_code for a in answers} == {200}
    assert control.counters()["max_concurrency"][mona_token] == 6
    assert 0.3 <= elapsed < 1.2  # six answers of 300 ms overlapped


def test_it_refuses_beyond_the_concurrency_secondary_limit(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_latency(fixed_ms=300)
    control.set_secondary(max_concurrent=2)
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(
            pool.map(lambda _: api_get(sandbox, "/orgs/acme", mona_token).status_code, range(4))
        )

    assert statuses.count(200) == 2 and statuses.count(403) == 2


def test_it_adds_latency_per_node_returned(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_latency(fixed_ms=0, per_node_ms=4)

    started = time.monotonic()
    api_get(sandbox, "/repos/acme/api/pulls?state=all&per_page=100", mona_token)
    many = time.monotonic() - started
    started = time.monotonic()
    api_get(sandbox, "/repos/acme/api/pulls?state=all&per_page=1", mona_token)
    one = time.monotonic() - started

    assert many >= 0.4
    assert one < 0.2


def test_it_charges_graphql_points_on_the_graphql_budget(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    query = "query { viewer { login } rateLimit { cost remaining } }"
    response = graphql(sandbox, mona_token, query)

    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["login"] == "mona"
    assert response.headers["x-ratelimit-resource"] == "graphql"
    assert response.headers["x-ratelimit-used"] == "1"
    assert control.counters()["graphql_points"] == {"mona": 1}
    assert api_get(sandbox, "/rate_limit", mona_token).json()["resources"]["graphql"]["used"] == 1


def test_it_answers_200_with_rate_limited_when_graphql_points_are_spent(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_budget(token=mona_token, resource="graphql", remaining=0, reset_in=600)

    response = graphql(sandbox, mona_token, "query { viewer { login } }")

    assert response.status_code == 200
    assert response.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert "data" not in response.json()
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-resource"] == "graphql"


def test_it_raises_through_pygithub_when_graphql_points_are_spent(
    gh: Github, control: SandboxControl, mona_token: str
) -> None:
    control.set_budget(token=mona_token, resource="graphql", remaining=0)

    with pytest.raises(GithubException) as raised:
        gh.requester.graphql_query("query { viewer { login } }", {})

    assert raised.value.data["errors"][0]["type"] == "RATE_LIMITED"


def test_it_answers_401_for_bad_credentials(sandbox: RunningSandbox) -> None:
    response = api_get(sandbox, "/user", "gho_not_a_token")
    on_graphql = graphql(sandbox, "gho_not_a_token", "query { viewer { login } }")

    assert response.status_code == on_graphql.status_code == 401
    assert response.json()["message"] == on_graphql.json()["message"] == "Bad credentials"


@pytest.mark.parametrize(
    ("kind", "options", "status"),
    [
        ("status", {"status": 502}, 502),
        ("sso", {}, 403),
    ],
)
def test_it_injects_status_faults(
    sandbox: RunningSandbox,
    control: SandboxControl,
    mona_token: str,
    kind: str,
    options: dict[str, object],
    status: int,
) -> None:
    control.add_fault(r"^/api/v3/repos/acme/api$", kind=kind, count=1, **options)

    faulty = api_get(sandbox, "/repos/acme/api", mona_token)
    healed = api_get(sandbox, "/repos/acme/api", mona_token)

    assert (faulty.status_code, healed.status_code) == (status, 200)
    assert all(name in faulty.headers for name in RATE_HEADERS)
    if kind == "sso":
        assert faulty.headers["X-GitHub-SSO"].startswith("required; url=")
        assert "SAML enforcement" in faulty.json()["message"]


def test_it_sends_a_truncated_body_for_malformed_json(gh: Github, control: SandboxControl) -> None:
    control.add_fault(r"/pulls$", kind="malformed_json", count=1)

    with pytest.raises(json.JSONDecodeError):
        list(gh.get_repo("acme/api").get_pulls(state="all"))


def test_it_corrupts_one_item_for_malformed_item(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.add_fault(r"/pulls$", kind="malformed_item", count=1)

    pulls = api_get(sandbox, "/repos/acme/api/pulls?state=all", mona_token).json()

    assert pulls[0]["id"] is None and pulls[0]["number"] is None
    assert all(p["id"] is not None for p in pulls[1:])


def test_it_delays_answers_for_timeouts(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.add_fault(r"/orgs/acme$", kind="delay", delay_s=1.0, count=1)

    with pytest.raises(requests.Timeout):
        requests.get(
            f"{sandbox.api_url}/orgs/acme",
            headers={"Authorization": f"token {mona_token}"},
            timeout=0.3,
        )


def test_it_fires_fractional_faults_deterministically(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    def run() -> list[int]:
        token = control.issue_token("mona")
        control.add_fault(r"/orgs/acme$", kind="status", status=500, fraction=0.5)
        return [api_get(sandbox, "/orgs/acme", token).status_code for _ in range(20)]

    first = run()
    control.reset()
    second = run()

    assert first == second
    assert 3 <= first.count(500) <= 17


def test_it_lets_pygithub_retry_a_secondary_limit_after_retry_after(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.add_fault(r"/orgs/acme$", kind="secondary_limit", count=1, retry_after=1)
    gh = make_github(sandbox.api_url, mona_token, retry=GithubRetry(total=2))

    started = time.monotonic()
    org = gh.get_organization("acme")

    assert org.login == "acme"
    assert time.monotonic() - started >= 1  # urllib3 honours Retry-After
    assert control.counters()["by_endpoint"]["GET /orgs/{org}"] == 2


def test_it_lets_pygithub_refuse_to_wait_for_a_distant_reset(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.set_budget(token=mona_token, remaining=0, reset_in=3000)
    gh = make_github(sandbox.api_url, mona_token, retry=GithubRetry(total=2, max_rate_limit_wait=5))

    started = time.monotonic()
    with pytest.raises(RateLimitExceededExceedsMaxWait) as raised:
        gh.get_organization("acme")

    assert raised.value.wait > 2900
    assert time.monotonic() - started < 1
