from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sandbox.testing import RunningSandbox
from sync.models import Integration, Membership, Team
from tests.onboarding.personas import Identity, connect, identity

SELECT_ORG = reverse("onboarding:select_org")
CHOOSE_ORG = reverse("onboarding:choose_org")
ORG_LIST = reverse("onboarding:organization_list")


def test_it_sends_a_stranger_to_the_start_page(client: Client, db: None) -> None:
    response = client.get(SELECT_ORG)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("onboarding:start"))


def test_it_sends_a_user_without_github_to_connect_it(client: Client, alice: User) -> None:
    client.force_login(alice)
    assert client.get(SELECT_ORG)["Location"] == reverse("onboarding:start")


def test_it_lists_the_users_organizations(
    client: Client, alice: User, alice_github: Identity
) -> None:
    client.force_login(alice)
    response = client.get(ORG_LIST, headers={"HX-Request": "true"})
    text = response.content.decode()
    assert response.status_code == 200
    for login in ("acme", "globex", "initech"):
        assert f'data-testid="org-{login}"' in text
    assert "Choose acme" in text


def test_it_pages_through_many_organizations(
    client: Client, alice: User, many_orgs: RunningSandbox, settings: object
) -> None:
    settings.GITHUB_API_URL = many_orgs.api_url  # type: ignore[attr-defined]
    connect(alice, identity(many_orgs, "mona"))
    client.force_login(alice)
    first = client.get(ORG_LIST).content.decode()
    assert first.count('class="org-row"') == 100
    assert "Next page" in first and "Previous page" not in first
    second = client.get(ORG_LIST, {"page": 2}).content.decode()
    assert second.count('class="org-row"') == 3
    assert "Previous page" in second and "Next page" not in second


def test_it_answers_the_page_at_once_and_asks_github_only_for_its_list(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.add_fault("^/api/v3/user/orgs$", status=503)
    client.force_login(alice)
    shell = client.get(SELECT_ORG)
    text = shell.content.decode()
    assert shell.status_code == 200
    assert 'data-testid="org-loading"' in text and 'data-testid="org-acme"' not in text
    assert f'hx-get="{ORG_LIST}"' in text and f'href="{ORG_LIST}"' in text  # noscript link


def test_it_shows_a_failed_list_inside_the_page_with_a_retry(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.add_fault("^/api/v3/user/orgs$", status=503, count=1)
    client.force_login(alice)
    failed = client.get(ORG_LIST, {"page": 2}, headers={"HX-Request": "true"})
    text = failed.content.decode()
    assert failed.status_code == 200  # htmx swaps only 2xx answers
    assert "GitHub did not answer" in text and "Try again" in text
    assert f'hx-get="{ORG_LIST}?page=2"' in text


def test_it_sends_an_unconnected_list_request_to_connect_github(
    client: Client, alice: User
) -> None:
    client.force_login(alice)
    answer = client.get(ORG_LIST, headers={"HX-Request": "true"})
    assert answer["HX-Redirect"] == reverse("onboarding:start")


def test_it_creates_the_team_and_makes_the_chooser_admin(
    client: Client, alice: User, alice_github: Identity
) -> None:
    client.force_login(alice)
    response = client.post(CHOOSE_ORG, {"org": "acme"})
    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:select_repos")
    team = Team.objects.get(github_org_login="acme")
    assert Membership.objects.get(user=alice, team=team).role == Membership.Role.ADMIN
    assert Integration.objects.get(team=team).provider == "github"


def test_it_survives_a_double_submit_and_the_back_button(
    client: Client, alice: User, alice_github: Identity
) -> None:
    client.force_login(alice)
    first = client.post(CHOOSE_ORG, {"org": "acme"})
    second = client.post(CHOOSE_ORG, {"org": "acme"})
    assert first["Location"] == second["Location"] == reverse("onboarding:select_repos")
    assert Team.objects.count() == 1
    assert Membership.objects.count() == 1
    back = client.get(ORG_LIST).content.decode()
    assert "Your team" in back and "Open acme" in back


def test_it_lets_a_plain_member_join_as_member_and_shows_the_overview(
    client: Client, acme: Membership, bob: User, bob_github: Identity
) -> None:
    client.force_login(bob)
    page = client.get(ORG_LIST).content.decode()
    assert "Team exists: you will join it" in page
    response = client.post(CHOOSE_ORG, {"org": "acme"})
    assert response["Location"] == reverse("onboarding:complete")
    assert Membership.objects.get(user=bob).role == Membership.Role.MEMBER
    assert Team.objects.count() == 1


def test_it_refuses_an_organization_the_user_is_not_in(
    client: Client, charlie: User, charlie_github: Identity
) -> None:
    client.force_login(charlie)
    response = client.post(CHOOSE_ORG, {"org": "acme"})
    assert response.status_code == 403
    assert b"GitHub says your account is not a member of acme." in response.content
    assert not Team.objects.exists()
    assert not Membership.objects.exists()


def test_it_refuses_a_name_that_is_not_an_organization(
    client: Client, alice: User, alice_github: Identity
) -> None:
    client.force_login(alice)
    response = client.post(CHOOSE_ORG, {"org": "../../user"})
    assert response.status_code == 400
    assert not Team.objects.exists()


def test_it_explains_a_revoked_token(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.revoke_token(alice_github.token)
    client.force_login(alice)
    response = client.get(ORG_LIST)
    assert response.status_code == 403
    assert b"GitHub access was revoked" in response.content
    assert b"Reconnect GitHub" in response.content
    chosen = client.post(CHOOSE_ORG, {"org": "acme"})
    assert b"GitHub access was revoked" in chosen.content
    assert not Team.objects.exists()


def test_it_explains_github_being_down(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.add_fault("^/api/v3/user/orgs$", status=503)
    client.force_login(alice)
    response = client.get(ORG_LIST)
    assert response.status_code == 502
    assert b"GitHub did not answer" in response.content
    assert b"Try again" in response.content


def test_it_explains_a_spent_rate_limit(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.set_budget(remaining=0, token=alice_github.token, reset_in=600)
    client.force_login(alice)
    response = client.get(ORG_LIST)
    assert response.status_code == 429
    assert b"Your GitHub API rate limit is used up until" in response.content


def test_it_opens_the_overview_of_a_team_that_is_already_set_up(
    client: Client, acme: Membership
) -> None:
    acme.team.repositories.create(github_id=1, full_name="acme/api")
    client.force_login(acme.user)
    response = client.post(CHOOSE_ORG, {"org": "acme"})
    assert response["Location"] == reverse("onboarding:complete")


def test_it_explains_an_organization_behind_saml_single_sign_on(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.add_fault("^/api/v3/user/memberships/orgs/acme$", kind="sso")
    client.force_login(alice)
    response = client.post(CHOOSE_ORG, {"org": "acme"})
    assert response.status_code == 403
    assert b"requires SAML single sign-on" in response.content
    assert not Team.objects.exists()


def test_it_waits_out_a_secondary_limit_on_the_organizations_page(
    client: Client, alice: User, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.add_fault("^/api/v3/user/orgs$", kind="secondary_limit", status=429, count=1)
    client.force_login(alice)
    limited = client.get(ORG_LIST)
    again = client.get(ORG_LIST)
    assert limited.status_code == 429
    assert b"GitHub asked us to slow down" in limited.content
    assert b"Try again in 60 seconds" in limited.content
    assert again.status_code == 200 and b'data-testid="org-acme"' in again.content


def test_it_never_imports_the_github_boundary_from_a_view() -> None:
    import ast
    from pathlib import Path

    views = Path(__file__).resolve().parents[2] / "onboarding"
    for path in views.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m.startswith("sync.github.")], path
        assert "sync.github" not in imported, path
