from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync.models import Integration, IntegrationCredential, Team
from tests.sync.integrating import consent_on_atlassian, stored_columns

CALLBACK = "http://testserver/onboarding/jira/callback/"


@pytest.fixture
def alice_client(client: Client, alice: User, team: Team) -> Client:
    client.force_login(alice)
    return client


def _token_requests(sandbox: RunningSandbox) -> int:
    return sandbox.control.jira_counters()["by_endpoint"].get("POST /atlassian/oauth/token", 0)


def _start(client: Client) -> str:
    response = client.post(reverse("onboarding:jira_connect"))
    assert response.status_code == 302
    return response["Location"]


def _connect(client: Client, *, site: str = "acme") -> None:
    response = client.get(consent_on_atlassian(_start(client), site=site))
    assert response.status_code == 302, response.content
    assert response["Location"] == reverse("onboarding:jira_projects")


def _page(client: Client, name: str, **query: str) -> str:
    response = client.get(reverse(name), query)
    assert response.status_code == 200, response.content
    return response.content.decode()


def _project_keys(page: str) -> list[str]:
    return [part.split('"')[0] for part in page.split('name="projects" value="')[1:]]


def test_it_offers_to_connect_jira_or_skip_it(alice_client: Client) -> None:
    page = _page(alice_client, "onboarding:jira")
    assert "Connect Jira (optional)" in page
    assert f'action="{reverse("onboarding:jira_connect")}"' in page
    assert ">Connect Jira</button>" in page
    assert f'href="{reverse("onboarding:slack")}" data-testid="skip">Skip</a>' in page


def test_it_sends_the_browser_to_atlassian_with_a_random_state(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    first = _start(alice_client)
    query = parse_qs(urlsplit(first).query)
    assert first.startswith(f"{jira_sandbox.url}/atlassian/authorize?")
    assert query["audience"] == ["api.atlassian.com"]
    assert query["client_id"] == ["sandbox-jira-client-id"]
    assert query["scope"] == ["read:jira-work offline_access"]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["response_type"] == ["code"] and query["prompt"] == ["consent"]
    second = parse_qs(urlsplit(_start(alice_client)).query)["state"][0]
    assert second != query["state"][0] and len(second) >= 32


def test_it_connects_jira_and_saves_the_chosen_projects(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    page = _page(alice_client, "onboarding:jira_projects")
    assert "Projects on <strong>acme</strong>" in page
    keys = _project_keys(page)
    assert len(keys) == 6
    assert f'href="{reverse("onboarding:slack")}" data-testid="skip">Skip</a>' in page

    site = Integration.objects.get(provider="jira")
    response = alice_client.post(
        reverse("onboarding:jira_projects"),
        {"site": _site_id(page), "projects": [keys[1], keys[3]]},
    )

    assert response.status_code == 302 and response["Location"] == reverse("onboarding:slack")
    site.refresh_from_db()
    assert site.config["site"]["name"] == "acme"
    assert [p["key"] for p in site.config["projects"]] == [keys[1], keys[3]]
    overview = _page(alice_client, "onboarding:jira")
    assert "Connected to <strong>acme</strong>" in overview
    assert f"({keys[1]})" in overview and ">Continue</a>" in overview
    again = _page(alice_client, "onboarding:jira_projects")
    assert again.count(" checked>") == 2


def test_it_keeps_the_tokens_encrypted_and_out_of_every_page(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    credential = IntegrationCredential.objects.get(provider="jira")
    pages = _page(alice_client, "onboarding:jira_projects") + _page(alice_client, "onboarding:jira")
    for secret in (credential.access_token, credential.refresh_token):
        assert secret and secret not in pages
        assert secret not in "".join(filter(None, stored_columns(credential)))


def test_it_lets_the_user_choose_among_the_granted_sites(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client, site="acme")
    _connect(alice_client, site="acme-labs")
    page = _page(alice_client, "onboarding:jira_projects")
    assert "Choose a site" in page and "acme-labs (https://acme-labs.atlassian.net)" in page
    assert 'name="projects"' not in page
    labs = page.split("(https://acme-labs.atlassian.net)")[0].rsplit('<option value="', 1)[1]
    labs_id = labs.split('"')[0]

    page = _page(alice_client, "onboarding:jira_projects", site=labs_id)

    assert "Projects on <strong>acme-labs</strong>" in page
    assert len(_project_keys(page)) == 2


def test_it_explains_a_cancel_on_atlassian(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    response = alice_client.get(consent_on_atlassian(_start(alice_client), accept=False))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Jira access was not granted" in page
    assert "You cancelled on Atlassian" in page
    assert "Connect Jira again</button>" in page
    assert f'href="{reverse("onboarding:slack")}" data-testid="skip">Skip Jira</a>' in page
    assert not Integration.objects.filter(provider="jira").exists()


def test_it_refuses_a_state_it_did_not_send_without_exchanging_the_code(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    callback = consent_on_atlassian(_start(alice_client))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    response = alice_client.get(callback.replace(state, "forged"))
    assert response.status_code == 400
    assert b"This Jira link is no longer valid" in response.content
    assert _token_requests(jira_sandbox) == 0
    assert Client().get(callback).status_code == 302  # another browser: sent to sign in
    assert not Integration.objects.filter(provider="jira").exists()


def test_it_uses_a_state_once(alice_client: Client, jira_sandbox: RunningSandbox) -> None:
    callback = consent_on_atlassian(_start(alice_client))
    assert alice_client.get(callback).status_code == 302
    replay = alice_client.get(callback)
    assert replay.status_code == 400
    assert b"This Jira link is no longer valid" in replay.content
    assert _token_requests(jira_sandbox) == 1


def test_it_explains_an_expired_code(alice_client: Client, jira_sandbox: RunningSandbox) -> None:
    callback = consent_on_atlassian(_start(alice_client))
    jira_sandbox.control.advance_clock(11 * 60)
    response = alice_client.get(callback)
    assert response.status_code == 400
    assert b"Atlassian did not accept the connection code" in response.content
    assert b"Connect Jira again</button>" in response.content


def test_it_explains_a_misconfigured_jira_app(
    alice_client: Client, jira_sandbox: RunningSandbox, settings: object
) -> None:
    callback = consent_on_atlassian(_start(alice_client))
    settings.JIRA_CLIENT_SECRET = "not-the-secret"  # type: ignore[attr-defined]
    response = alice_client.get(callback)
    assert response.status_code == 502
    assert b"This service&#x27;s Jira app is misconfigured" in response.content
    assert b"JIRA_CLIENT_SECRET" in response.content


def test_it_explains_that_atlassian_did_not_answer(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    callback = consent_on_atlassian(_start(alice_client))
    jira_sandbox.control.add_fault("^/atlassian/oauth/token$", status=503)
    response = alice_client.get(callback)
    assert response.status_code == 502
    assert b"Jira did not answer" in response.content
    assert not Integration.objects.filter(provider="jira").exists()


def test_it_offers_a_retry_when_jira_is_down_on_the_projects_page(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    jira_sandbox.control.add_fault("project/search", status=502, count=1)
    response = alice_client.get(reverse("onboarding:jira_projects"))
    assert response.status_code == 502
    assert (
        f'href="{reverse("onboarding:jira_projects")}">Try again</a>' in response.content.decode()
    )
    assert alice_client.get(reverse("onboarding:jira_projects")).status_code == 200


def test_it_explains_revoked_jira_access_with_a_way_forward(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    jira_sandbox.control.revoke_jira()  # the user removed the app in their Atlassian account

    response = alice_client.get(reverse("onboarding:jira_projects"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "Jira access was revoked" in page and "Connect Jira again</button>" in page
    assert Integration.objects.get(provider="jira").status == Integration.Status.REVOKED
    step = _page(alice_client, "onboarding:jira")
    assert "Jira access was revoked: connect again." in step
    assert ">Connect Jira again</button>" in step
    _connect(alice_client)  # connecting again fixes it
    assert _page(alice_client, "onboarding:jira_projects").count('name="projects"') == 6


def test_it_explains_a_grant_without_a_site(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    page = _page(alice_client, "onboarding:jira_projects")
    jira_sandbox.control.remove_jira_site(_site_id(page))
    response = alice_client.get(reverse("onboarding:jira_projects"))
    assert response.status_code == 400
    assert b"No Jira site to use" in response.content


def test_it_refreshes_an_expired_token_without_the_user_noticing(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    IntegrationCredential.objects.filter(provider="jira").update(
        expires_at=timezone.now() - timedelta(hours=2)
    )
    jira_sandbox.control.advance_clock(2 * 3600)
    before = _token_requests(jira_sandbox)

    page = _page(alice_client, "onboarding:jira_projects")

    assert len(_project_keys(page)) == 6
    assert _token_requests(jira_sandbox) == before + 1


def test_it_refuses_projects_jira_does_not_list(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    page = _page(alice_client, "onboarding:jira_projects")
    url = reverse("onboarding:jira_projects")

    wrong_key = alice_client.post(url, {"site": _site_id(page), "projects": ["NOPE"]})
    wrong_site = alice_client.post(url, {"site": "other", "projects": [_project_keys(page)[0]]})

    for response in (wrong_key, wrong_site):
        assert response.status_code == 400
        assert b"That is not one of your Jira projects" in response.content
        assert f'href="{url}">Choose again</a>' in response.content.decode()
    assert not Integration.objects.get(provider="jira").config.get("projects")


def test_it_asks_for_at_least_one_project(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    page = _page(alice_client, "onboarding:jira_projects")
    response = alice_client.post(reverse("onboarding:jira_projects"), {"site": _site_id(page)})
    assert response.status_code == 400
    assert b"Choose at least one project, or skip this step." in response.content
    assert len(_project_keys(response.content.decode())) == 6


def test_it_lets_only_the_teams_admins_connect_jira(
    client: Client, bob: User, team: Team, jira_sandbox: RunningSandbox
) -> None:
    client.force_login(bob)
    page = _page(client, "onboarding:jira")
    assert "Only the team's admins connect Jira." in page
    assert ">Connect Jira</button>" not in page
    response = client.get(consent_on_atlassian(_start(client)))
    assert response.status_code == 403
    assert b"Only the team&#x27;s admins connect Jira" in response.content
    assert _token_requests(jira_sandbox) == 0


def test_it_asks_a_stranger_to_sign_in_first(client: Client, db: None) -> None:
    for name in ("onboarding:jira", "onboarding:jira_callback", "onboarding:jira_projects"):
        assert client.get(reverse(name))["Location"].startswith(reverse("onboarding:start"))
    response = client.post(reverse("onboarding:jira_connect"))
    assert response["Location"].startswith(reverse("onboarding:start"))


def test_it_sends_someone_without_a_team_to_choose_one(client: Client, charlie: User) -> None:
    client.force_login(charlie)
    for name in ("onboarding:jira", "onboarding:jira_projects"):
        assert client.get(reverse(name))["Location"] == reverse("onboarding:select_org")


def _site_id(page: str) -> str:
    return page.split('name="site" value="')[1].split('"')[0]
