from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from sandbox.testing import RunningSandbox
from sync.models import Integration, IntegrationCredential, Team
from tests.sync.integrating import install_on_slack, stored_columns

CALLBACK = "http://testserver/onboarding/slack/callback/"
WELCOME = "PR Insights will post here when an import of acme finishes or fails."


@pytest.fixture
def alice_client(client: Client, alice: User, team: Team) -> Client:
    client.force_login(alice)
    return client


def _exchanges(sandbox: RunningSandbox) -> int:
    counts = sandbox.control.slack_counters()["by_endpoint"]
    return counts.get("POST /slack/api/oauth.v2.access", 0)


def _start(client: Client) -> str:
    response = client.post(reverse("onboarding:slack_connect"))
    assert response.status_code == 302
    return response["Location"]


def _connect(client: Client) -> None:
    response = client.get(install_on_slack(_start(client)))
    assert response.status_code == 302, response.content
    assert response["Location"] == reverse("onboarding:slack_channel")


def _page(client: Client, name: str) -> str:
    response = client.get(reverse(name))
    assert response.status_code == 200, response.content
    return response.content.decode()


def _choose(client: Client, sandbox: RunningSandbox, name: str) -> object:
    channel = sandbox.control.slack_channel_id(name)
    return client.post(reverse("onboarding:slack_channel"), {"channel": channel})


def test_it_offers_to_connect_slack_or_skip_it(alice_client: Client) -> None:
    page = _page(alice_client, "onboarding:slack")
    assert "Connect Slack (optional)" in page
    assert ">Connect Slack</button>" in page
    assert f'href="{reverse("onboarding:complete")}" data-testid="skip">Skip</a>' in page


def test_it_sends_the_browser_to_slack_with_a_random_state(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    first = _start(alice_client)
    query = parse_qs(urlsplit(first).query)
    assert first.startswith(f"{slack_sandbox.url}/slack/oauth/v2/authorize?")
    assert query["client_id"] == ["sandbox-slack-client-id"]
    assert query["scope"] == ["chat:write,channels:read"]
    assert query["redirect_uri"] == [CALLBACK]
    second = parse_qs(urlsplit(_start(alice_client)).query)["state"][0]
    assert second != query["state"][0] and len(second) >= 32


def test_it_installs_slack_and_posts_to_the_chosen_channel(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    page = _page(alice_client, "onboarding:slack_channel")
    assert "#pr-notices" in page and "#general" in page and "#old-launch" not in page
    assert page.index("#engineering") < page.index("#general")  # the app's own channels first
    assert page.count("PR Insights is in it") == 2
    assert f'href="{reverse("onboarding:complete")}" data-testid="skip">Skip</a>' in page

    response = _choose(alice_client, slack_sandbox, "pr-notices")

    assert response["Location"] == reverse("onboarding:complete")  # type: ignore[index]
    messages = slack_sandbox.control.slack_messages("pr-notices")
    assert [m["text"] for m in messages] == [WELCOME]
    integration = Integration.objects.get(provider="slack")
    assert integration.config["channel_name"] == "pr-notices"
    step = _page(alice_client, "onboarding:slack")
    assert "Posting to <strong>#pr-notices</strong> in the Acme workspace." in step
    assert ">Continue</a>" in step


def test_it_keeps_the_bot_token_encrypted_and_out_of_every_page(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    credential = IntegrationCredential.objects.get(provider="slack")
    pages = _page(alice_client, "onboarding:slack_channel") + _page(
        alice_client, "onboarding:slack"
    )
    assert credential.access_token.startswith("xoxb-")
    assert credential.access_token not in pages
    assert credential.access_token not in stored_columns(credential)[0]


def test_it_explains_a_cancel_on_slack(alice_client: Client, slack_sandbox: RunningSandbox) -> None:
    response = alice_client.get(install_on_slack(_start(alice_client), allow=False))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Slack was not connected" in page and "You cancelled on Slack" in page
    assert "Connect Slack again</button>" in page
    assert f'href="{reverse("onboarding:complete")}" data-testid="skip">Skip Slack</a>' in page
    assert not Integration.objects.filter(provider="slack").exists()


def test_it_refuses_a_state_it_did_not_send_without_exchanging_the_code(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    callback = install_on_slack(_start(alice_client))
    state = parse_qs(urlsplit(callback).query)["state"][0]
    response = alice_client.get(callback.replace(state, "forged"))
    assert response.status_code == 400
    assert b"This Slack link is no longer valid" in response.content
    assert _exchanges(slack_sandbox) == 0
    assert not Integration.objects.filter(provider="slack").exists()


def test_it_uses_a_state_once(alice_client: Client, slack_sandbox: RunningSandbox) -> None:
    callback = install_on_slack(_start(alice_client))
    assert alice_client.get(callback).status_code == 302
    replay = alice_client.get(callback)
    assert replay.status_code == 400
    assert b"This Slack link is no longer valid" in replay.content
    assert _exchanges(slack_sandbox) == 1


def test_it_explains_an_expired_code(alice_client: Client, slack_sandbox: RunningSandbox) -> None:
    callback = install_on_slack(_start(alice_client))
    slack_sandbox.control.advance_clock(11 * 60)
    response = alice_client.get(callback)
    assert response.status_code == 400
    assert b"Slack did not accept the install code" in response.content
    assert b"Connect Slack again</button>" in response.content


def test_it_explains_a_misconfigured_slack_app(
    alice_client: Client, slack_sandbox: RunningSandbox, settings: object
) -> None:
    callback = install_on_slack(_start(alice_client))
    settings.SLACK_CLIENT_SECRET = "not-the-secret"  # type: ignore[attr-defined]
    response = alice_client.get(callback)
    assert response.status_code == 502
    assert b"Slack app is misconfigured" in response.content
    assert b"SLACK_CLIENT_SECRET" in response.content


def test_it_explains_that_slack_did_not_answer(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    callback = install_on_slack(_start(alice_client))
    slack_sandbox.control.add_fault("oauth.v2.access", status=503)
    response = alice_client.get(callback)
    assert response.status_code == 502
    assert b"Slack did not answer" in response.content
    assert not Integration.objects.filter(provider="slack").exists()


def test_it_explains_how_to_invite_the_app_to_a_channel(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)

    response = _choose(alice_client, slack_sandbox, "general")

    assert response.status_code == 409  # type: ignore[attr-defined]
    page = response.content.decode()  # type: ignore[attr-defined]
    assert "PR Insights is not in that channel yet" in page
    assert "open #general and type" in page and "/invite @PR Insights" in page
    assert f'href="{reverse("onboarding:slack_channel")}">Choose again</a>' in page
    assert "channel_id" not in Integration.objects.get(provider="slack").config
    slack_sandbox.control.invite_slack_bot(slack_sandbox.control.slack_channel_id("general"))
    assert _choose(alice_client, slack_sandbox, "general")["Location"] == reverse(  # type: ignore[index]
        "onboarding:complete"
    )
    assert [m["text"] for m in slack_sandbox.control.slack_messages("general")] == [WELCOME]


def test_it_explains_revoked_slack_access_with_a_way_forward(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    slack_sandbox.control.revoke_slack()  # the app was removed from the workspace

    response = alice_client.get(reverse("onboarding:slack_channel"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "Slack access was revoked" in page and "Connect Slack again</button>" in page
    assert Integration.objects.get(provider="slack").status == Integration.Status.REVOKED
    step = _page(alice_client, "onboarding:slack")
    assert "Slack access was revoked: connect again." in step
    _connect(alice_client)
    assert "#pr-notices" in _page(alice_client, "onboarding:slack_channel")


def test_it_refuses_a_channel_slack_does_not_offer(
    alice_client: Client, slack_sandbox: RunningSandbox
) -> None:
    _connect(alice_client)
    for channel in ("C0NOTACHANNEL", slack_sandbox.control.slack_channel_id("old-launch")):
        response = alice_client.post(reverse("onboarding:slack_channel"), {"channel": channel})
        assert response.status_code == 400
        assert b"That channel cannot be used" in response.content
    assert slack_sandbox.control.slack_messages() == []


def test_it_asks_for_a_channel(alice_client: Client, slack_sandbox: RunningSandbox) -> None:
    _connect(alice_client)
    response = alice_client.post(reverse("onboarding:slack_channel"), {"channel": "#pr-notices"})
    assert response.status_code == 400
    assert b"Choose a channel, or skip this step." in response.content
    assert b"#pr-notices" in response.content


def test_it_lets_only_the_teams_admins_connect_slack(
    client: Client, bob: User, team: Team, slack_sandbox: RunningSandbox
) -> None:
    client.force_login(bob)
    page = _page(client, "onboarding:slack")
    assert "Only the team's admins connect Slack." in page
    response = client.get(install_on_slack(_start(client)))
    assert response.status_code == 403
    assert b"Only the team&#x27;s admins connect Slack" in response.content
    assert _exchanges(slack_sandbox) == 0


def test_it_asks_a_stranger_to_sign_in_first(client: Client, db: None) -> None:
    for name in ("onboarding:slack", "onboarding:slack_callback", "onboarding:slack_channel"):
        assert client.get(reverse(name))["Location"].startswith(reverse("onboarding:start"))
    response = client.post(reverse("onboarding:slack_connect"))
    assert response["Location"].startswith(reverse("onboarding:start"))


def test_it_leads_from_jira_to_slack_to_the_overview(alice_client: Client) -> None:
    jira = _page(alice_client, "onboarding:jira")
    assert f'href="{reverse("onboarding:slack")}" data-testid="skip">' in jira
    slack = _page(alice_client, "onboarding:slack")
    assert f'href="{reverse("onboarding:complete")}" data-testid="skip">' in slack
