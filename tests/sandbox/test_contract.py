from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.testing import RunningSandbox, SandboxControl
from tests.contract import load_openapi_spec

# Every REST answer kind the sandbox gives, each checked against GitHub's own description.
PATHS = [
    "/user",
    "/user/orgs",
    "/user/memberships/orgs/acme",
    "/orgs/acme",
    "/orgs/globex",  # company, email, location and description null
    "/orgs/globex/repos",  # one never pushed to: pushed_at null
    "/repos/globex/empty",
    "/orgs/acme/members",
    "/orgs/acme/members?role=admin&per_page=2&page=2",
    "/orgs/acme/repos",
    "/orgs/acme/repos?type=private&sort=full_name",
    "/repos/acme/api",
    "/repos/acme/web",
    "/repos/acme/api/pulls",
    "/repos/acme/api/pulls?state=all&sort=updated&direction=desc&per_page=100&page=2",
    "/repos/acme/api/pulls?state=closed&sort=popularity",
    "/rate_limit",
]


@pytest.fixture(scope="module")
def openapi(sandbox: RunningSandbox) -> OpenAPI:
    return OpenAPI.from_dict(load_openapi_spec(sandbox.api_url))


@pytest.fixture
def get(sandbox: RunningSandbox, mona_token: str) -> Callable[..., requests.Response]:
    session = requests.Session()

    def fetch(path: str, token: str | None = mona_token, **headers: str) -> requests.Response:
        auth = {"Authorization": f"token {token}"} if token else {}
        return session.get(f"{sandbox.api_url}{path}", headers=auth | headers, timeout=10)

    return fetch


def assert_valid(openapi: OpenAPI, response: requests.Response) -> None:
    openapi.validate_response(
        RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response)
    )


@pytest.mark.parametrize("path", PATHS)
def test_it_answers_as_github_describes(
    openapi: OpenAPI, get: Callable[..., requests.Response], path: str
) -> None:
    response = get(path)

    assert response.status_code == 200, response.text
    assert_valid(openapi, response)


def test_it_answers_pull_requests_reviews_and_commits_as_github_describes(
    openapi: OpenAPI, get: Callable[..., requests.Response]
) -> None:
    listed = get("/repos/acme/api/pulls?state=all&per_page=100").json()
    merged = next(p for p in listed if p["merged_at"])
    still_open = next(p for p in listed if p["state"] == "open")
    numbers = {merged["number"], still_open["number"]}
    reviewed = next(
        p["number"]
        for p in listed
        if p["number"] not in numbers and get(f"/repos/acme/api/pulls/{p['number']}/reviews").json()
    )
    checked = 0
    for number in (*numbers, reviewed):
        for suffix in ("", "/reviews", "/commits"):
            response = get(f"/repos/acme/api/pulls/{number}{suffix}")
            assert response.status_code == 200
            assert_valid(openapi, response)
            checked += 1

    assert checked == 9


def test_it_answers_errors_and_not_modified_as_github_describes(
    openapi: OpenAPI, get: Callable[..., requests.Response]
) -> None:
    missing = get("/repos/acme/no-such-repo")
    anonymous = get("/user", token=None)
    first = get("/repos/acme/api/pulls/1")
    again = get("/repos/acme/api/pulls/1", **{"If-None-Match": first.headers["ETag"]})

    assert (missing.status_code, anonymous.status_code, again.status_code) == (404, 401, 304)
    for response in (missing, anonymous, again):
        assert_valid(openapi, response)


def test_it_keeps_list_items_lean_as_github_does(get: Callable[..., requests.Response]) -> None:
    listed = get("/repos/acme/api/pulls?state=all").json()[0]
    single = get(f"/repos/acme/api/pulls/{listed['number']}").json()
    lean = {"additions", "deletions", "commits", "changed_files", "merged", "mergeable", "comments"}

    assert not lean & listed.keys()
    assert lean <= single.keys()


def test_it_answers_the_public_profile_without_the_user_scope(
    openapi: OpenAPI, get: Callable[..., requests.Response], control: SandboxControl
) -> None:
    response = get("/user", token=control.issue_token("mona", ["read:org", "repo"]))

    assert response.json()["user_view_type"] == "public"
    assert "plan" not in response.json()
    assert_valid(openapi, response)
