"""Every optional provider's step (Jira, Slack) through the test client against the sandbox:
one suite over both, then what only one of them does."""

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
from tests.sync.integrating import (
    DRIVERS,
    Driver,
    consent_on_atlassian,
    stored_columns,
)

WELCOME = "PR Insights will post here when an import of acme finishes or fails."


@pytest.fixture(params=sorted(DRIVERS))
def provider(
    request: pytest.FixtureRequest, jira_sandbox: RunningSandbox, slack_sandbox: RunningSandbox
) -> Driver:
    return DRIVERS[request.param]


@pytest.fixture
def alice_client(client: Client, alice: User, team: Team) -> Client:
    client.force_login(alice)
    return client


def _url(provider: Driver, page: str = "") -> str:
    return reverse(f"onboarding:{provider.name}{'_' + page if page else ''}")


def _pick(provider: Driver) -> str:
    return _url(provider, provider.pick_path)


def _list(provider: Driver) -> str:
    return _url(provider, f"{provider.pick_path}_list")


def _start(client: Client, provider: Driver) -> str:
    response = client.post(_url(provider, "connect"))
    assert response.status_code == 302
    return response["Location"]


def _connect(client: Client, provider: Driver) -> None:
    response = client.get(provider.consent(_start(client, provider)))
    assert response.status_code == 302, response.content
    assert response["Location"] == _pick(provider)


def _page(client: Client, url: str, **query: str) -> str:
    response = client.get(url, query)
    assert response.status_code == 200, response.content
    return response.content.decode()


def _options(page: str, provider: Driver) -> int:
    return page.count(f'name="{"projects" if provider.name == "jira" else "channel"}" value="')


def _skip(provider: Driver) -> str:
    return f'href="{reverse(provider.next_url)}" data-testid="skip">'


# -- every provider --------------------------------------------------------------------------


def test_it_offers_to_connect_or_skip(alice_client: Client, provider: Driver) -> None:
    page = _page(alice_client, _url(provider))
    assert f"Connect {provider.label} (optional)" in page
    assert f'action="{_url(provider, "connect")}"' in page
    assert f">Connect {provider.label}</button>" in page
    assert f"{_skip(provider)}Skip</a>" in page
    assert 'data-testid="disconnect"' not in page


def test_it_sends_the_browser_to_the_provider_with_a_random_state(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    first = _start(alice_client, provider)
    query = parse_qs(urlsplit(first).query)
    assert first.startswith(f"{github.url}{provider.authorize_path}")
    assert {k: v for k, v in query.items() if k != "state"} == provider.authorize_query
    second = parse_qs(urlsplit(_start(alice_client, provider)).query)["state"][0]
    assert second != query["state"][0] and len(second) >= 32


def test_it_shows_the_pick_page_at_once_and_loads_the_list_after_it(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    _connect(alice_client, provider)
    before = provider.counters(github.control)

    shell = _page(alice_client, _pick(provider))

    assert 'data-testid="pick-loading"' in shell and f'hx-get="{_list(provider)}"' in shell
    assert provider.counters(github.control)["requests"] == before["requests"]  # no call yet
    assert _options(shell, provider) == 0
    fragment = alice_client.get(_list(provider), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    listed = fragment.content.decode()
    assert "<html" not in listed and _options(listed, provider) == provider.options
    assert _options(_page(alice_client, _list(provider)), provider) == provider.options


def test_it_connects_and_saves_the_choice(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    _connect(alice_client, provider)
    page = _page(alice_client, _list(provider))
    assert f"{_skip(provider)}Skip</a>" in page

    chosen = provider.pick(github.control, page)
    response = alice_client.post(_pick(provider), chosen)

    assert response.status_code == 302 and response["Location"] == reverse(provider.next_url)
    integration = Integration.objects.get(provider=provider.name)
    assert integration.status == Integration.Status.ACTIVE and integration.config
    step = _page(alice_client, _url(provider))
    assert f"{_skip(provider)}Continue</a>" in step
    assert 'data-testid="disconnect"' in step
    checked = _page(alice_client, _list(provider)).count(" checked>")
    assert checked == len(chosen.get("projects", [chosen.get("channel")]))


def test_it_keeps_the_tokens_encrypted_and_out_of_every_page(
    alice_client: Client, provider: Driver
) -> None:
    _connect(alice_client, provider)
    credential = IntegrationCredential.objects.get(provider=provider.name)
    pages = _page(alice_client, _list(provider)) + _page(alice_client, _url(provider))
    columns = "".join(filter(None, stored_columns(credential)))
    for secret in filter(None, (credential.access_token, credential.refresh_token)):
        assert secret not in pages and secret not in columns


def test_it_explains_a_cancel_on_the_providers_page(alice_client: Client, provider: Driver) -> None:
    response = alice_client.get(provider.consent(_start(alice_client, provider), accept=False))
    assert response.status_code == 403
    page = response.content.decode()
    assert f"{provider.label} was not connected" in page
    assert f"You cancelled on {provider.vendor}&#x27;s page" in page
    assert f"Connect {provider.label} again</button>" in page
    assert f"{_skip(provider)}Skip {provider.label}</a>" in page
    assert not Integration.objects.filter(provider=provider.name).exists()


def test_it_refuses_a_state_it_did_not_send_without_exchanging_the_code(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    callback = provider.consent(_start(alice_client, provider))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    response = alice_client.get(callback.replace(state, "forged"))
    assert response.status_code == 400
    assert f"This {provider.label} link is no longer valid" in response.content.decode()
    assert provider.exchanges(github.control) == 0
    assert Client().get(callback).status_code == 302  # another browser: sent to sign in
    assert not Integration.objects.filter(provider=provider.name).exists()


def test_it_uses_a_state_once_and_sends_a_connected_users_replay_back_to_the_step(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    callback = provider.consent(_start(alice_client, provider))
    connected = alice_client.get(callback)
    assert connected.status_code == 302

    # Back onto the provider's page after connecting, then on again: the step, not an error.
    replay = alice_client.get(callback)
    assert (replay.status_code, replay["Location"]) == (302, connected["Location"])
    assert provider.exchanges(github.control) == 1

    Integration.objects.filter(provider=provider.name).update(status=Integration.Status.REVOKED)
    refused = alice_client.get(callback)
    assert refused.status_code == 400
    assert f"This {provider.label} link is no longer valid" in refused.content.decode()
    assert provider.exchanges(github.control) == 1


def test_it_explains_an_expired_code(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    callback = provider.consent(_start(alice_client, provider))
    github.control.advance_clock(11 * 60)
    response = alice_client.get(callback)
    assert response.status_code == 400
    page = response.content.decode()
    assert f"{provider.vendor} did not accept the connection code" in page
    assert f"Connect {provider.label} again</button>" in page


def test_it_explains_a_misconfigured_app(
    alice_client: Client, provider: Driver, settings: object
) -> None:
    callback = provider.consent(_start(alice_client, provider))
    setattr(settings, f"{provider.name.upper()}_CLIENT_SECRET", "not-the-secret")
    response = alice_client.get(callback)
    assert response.status_code == 502
    page = response.content.decode()
    assert f"This service&#x27;s {provider.label} app is misconfigured" in page
    assert f"{provider.name.upper()}_CLIENT_SECRET" in page
    assert f"Connect {provider.label} again</button>" not in page


def test_it_explains_that_the_provider_did_not_answer(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    callback = provider.consent(_start(alice_client, provider))
    github.control.add_fault(provider.exchange_fault, status=503)
    response = alice_client.get(callback)
    assert response.status_code == 502
    assert f"{provider.label} did not answer" in response.content.decode()
    assert not Integration.objects.filter(provider=provider.name).exists()


def test_it_offers_a_retry_when_the_list_does_not_load(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    _connect(alice_client, provider)
    github.control.add_fault(provider.list_fault, status=502, count=2)

    page = alice_client.get(_list(provider))
    fragment = alice_client.get(_list(provider), headers={"HX-Request": "true"})

    assert page.status_code == 502
    assert f'href="{_pick(provider)}">Try again</a>' in page.content.decode()
    assert fragment.status_code == 200  # htmx swaps only 2xx: the error is the fragment
    text = fragment.content.decode()
    assert "<html" not in text and 'role="alert"' in text
    assert f"{provider.label} did not answer" in text and ">Try again</a>" in text
    assert _options(_page(alice_client, _list(provider)), provider) == provider.options


def test_it_explains_revoked_access_with_a_way_forward(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    _connect(alice_client, provider)
    provider.revoke(github.control)  # the user removed the app on the provider's side

    response = alice_client.get(_list(provider))

    assert response.status_code == 403
    page = response.content.decode()
    assert f"{provider.label} access was revoked" in page
    assert f"Connect {provider.label} again</button>" in page
    assert Integration.objects.get(provider=provider.name).status == Integration.Status.REVOKED
    step = _page(alice_client, _url(provider))
    assert f"{provider.label} access was revoked: connect again." in step
    assert f">Connect {provider.label} again</button>" in step
    _connect(alice_client, provider)  # connecting again fixes it
    assert _options(_page(alice_client, _list(provider)), provider) == provider.options


def test_it_refuses_a_choice_the_provider_does_not_list(
    alice_client: Client, provider: Driver, github: RunningSandbox
) -> None:
    _connect(alice_client, provider)
    page = _page(alice_client, _list(provider))

    response = alice_client.post(_pick(provider), provider.bad_pick(github.control, page))

    assert response.status_code == 400
    text = response.content.decode()
    assert provider.unknown_choice in text and f'href="{_pick(provider)}">Choose again</a>' in text
    integration = Integration.objects.get(provider=provider.name)
    assert not {"projects", "channel_id"} & set(integration.config)


def test_it_asks_for_a_choice(alice_client: Client, provider: Driver) -> None:
    _connect(alice_client, provider)
    page = _page(alice_client, _list(provider))

    response = alice_client.post(_pick(provider), provider.no_pick(page))

    assert response.status_code == 400
    assert provider.prompt in response.content.decode()
    assert _options(response.content.decode(), provider) == provider.options


def test_it_lets_only_the_teams_admins_connect(
    client: Client, bob: User, team: Team, provider: Driver, github: RunningSandbox
) -> None:
    client.force_login(bob)
    page = _page(client, _url(provider))
    assert f"Only the team's admins connect {provider.label}." in page
    assert f">Connect {provider.label}</button>" not in page
    response = client.get(provider.consent(_start(client, provider)))
    assert response.status_code == 403
    assert f"Only the team&#x27;s admins connect {provider.label}" in response.content.decode()
    assert provider.exchanges(github.control) == 0
    assert client.post(_url(provider, "disconnect")).status_code == 403


def test_it_disconnects_and_forgets_the_tokens(alice_client: Client, provider: Driver) -> None:
    _connect(alice_client, provider)

    response = alice_client.post(_url(provider, "disconnect"))

    assert response.status_code == 302 and response["Location"] == _url(provider)
    assert not Integration.objects.filter(provider=provider.name).exists()
    assert not IntegrationCredential.objects.filter(provider=provider.name).exists()
    assert f">Connect {provider.label}</button>" in _page(alice_client, _url(provider))
    assert alice_client.get(_list(provider))["Location"] == _url(provider)


def test_it_asks_a_stranger_to_sign_in_first(client: Client, db: None) -> None:
    for provider in DRIVERS.values():
        for page in ("", "callback", provider.pick_path, f"{provider.pick_path}_list"):
            assert client.get(_url(provider, page))["Location"].startswith(
                reverse("onboarding:start")
            )
        for page in ("connect", "disconnect"):
            assert client.post(_url(provider, page))["Location"].startswith(
                reverse("onboarding:start")
            )


def test_it_sends_someone_without_a_team_to_choose_one(client: Client, charlie: User) -> None:
    client.force_login(charlie)
    for provider in DRIVERS.values():
        for page in ("", provider.pick_path, f"{provider.pick_path}_list"):
            assert client.get(_url(provider, page))["Location"] == reverse("onboarding:select_org")


def test_it_leads_from_jira_to_slack_to_the_overview(alice_client: Client) -> None:
    jira = _page(alice_client, reverse("onboarding:jira"))
    assert f'href="{reverse("onboarding:slack")}" data-testid="skip">' in jira
    slack = _page(alice_client, reverse("onboarding:slack"))
    assert f'href="{reverse("onboarding:complete")}" data-testid="skip">' in slack


# -- Jira only -------------------------------------------------------------------------------


def test_it_lets_the_user_choose_among_the_granted_jira_sites(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    jira = DRIVERS["jira"]
    for site in ("acme", "acme-labs"):
        callback = consent_on_atlassian(_start(alice_client, jira), site=site)
        assert alice_client.get(callback).status_code == 302
    page = _page(alice_client, _list(jira))
    assert "Choose a site" in page and "acme-labs (https://acme-labs.atlassian.net)" in page
    assert 'name="projects"' not in page
    labs = page.split("(https://acme-labs.atlassian.net)")[0].rsplit('<option value="', 1)[1]
    labs_id = labs.split('"')[0]

    shell = _page(alice_client, _pick(jira), site=labs_id)
    page = _page(alice_client, _list(jira), site=labs_id)

    assert f"{_list(jira)}?site={labs_id}" in shell
    assert "Projects on <strong>acme-labs</strong>" in page
    assert _options(page, jira) == 2


def test_it_shows_the_chosen_jira_projects_on_the_step(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    jira = DRIVERS["jira"]
    _connect(alice_client, jira)
    page = _page(alice_client, _list(jira))
    assert "Projects on <strong>acme</strong>" in page
    chosen = jira.pick(jira_sandbox.control, page)
    alice_client.post(_pick(jira), chosen)
    step = _page(alice_client, _url(jira))
    assert "Connected to <strong>acme</strong>" in step and ">Change projects</a>" in step
    assert all(f"({key})" in step for key in chosen["projects"])
    assert _page(alice_client, _list(jira)).count(" checked>") == 2


def test_it_explains_a_jira_grant_without_a_site(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    jira = DRIVERS["jira"]
    _connect(alice_client, jira)
    page = _page(alice_client, _list(jira))
    jira_sandbox.control.remove_jira_site(page.split('name="site" value="')[1].split('"')[0])
    response = alice_client.get(_list(jira))
    assert response.status_code == 400
    assert b"No Jira site to use" in response.content


def test_it_refreshes_an_expired_jira_token_without_the_user_noticing(
    alice_client: Client, jira_sandbox: RunningSandbox
) -> None:
    jira = DRIVERS["jira"]
    _connect(alice_client, jira)
    IntegrationCredential.objects.filter(provider="jira").update(
        expires_at=timezone.now() - timedelta(hours=2)
    )
    jira_sandbox.control.advance_clock(2 * 3600)
    before = jira.exchanges(jira_sandbox.control)

    assert _options(_page(alice_client, _list(jira)), jira) == 6

    assert jira.exchanges(jira_sandbox.control) == before + 1


# -- Slack only ------------------------------------------------------------------------------


def test_it_lists_the_apps_own_slack_channels_first_and_posts_a_welcome(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    slack = DRIVERS["slack"]
    _connect(alice_client, slack)
    page = _page(alice_client, _list(slack))
    assert "#pr-notices" in page and "#general" in page and "#old-launch" not in page
    assert page.index("#engineering") < page.index("#general")
    assert page.count("PR Insights is in it") == 2

    alice_client.post(_pick(slack), slack.pick(slack_sandbox.control, page))

    assert [m["text"] for m in slack_sandbox.control.slack_messages("pr-notices")] == [WELCOME]
    step = _page(alice_client, _url(slack))
    assert "Posting to <strong>#pr-notices</strong> in the Acme workspace." in step


def test_it_explains_how_to_invite_the_slack_app_to_a_channel(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    slack = DRIVERS["slack"]
    _connect(alice_client, slack)
    general = slack_sandbox.control.slack_channel_id("general")

    response = alice_client.post(_pick(slack), {"channel": general})

    assert response.status_code == 409
    page = response.content.decode()
    assert "PR Insights is not in that channel yet" in page
    assert "open #general and type" in page and "/invite @PR Insights" in page
    assert f'href="{_pick(slack)}">Choose again</a>' in page
    assert "channel_id" not in Integration.objects.get(provider="slack").config
    slack_sandbox.control.invite_slack_bot(general)
    assert alice_client.post(_pick(slack), {"channel": general})["Location"] == reverse(
        "onboarding:complete"
    )
    assert [m["text"] for m in slack_sandbox.control.slack_messages("general")] == [WELCOME]


def test_it_refuses_a_malformed_slack_channel(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    slack = DRIVERS["slack"]
    _connect(alice_client, slack)
    response = alice_client.post(_pick(slack), {"channel": "#pr-notices"})
    assert response.status_code == 400
    assert b"Choose a channel, or skip this step." in response.content
    assert slack_sandbox.control.slack_messages() == []
