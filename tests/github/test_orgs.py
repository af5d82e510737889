# Fixtures are imported from tests/onboarding/personas.py, so test arguments reuse their names.
# ruff: noqa: F811
from __future__ import annotations

import time

import pytest
import requests

from sandbox.testing import RunningSandbox
from sync.github import orgs
from sync.github.client import BadCredentials, GitHubError, RateLimited, Transient
from tests.onboarding.personas import gh, identity, many_orgs, outsider  # noqa: F401


def _token(sandbox: RunningSandbox, scopes: list[str] | None = None, login: str = "mona") -> str:
    return sandbox.control.issue_token(login, scopes)


# -- pre-flight --------------------------------------------------------------------------------


def test_it_passes_the_preflight_with_read_org_and_repo(gh: RunningSandbox) -> None:
    viewer = orgs.preflight(_token(gh))
    assert viewer.login == "mona"
    assert set(viewer.scopes) == {"read:org", "repo"}


def test_it_accepts_broader_scopes_that_imply_read_org(gh: RunningSandbox) -> None:
    viewer = orgs.preflight(_token(gh, ["admin:org", "repo", "user"]))
    assert viewer.login == "mona"


def test_it_says_exactly_which_scope_is_missing(gh: RunningSandbox) -> None:
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(_token(gh, ["read:org"]))
    assert raised.value.code == "missing_scopes"
    assert raised.value.problem == (
        "The `repo` scope is missing, so private repositories and their pull requests "
        "cannot be read."
    )
    assert raised.value.fix == (
        "Connect GitHub again and approve all the access GitHub asks for (`read:org repo`)."
    )


def test_it_names_both_scopes_when_the_token_has_neither(gh: RunningSandbox) -> None:
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(_token(gh, ["user"]))
    assert raised.value.problem == (
        "The `read:org` scope is missing, so your organizations and their members cannot be "
        "listed. The `repo` scope is missing, so private repositories and their pull requests "
        "cannot be read."
    )


def test_it_says_a_revoked_token_must_be_reconnected(gh: RunningSandbox) -> None:
    token = _token(gh)
    gh.control.revoke_token(token)
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(token)
    assert raised.value.code == "bad_token"
    assert raised.value.problem == (
        "GitHub did not accept the access token: it was revoked or has expired."
    )
    assert raised.value.fix == "Connect GitHub again."
    assert token not in str(raised.value)


def test_it_says_when_the_rate_limit_is_spent_and_until_when(gh: RunningSandbox) -> None:
    token = _token(gh)
    gh.control.set_budget(remaining=0, token=token, reset_in=600)
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(token)
    assert raised.value.code == "rate_limited"
    assert raised.value.problem.startswith("Your GitHub API rate limit is used up until ")
    assert raised.value.problem.endswith(" UTC.")


def test_it_reports_a_github_error(gh: RunningSandbox) -> None:
    gh.control.add_fault("^/api/v3/user$", status=503)
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(_token(gh))
    assert raised.value.code == "github_error"
    assert raised.value.problem == "GitHub answered with an error (503)."


def test_it_reports_a_malformed_answer(gh: RunningSandbox) -> None:
    gh.control.add_fault("^/api/v3/user$", kind="malformed_json")
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(_token(gh))
    assert raised.value.code == "malformed"


def test_it_finishes_the_preflight_within_five_seconds_when_github_hangs(
    gh: RunningSandbox,
) -> None:
    gh.control.add_fault("^/api/v3/user$", kind="delay", delay_s=6)
    started = time.monotonic()
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight(_token(gh))
    assert time.monotonic() - started < 5
    assert raised.value.code == "timeout"
    assert raised.value.problem == "GitHub did not answer within 4 seconds."


def test_it_reports_an_unreachable_github(settings: object) -> None:
    settings.GITHUB_API_URL = "http://127.0.0.1:9/api/v3"  # type: ignore[attr-defined]
    with pytest.raises(orgs.PreflightFailed) as raised:
        orgs.preflight("gho_whatever")
    assert raised.value.code == "unreachable"


# -- organizations ------------------------------------------------------------------------------


def test_it_lists_the_users_organizations(gh: RunningSandbox) -> None:
    page = orgs.list_user_orgs(_token(gh))
    assert [org.login for org in page.organizations] == ["acme", "globex", "initech"]
    assert page.next_page is None and page.prev_page is None


def test_it_pages_through_many_organizations(many_orgs: RunningSandbox, settings: object) -> None:
    settings.GITHUB_API_URL = many_orgs.api_url  # type: ignore[attr-defined]
    token = many_orgs.control.issue_token("mona")
    first = orgs.list_user_orgs(token)
    assert len(first.organizations) == 100
    assert first.next_page == 2 and first.prev_page is None
    second = orgs.list_user_orgs(token, page=2)
    assert len(second.organizations) == 3
    assert second.next_page is None and second.prev_page == 1
    logins = {org.login for org in first.organizations + second.organizations}
    assert len(logins) == 103


def test_it_reads_the_users_role_in_an_organization(gh: RunningSandbox) -> None:
    membership = orgs.get_org_membership(_token(gh), "acme")
    assert membership.organization.login == "acme"
    assert membership.role == "admin"
    assert membership.state == "active"


def test_it_says_not_found_for_an_organization_the_user_is_not_in(gh: RunningSandbox) -> None:
    stranger = _token(gh, login=outsider(gh))
    with pytest.raises(orgs.NotFound):
        orgs.get_org_membership(stranger, "acme")
    with pytest.raises(orgs.NotFound):
        orgs.get_org_membership(stranger, "../user")


def test_it_says_bad_credentials_for_a_revoked_token(gh: RunningSandbox) -> None:
    token = _token(gh)
    gh.control.revoke_token(token)
    with pytest.raises(BadCredentials):
        orgs.list_user_orgs(token)


# -- repositories ------------------------------------------------------------------------------


def test_it_lists_every_repository_most_recently_pushed_first(gh: RunningSandbox) -> None:
    token = _token(gh)
    repositories = orgs.list_org_repos(token, "acme")
    expected = requests.get(
        f"{gh.api_url}/orgs/acme/repos",
        params={"per_page": 100},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()
    assert {r.id for r in repositories} == {r["id"] for r in expected}
    pushed = [r.pushed_at for r in repositories]
    assert pushed == sorted(pushed, reverse=True)
    assert any(r.private for r in repositories) and any(not r.private for r in repositories)


def test_it_walks_every_page_of_a_large_organization(
    many_orgs: RunningSandbox, settings: object
) -> None:
    settings.GITHUB_API_URL = many_orgs.api_url  # type: ignore[attr-defined]
    token = many_orgs.control.issue_token("mona")
    # mona's organizations hold 3 repositories each; take one page of repositories at a time.
    many_orgs.control.reset_counters()
    repositories = orgs.list_org_repos(token, "acme")
    assert len(repositories) == 3
    assert many_orgs.control.counters()["requests"] == 1


def test_it_sees_only_public_repositories_without_membership(gh: RunningSandbox) -> None:
    stranger = _token(gh, login=outsider(gh))
    repositories = orgs.list_org_repos(stranger, "acme")
    assert repositories and not any(r.private for r in repositories)


def test_it_turns_a_failing_page_into_transient(gh: RunningSandbox) -> None:
    gh.control.add_fault("/orgs/acme/repos$", status=502)
    with pytest.raises(Transient):
        orgs.list_org_repos(_token(gh), "acme")


def test_it_turns_a_spent_budget_into_rate_limited(gh: RunningSandbox) -> None:
    token = _token(gh)
    gh.control.set_budget(remaining=0, token=token, reset_in=900)
    with pytest.raises(RateLimited) as raised:
        orgs.list_org_repos(token, "acme")
    assert raised.value.reset_at is not None


def test_it_turns_a_body_that_is_not_json_into_transient(gh: RunningSandbox) -> None:
    gh.control.add_fault("/orgs/acme/repos$", kind="malformed_json")
    with pytest.raises(Transient):
        orgs.list_org_repos(_token(gh), "acme")


def test_it_skips_one_unreadable_repository_and_keeps_the_others(gh: RunningSandbox) -> None:
    token = _token(gh)
    complete = orgs.list_org_repos(token, "acme")
    gh.control.add_fault("/orgs/acme/repos$", kind="malformed_item", count=1)
    repositories = orgs.list_org_repos(token, "acme")
    assert len(repositories) == len(complete) - 1


def test_it_refuses_an_answer_that_is_not_a_list(gh: RunningSandbox) -> None:
    gh.control.add_fault("/orgs/acme/repos$", status=200, body={"message": "surprise"})
    with pytest.raises(GitHubError):
        orgs.list_org_repos(_token(gh), "acme")


def test_it_says_not_found_for_an_organization_that_does_not_exist(gh: RunningSandbox) -> None:
    with pytest.raises(orgs.NotFound):
        orgs.list_org_repos(_token(gh), "no-such-org")
