from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests
from github import BadCredentialsException, Github, UnknownObjectException

from sandbox.control import ROUTES
from sandbox.testing import PROJECT_ROOT, RunningSandbox, SandboxControl
from tests.sandbox.conftest import make_github


def test_it_documents_every_option_and_control_endpoint_in_help() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    options = (
        "--port", "--host", "--seed", "--orgs", "--members", "--repos", "--prs", "--history-days",
        "--long-tail", "--latency-ms", "--per-node-ms", "--rest-budget", "--graphql-budget",
        "--client-id", "--client-secret",
    )  # fmt: skip

    assert all(option in shown for option in options)
    for method, pattern, _ in ROUTES:
        path = pattern.pattern.removeprefix("^").removesuffix("/?$").split("(?P")[0]
        assert f"{method}" in shown and path in shown, path


def test_it_revokes_a_token(gh: Github, control: SandboxControl, mona_token: str) -> None:
    assert gh.get_user().login == "mona"
    control.revoke_token(mona_token)

    with pytest.raises(BadCredentialsException) as raised:
        gh.get_organization("acme")

    assert raised.value.status == 401


def test_it_deletes_a_repository(gh: Github, control: SandboxControl) -> None:
    before = gh.get_organization("acme").get_repos().totalCount
    control.delete_repo("acme", "web")

    with pytest.raises(UnknownObjectException):
        gh.get_repo("acme/web")
    assert gh.get_organization("acme").get_repos().totalCount == before - 1


def test_it_changes_pull_requests_as_people_would(gh: Github, control: SandboxControl) -> None:
    repo = gh.get_repo("acme/api")
    still_open = repo.get_pulls(state="open")[0].number
    reviews_before = repo.get_pull(still_open).get_reviews().totalCount

    control.update_pull("acme", "api", still_open, title="Renamed in a test")
    control.review_pull("acme", "api", still_open, by="alice", state="CHANGES_REQUESTED")
    control.merge_pull("acme", "api", still_open, by="mona")
    pull = repo.get_pull(still_open)
    latest = repo.get_pulls(state="all", sort="updated", direction="desc")[0]

    assert pull.title == "Renamed in a test"
    assert pull.merged and pull.merged_by.login == "mona" and pull.state == "closed"
    assert pull.get_reviews().totalCount == reviews_before + 1
    assert latest.number == still_open


def test_it_reports_the_ground_truth(control: SandboxControl) -> None:
    everything = control.truth("acme")
    recent = control.truth("acme", since=(datetime.now(UTC) - timedelta(days=30)).isoformat())

    assert everything["pull_requests"] == 300
    assert 0 < recent["pull_requests"] < everything["pull_requests"]
    assert len(everything["checksum"]) == 64


def test_it_counts_requests_by_endpoint_token_and_login(
    gh: Github, control: SandboxControl, mona_token: str
) -> None:
    control.reset_counters()
    gh.get_organization("acme")
    gh.get_repo("acme/api")
    gh.get_repo("acme/web")

    counters = control.counters()

    assert counters["requests"] == 3
    assert counters["by_endpoint"] == {"GET /orgs/{org}": 1, "GET /repos/{owner}/{repo}": 2}
    assert counters["by_token"] == {mona_token: 3}
    assert counters["by_login"] == {"mona": 3}


def test_it_resets_world_counters_faults_and_tokens(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    control.delete_repo("acme", "web")
    control.add_fault("/orgs", kind="status", status=500)
    assert make_github(sandbox.api_url, mona_token).get_user().login == "mona"

    control.reset()
    token = control.issue_token("mona")
    gh = make_github(sandbox.api_url, token)

    assert gh.get_repo("acme/web").name == "web"
    assert gh.get_organization("acme").login == "acme"
    assert control.faults() == []
    assert control.counters()["by_token"] == {token: 2}
    with pytest.raises(BadCredentialsException):
        make_github(sandbox.api_url, mona_token).get_user().login  # noqa: B018 - lazy: this fetches


def test_it_lists_faults_with_their_counts(
    sandbox: RunningSandbox, control: SandboxControl, mona_token: str
) -> None:
    fault = control.add_fault(r"/orgs/acme$", kind="status", status=500, count=1)
    for _ in range(2):
        requests.get(
            f"{sandbox.api_url}/orgs/acme",
            headers={"Authorization": f"token {mona_token}"},
            timeout=10,
        )

    listed = control.faults()

    assert [(f["id"], f["matched"], f["fired"]) for f in listed] == [(fault, 2, 1)]


def test_it_refuses_bad_control_requests(sandbox: RunningSandbox, control: SandboxControl) -> None:
    bad_kind = requests.post(
        f"{sandbox.url}/_sandbox/faults", json={"path": "/x", "kind": "explode"}, timeout=10
    )
    bad_regex = requests.post(
        f"{sandbox.url}/_sandbox/faults", json={"path": "(", "kind": "status"}, timeout=10
    )
    no_user = requests.post(f"{sandbox.url}/_sandbox/tokens", json={"login": "nobody"}, timeout=10)
    no_route = requests.get(f"{sandbox.url}/_sandbox/nothing", timeout=10)

    assert [r.status_code for r in (bad_kind, bad_regex, no_user, no_route)] == [400, 400, 404, 404]
    assert "kind" in bad_kind.json()["error"]


def test_it_mints_tokens_with_the_asked_scopes(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_token("alice", ["read:org"])
    response = requests.get(
        f"{sandbox.api_url}/user", headers={"Authorization": f"token {token}"}, timeout=10
    )

    assert response.json()["login"] == "alice"
    assert response.headers["X-OAuth-Scopes"] == "read:org"
