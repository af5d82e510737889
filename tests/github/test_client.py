from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync.github import pulls
from sync.github.client import Session
from sync.github.errors import (
    BadCredentials,
    RateLimited,
    RepositoryGone,
    SecondaryRateLimited,
    SSORequired,
    Transient,
)
from sync.github.org import list_members
from sync.github.orgs import list_org_repos
from tests.sync.importing import forget_github_budgets

GRAPHQL = "^/api/graphql"


@pytest.fixture
def token(github: RunningSandbox) -> str:
    forget_github_budgets()
    return github.control.issue_token("mona", ["read:org", "repo"])


def _page(session: Session, repo: str = "api", first: int = 10) -> pulls.PullRequestPage:
    return pulls.fetch_pull_requests(session, owner="acme", name=repo, first=first, after=None)


def test_it_reads_members_with_their_roles(token: str) -> None:
    members = list_members(Session(token), org="acme")

    by_login = {m.login: m for m in members}
    assert by_login["mona"].role == "admin"
    assert {m.role for m in members} == {"admin", "member"}
    assert len(members) == len({m.github_id for m in members})


def test_it_reads_the_organization_repositories(token: str) -> None:
    repositories = list_org_repos(token, "acme")

    assert sorted(r.full_name for r in repositories)[:2] == ["acme/api", "acme/auth"]
    assert all(r.pushed_at is not None for r in repositories)


def test_it_reads_pull_requests_newest_update_first(token: str) -> None:
    page = _page(Session(token), first=30)

    times = [pr.updated_at for pr in page.pulls]
    assert times == sorted(times, reverse=True)
    assert page.has_next and page.end_cursor
    assert page.total_count > 30
    assert {pr.state for pr in page.pulls} <= {"open", "closed", "merged"}


def test_it_fetches_what_a_long_pull_request_did_not_fit_in_the_page(token: str) -> None:
    session = Session(token)
    page = _page(session, first=5)
    long = [pr for pr in page.pulls if pulls.needs_follow_up(pr)]

    for pr in long:
        pulls.complete_pull_request(session, owner="acme", name="api", pull=pr)

    assert long
    assert {max(len(pr.commits), len(pr.reviews)) for pr in long} <= {60, 130}
    assert all(len(pr.commits) in (130,) or len(pr.reviews) == 60 for pr in long)
    assert not any(pulls.needs_follow_up(pr) for pr in long)


def test_it_tries_a_follow_up_again_before_giving_up_the_page(
    token: str, github: RunningSandbox
) -> None:
    session = Session(token)
    long = next(pr for pr in _page(session, first=5).pulls if pulls.needs_follow_up(pr))
    github.control.add_fault(GRAPHQL, status=502, count=pulls.FOLLOW_UP_RETRIES)

    pulls.complete_pull_request(session, owner="acme", name="api", pull=long)

    assert not pulls.needs_follow_up(long)
    again = next(pr for pr in _page(session, first=5).pulls if pulls.needs_follow_up(pr))
    github.control.add_fault(GRAPHQL, status=502, count=pulls.FOLLOW_UP_RETRIES + 1)
    with pytest.raises(Transient):
        pulls.complete_pull_request(session, owner="acme", name="api", pull=again)


def test_it_says_a_revoked_token_is_revoked(token: str, github: RunningSandbox) -> None:
    github.control.revoke_token(token)

    with pytest.raises(BadCredentials, match="GitHub access was revoked: reconnect"):
        _page(Session(token))
    with pytest.raises(BadCredentials):
        list_members(Session(token), org="acme")


def test_it_says_a_deleted_repository_is_gone(token: str, github: RunningSandbox) -> None:
    github.control.delete_repo("acme", "web")

    with pytest.raises(RepositoryGone):
        _page(Session(token), repo="web")


def test_it_says_sso_blocks_the_organization(token: str, github: RunningSandbox) -> None:
    github.control.add_fault(GRAPHQL, kind="sso", count=1)

    with pytest.raises(SSORequired, match="single sign-on"):
        _page(Session(token))


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "malformed_json"},
    ],
    ids=["500", "502", "malformed-body"],
)
def test_it_says_a_passing_failure_is_worth_retrying(
    token: str, github: RunningSandbox, fault: dict[str, Any]
) -> None:
    github.control.add_fault(GRAPHQL, count=1, **fault)

    with pytest.raises(Transient):
        _page(Session(token))
    assert _page(Session(token)).pulls


def test_it_gives_up_on_a_slow_answer_after_the_timeout(
    token: str, github: RunningSandbox, settings: object
) -> None:
    settings.GITHUB_TIMEOUT = 1  # type: ignore[attr-defined]
    github.control.add_fault(GRAPHQL, kind="delay", delay_s=2, count=1)

    with pytest.raises(Transient):
        _page(Session(token))


def test_it_says_when_to_come_back_after_a_secondary_limit(
    token: str, github: RunningSandbox
) -> None:
    github.control.add_fault(GRAPHQL, kind="secondary_limit", retry_after=7, count=1)

    with pytest.raises(SecondaryRateLimited) as raised:
        _page(Session(token))

    assert raised.value.retry_after == 7


@pytest.mark.parametrize("resource", ["graphql", "core"])
def test_it_says_when_a_spent_budget_resets(
    token: str, github: RunningSandbox, resource: str
) -> None:
    github.control.set_budget(token=token, resource=resource, remaining=0, reset_in=120)
    expected = timezone.now() + timedelta(seconds=120)

    with pytest.raises(RateLimited) as raised:
        if resource == "graphql":
            _page(Session(token))
        else:
            list_members(Session(token), org="acme")

    assert abs((raised.value.reset_at - expected).total_seconds()) <= 2


def test_it_stops_asking_once_every_process_knows_the_budget_is_spent(
    token: str, github: RunningSandbox
) -> None:
    github.control.set_budget(token=token, resource="graphql", remaining=0, reset_in=120)
    with pytest.raises(RateLimited):
        _page(Session(token))
    asked = github.control.counters()["requests"]

    with pytest.raises(RateLimited):
        _page(Session(token))  # a new session, as another worker process would have

    assert github.control.counters()["requests"] == asked


def test_it_keeps_a_reserve_of_the_budget(token: str, github: RunningSandbox) -> None:
    github.control.set_budget(token=token, resource="graphql", remaining=60, reset_in=120)
    _page(Session(token), first=100)  # costs 2: 58 left, the reserve is 50

    with pytest.raises(RateLimited):
        for _ in range(10):
            _page(Session(token), first=100)

    assert github.control.counters()["rate_limited"] == 0


def test_it_caps_concurrent_requests_of_a_token_across_clients(
    token: str, github: RunningSandbox, settings: object
) -> None:
    settings.GITHUB_MAX_CONCURRENT_REQUESTS = 3  # type: ignore[attr-defined]
    github.control.set_latency(fixed_ms=200)
    errors: list[Exception] = []

    def fetch() -> None:
        try:
            _page(Session(token), first=1)
        except Exception as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert max(github.control.counters()["max_concurrency"].values()) == 3


def test_it_gates_every_token_of_one_github_user_together(
    token: str, github: RunningSandbox
) -> None:
    from sync.github import orgs

    other = github.control.issue_token("mona", ["read:org", "repo"])
    viewer = orgs.preflight(token)
    orgs.preflight(other)
    github.control.set_budget(token=token, resource="graphql", remaining=10, reset_in=600)
    _page(Session(token))

    with pytest.raises(RateLimited):  # the budget the first token saw spent, known at once
        _page(Session(other))
    assert Session(other).gate.key == Session(token).gate.key
    assert Session(other).gate.key.endswith(f":github:user:{viewer.id}")
