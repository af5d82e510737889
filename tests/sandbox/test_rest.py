from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import requests
from github import Github, GithubException, UnknownObjectException

from sandbox.github.world import Sizes, World
from sandbox.server import Config, build_server, serve_in_thread
from sandbox.testing import RunningSandbox, SandboxControl, start_sandbox
from tests.sandbox.conftest import make_github

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def api_get(
    sandbox: RunningSandbox, path: str, token: str | None, **headers: str
) -> requests.Response:
    auth = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{sandbox.api_url}{path}", headers=auth | headers, timeout=10)


def test_it_lists_the_user_orgs_members_and_repos(gh: Github) -> None:
    user = gh.get_user()
    orgs = [o.login for o in user.get_orgs()]
    acme = gh.get_organization("acme")
    members = [m.login for m in acme.get_members()]
    admins = [m.login for m in acme.get_members(role="admin")]
    repos = [r.full_name for r in acme.get_repos()]

    assert user.login == "mona"
    assert orgs == ["acme", "globex", "initech"]
    assert "mona" in members and set(admins) < set(members) and "mona" in admins
    assert len(repos) == 5 and all(name.startswith("acme/") for name in repos)


def test_it_pages_lists_with_link_headers_and_total_count(
    github_for: Callable[..., Github], control: SandboxControl
) -> None:
    small_pages = github_for("mona", per_page=3)
    acme = small_pages.get_organization("acme")
    control.reset_counters()

    members = list(acme.get_members())
    repos = list(acme.get_repos())
    total = acme.get_members().totalCount
    by_endpoint = control.counters()["by_endpoint"]

    assert total == len(members) == len({m.id for m in members})
    assert len(repos) == 5
    assert by_endpoint["GET /orgs/{org}/members"] == -(-len(members) // 3) + 1  # pages + count
    assert by_endpoint["GET /orgs/{org}/repos"] == 2


def test_it_pages_through_hundreds_of_pull_requests() -> None:
    with start_sandbox("--seed", "5", "--repos", "1", "--prs", "450", "--orgs", "1") as big:
        gh = make_github(big.api_url, big.control.issue_token("mona"))
        pulls = gh.get_repo("acme/api").get_pulls(state="all", sort="updated", direction="desc")

        # PyGithub forgets the query (state=all) once a list was iterated: count first.
        total = pulls.totalCount
        listed = list(pulls)
        counters = big.control.counters()

    assert total == len(listed) == 450
    assert [p.updated_at for p in listed] == sorted((p.updated_at for p in listed), reverse=True)
    assert len({p.number for p in listed}) == 450
    assert counters["by_endpoint"]["GET /repos/{owner}/{repo}/pulls"] == 5 + 1  # 5 pages + count


def test_it_writes_link_headers_as_github_does(sandbox: RunningSandbox, mona_token: str) -> None:
    repo_id = api_get(sandbox, "/repos/acme/api", mona_token).json()["id"]
    response = api_get(sandbox, "/repos/acme/api/pulls?state=all&per_page=10&page=2", mona_token)
    links = LINK.findall(response.headers["Link"])
    base = f"{sandbox.api_url}/repositories/{repo_id}/pulls?state=all&per_page=10"

    assert [rel for _, rel in links] == ["prev", "next", "last", "first"]
    assert links[0][0] == f"{base}&page=1"
    assert links[1][0] == f"{base}&page=3"
    assert links[3][0] == f"{base}&page=1"
    last_page = int(links[2][0].rsplit("=", 1)[1])
    assert (
        len(
            api_get(
                sandbox,
                f"/repositories/{repo_id}/pulls?state=all&per_page=10&page={last_page}",
                mona_token,
            ).json()
        )
        > 0
    )


def test_it_omits_the_link_header_on_a_single_page(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    response = api_get(sandbox, "/user/orgs", mona_token)

    assert response.status_code == 200
    assert "Link" not in response.headers


def test_it_caps_per_page_at_100(sandbox: RunningSandbox, mona_token: str) -> None:
    response = api_get(sandbox, "/repos/acme/api/pulls?state=all&per_page=500", mona_token)

    assert len(response.json()) == 100
    assert "per_page=500" in response.headers["Link"]


def test_it_builds_urls_from_the_request_host(sandbox: RunningSandbox, mona_token: str) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    response = api_get(
        sandbox, "/repos/acme/api/pulls?per_page=1&state=all", mona_token, Host=f"localhost:{port}"
    )
    pull = response.json()[0]

    assert pull["url"].startswith(f"http://localhost:{port}/api/v3/repos/acme/api/pulls/")
    assert pull["html_url"].startswith(f"http://localhost:{port}/acme/api/pull/")
    assert f"<http://localhost:{port}/api/v3/repositories/" in response.headers["Link"]


def test_it_costs_one_request_to_read_additions_of_a_listed_pull(
    gh: Github, control: SandboxControl
) -> None:
    pull = gh.get_repo("acme/api").get_pulls(state="all")[0]
    control.reset_counters()

    first = pull.additions
    again = pull.deletions
    counters = control.counters()

    assert first > 0 and again >= 0
    assert counters["requests"] == 1
    assert counters["by_endpoint"] == {"GET /repos/{owner}/{repo}/pulls/{pull_number}": 1}


def test_it_sorts_pulls_with_githubs_default_directions(
    sandbox: RunningSandbox, mona_token: str
) -> None:
    def numbers(query: str) -> list[str]:
        pulls = api_get(
            sandbox, f"/repos/acme/api/pulls?state=all&per_page=100&{query}", mona_token
        ).json()
        return [p["created_at" if "created" in query else "updated_at"] for p in pulls]

    created = numbers("sort=created")
    updated = numbers("sort=updated")

    assert created == sorted(created, reverse=True)  # created: desc by default
    assert updated == sorted(updated)  # any other sort: asc by default


def test_it_filters_pulls_by_state(gh: Github) -> None:
    repo = gh.get_repo("acme/api")
    everything = repo.get_pulls(state="all").totalCount
    still_open = [p.state for p in repo.get_pulls()]
    closed = repo.get_pulls(state="closed").totalCount

    assert set(still_open) == {"open"}
    assert len(still_open) + closed == everything


def test_it_lists_reviews_and_commits_of_a_pull(gh: Github) -> None:
    pulls = list(gh.get_repo("acme/api").get_pulls(state="all"))
    pull = next(p for p in pulls if p.get_reviews().totalCount > 0)
    reviews = list(pull.get_reviews())
    commits = list(pull.get_commits())

    assert [r.submitted_at for r in reviews] == sorted(r.submitted_at for r in reviews)
    assert len(commits) == pull.commits
    assert commits[-1].sha == pull.head.sha


def test_it_caps_pull_commits_at_250() -> None:
    world = World(seed=2, sizes=Sizes(orgs=1, repos=1, prs=3, long_tail=1))
    repo = world.repo("acme", "api")
    assert repo is not None
    pull = world.pull(repo, 3)
    assert pull is not None
    pull.commits = (pull.commits * 300)[:300]
    server = build_server(world, Config(seed=2), "127.0.0.1", 0)
    serve_in_thread(server)
    try:
        token = world.issue_token("mona").value
        gh = make_github(f"{server.url}/api/v3", token)
        commits = gh.get_repo("acme/api").get_pull(3).get_commits()
        assert len(list(commits)) == 250
    finally:
        server.shutdown()
        server.server_close()


def test_it_hides_private_repos_without_the_repo_scope(github_for: Callable[..., Github]) -> None:
    full = github_for("mona", ["read:org", "repo"])
    public_only = github_for("mona", ["read:org"])
    private = [r.name for r in full.get_organization("acme").get_repos(type="private")]

    assert private
    assert public_only.get_organization("acme").get_repos(type="private").totalCount == 0
    with pytest.raises(UnknownObjectException):
        public_only.get_repo(f"acme/{private[0]}")


def test_it_answers_404_for_unknown_things(
    gh: Github, sandbox: RunningSandbox, mona_token: str
) -> None:
    with pytest.raises(UnknownObjectException):
        gh.get_repo("acme/no-such-repo")
    with pytest.raises(UnknownObjectException):
        gh.get_repo("acme/api").get_pull(99999)
    body = api_get(sandbox, "/orgs/no-such-org", mona_token).json()

    assert body["message"] == "Not Found"
    assert body["documentation_url"].startswith("https://docs.github.com/rest")


def test_it_requires_authentication_for_the_user(sandbox: RunningSandbox) -> None:
    response = api_get(sandbox, "/user", None)

    assert response.status_code == 401
    assert response.json()["message"] == "Requires authentication"
    assert response.headers["x-ratelimit-limit"] == "60"


def test_it_refuses_invalid_enumerations(sandbox: RunningSandbox, mona_token: str) -> None:
    response = api_get(sandbox, "/orgs/acme/members?role=owner", mona_token)

    assert response.status_code == 422
    assert response.json()["message"] == "Validation Failed"


def test_it_raises_on_422_through_pygithub(gh: Github) -> None:
    with pytest.raises(GithubException) as raised:
        list(gh.get_repo("acme/api").get_pulls(state="merged"))

    assert raised.value.status == 422


def test_it_sends_oauth_scope_headers(sandbox: RunningSandbox, control: SandboxControl) -> None:
    token = control.issue_token("mona", ["repo", "read:org"])
    response = api_get(sandbox, "/repos/acme/api", token)

    assert response.headers["X-OAuth-Scopes"] == "read:org, repo"
    assert response.headers["X-Accepted-OAuth-Scopes"] == "repo"
