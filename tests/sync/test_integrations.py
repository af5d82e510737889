from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import accounts, integrations
from sync.jira import client as jira
from sync.models import Integration, IntegrationCredential, Membership, Team
from sync.slack import client as slack
from tests.sync.integrating import JIRA_CALLBACK, connect_jira, connect_slack, stored_columns


@pytest.fixture
def admin(team: Team, alice: User) -> Membership:
    return Membership.objects.select_related("team", "user").get(team=team, user=alice)


@pytest.fixture
def member(team: Team, bob: User) -> Membership:
    return Membership.objects.select_related("team", "user").get(team=team, user=bob)


def _token_requests(sandbox: RunningSandbox) -> int:
    return sandbox.control.jira_counters()["by_endpoint"].get("POST /atlassian/oauth/token", 0)


# -- Jira --------------------------------------------------------------------------------------


def test_it_stores_the_jira_tokens_encrypted_with_their_expiry(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    integration = connect_jira(admin)

    assert integration.provider == "jira" and integration.status == Integration.Status.ACTIVE
    credential = IntegrationCredential.objects.get(integration=integration)
    assert credential.user == admin.user
    assert credential.scopes == "read:jira-work offline_access"
    assert credential.refresh_token
    lifetime = credential.expires_at - timezone.now()
    assert timedelta(minutes=58) < lifetime <= timedelta(hours=1)
    access_column, refresh_column = stored_columns(credential)
    assert credential.access_token not in access_column
    assert credential.refresh_token not in (refresh_column or "")
    assert "Secret('********')" in repr(credential.access_token)


def test_it_lists_the_granted_sites_and_the_projects_of_the_only_one(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)

    choices = integrations.jira_choices(membership=admin, site_id=None)

    assert [site.name for site in choices.sites] == ["acme"]
    assert choices.site is not None and choices.site.url == "https://acme.atlassian.net"
    assert len(choices.projects) == 6
    assert choices.chosen_keys == frozenset()


def test_it_saves_the_site_and_projects_checked_against_jira(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)
    choices = integrations.jira_choices(membership=admin, site_id=None)
    site, keys = choices.site, [choices.projects[2].key, choices.projects[0].key]
    assert site is not None

    integration = integrations.choose_jira_projects(
        membership=admin, site_id=site.id, project_keys=keys
    )

    assert integration.config["site"] == {"id": site.id, "name": "acme", "url": site.url}
    assert [p["key"] for p in integration.config["projects"]] == keys
    assert integration.external_id == site.id
    again = integrations.jira_choices(membership=admin, site_id=None)
    assert again.chosen_keys == set(keys)


def test_it_refuses_projects_and_sites_jira_does_not_list(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)
    choices = integrations.jira_choices(membership=admin, site_id=None)
    assert choices.site is not None
    real = choices.projects[0].key

    with pytest.raises(integrations.UnknownChoice):
        integrations.choose_jira_projects(
            membership=admin, site_id=choices.site.id, project_keys=[real, "NOPE"]
        )
    with pytest.raises(integrations.UnknownChoice):
        integrations.choose_jira_projects(
            membership=admin, site_id="not-a-cloud-id", project_keys=[real]
        )
    assert Integration.objects.get(provider="jira").config.get("projects") in (None, [])


def test_it_refreshes_an_expired_jira_token_and_keeps_the_rotated_refresh_token(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    integration = connect_jira(admin)
    credential = integration.credential
    assert credential is not None
    old_access, old_refresh = credential.access_token, credential.refresh_token
    IntegrationCredential.objects.filter(pk=credential.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    before = _token_requests(jira_sandbox)

    choices = integrations.jira_choices(membership=admin, site_id=None)

    assert len(choices.projects) == 6
    assert _token_requests(jira_sandbox) == before + 1
    fresh = IntegrationCredential.objects.get(pk=credential.pk)
    assert fresh.access_token != old_access
    assert fresh.refresh_token != old_refresh
    assert fresh.expires_at > timezone.now() + timedelta(minutes=58)
    integrations.jira_choices(membership=admin, site_id=None)
    assert _token_requests(jira_sandbox) == before + 1  # fresh now: no second refresh


def test_it_refreshes_once_when_jira_refuses_a_token_before_its_expiry(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)
    jira_sandbox.control.advance_clock(3601)  # Jira's clock says expired; ours does not
    before = _token_requests(jira_sandbox)

    assert len(integrations.jira_choices(membership=admin, site_id=None).projects) == 6

    assert _token_requests(jira_sandbox) == before + 1


def test_it_marks_jira_revoked_when_atlassian_refuses_the_refresh(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)
    jira_sandbox.control.revoke_jira()

    with pytest.raises(integrations.Revoked):
        integrations.jira_choices(membership=admin, site_id=None)

    integration = Integration.objects.get(provider="jira")
    assert integration.status == Integration.Status.REVOKED
    assert "connect again" in integration.status_detail
    with pytest.raises(integrations.Revoked):  # no second trip to Atlassian
        integrations.jira_choices(membership=admin, site_id=None)


def test_it_keeps_the_chosen_projects_and_drops_the_old_tokens_on_reconnect(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    first = connect_jira(admin)
    choices = integrations.jira_choices(membership=admin, site_id=None)
    assert choices.site is not None
    key = choices.projects[0].key
    integrations.choose_jira_projects(membership=admin, site_id=choices.site.id, project_keys=[key])
    jira_sandbox.control.revoke_jira()
    with pytest.raises(integrations.Revoked):
        integrations.jira_choices(membership=admin, site_id=None)

    second = connect_jira(admin)

    assert second.pk == first.pk and second.status == Integration.Status.ACTIVE
    assert [p["key"] for p in second.config["projects"]] == [key]
    assert IntegrationCredential.objects.filter(provider="jira").count() == 1
    assert integrations.jira_choices(membership=admin, site_id=None).chosen_keys == {key}


def test_it_lets_only_the_teams_admins_connect(
    member: Membership, jira_sandbox: RunningSandbox
) -> None:
    with pytest.raises(accounts.NotAdmin):
        connect_jira(member)
    assert _token_requests(jira_sandbox) == 0
    assert not Integration.objects.filter(provider="jira").exists()


def test_it_reads_every_page_of_jira_projects(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    integration = connect_jira(admin)
    token = integrations.jira_access_token(integration=integration)
    site = jira.make_client().accessible_sites(access_token=token)[0]

    projects = jira.make_client().list_projects(access_token=token, cloud_id=site.id, page_size=4)

    assert len({p.key for p in projects}) == 6
    searches = jira_sandbox.control.jira_counters()["by_endpoint"]
    assert searches["GET /atlassian-api/ex/jira/{cloudid}/rest/api/3/project/search"] == 2


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        ({"kind": "status", "status": 503}, jira.Transient),
        ({"kind": "status", "status": 429}, jira.Transient),
        ({"kind": "malformed_json"}, jira.Transient),
        ({"kind": "delay", "delay_s": 1.5}, jira.Transient),
    ],
)
def test_it_turns_atlassian_failures_into_domain_errors(
    admin: Membership,
    jira_sandbox: RunningSandbox,
    settings: object,
    fault: dict[str, object],
    raised: type[Exception],
) -> None:
    integration = connect_jira(admin)
    token = integrations.jira_access_token(integration=integration)
    settings.JIRA_TIMEOUT = 0.5  # type: ignore[attr-defined]
    jira_sandbox.control.add_fault("accessible-resources", count=1, **fault)  # type: ignore[arg-type]

    with pytest.raises(raised):
        jira.make_client().accessible_sites(access_token=token)


def test_it_explains_wrong_app_credentials_and_a_bad_code(
    admin: Membership, jira_sandbox: RunningSandbox, settings: object
) -> None:
    with pytest.raises(jira.BadCode):
        integrations.connect_jira(membership=admin, code="made-up", redirect_uri=JIRA_CALLBACK)
    settings.JIRA_CLIENT_SECRET = "wrong"  # type: ignore[attr-defined]
    with pytest.raises(jira.Misconfigured):
        integrations.connect_jira(membership=admin, code="made-up", redirect_uri=JIRA_CALLBACK)


def test_it_never_logs_a_jira_token(
    admin: Membership, jira_sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    integration = connect_jira(admin)
    IntegrationCredential.objects.filter(integration=integration).update(expires_at=timezone.now())
    integrations.jira_choices(membership=admin, site_id=None)
    credential = IntegrationCredential.objects.get(integration=integration)
    assert credential.access_token not in caplog.text
    assert credential.refresh_token not in caplog.text


# -- Slack -------------------------------------------------------------------------------------


def test_it_installs_slack_and_keeps_the_bot_token_encrypted(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    integration = connect_slack(admin, channel=None)

    assert integration.provider == "slack" and integration.external_id.startswith("T")
    assert integration.config["workspace"] == "Acme"
    credential = IntegrationCredential.objects.get(integration=integration)
    assert credential.access_token.startswith("xoxb-")
    assert credential.scopes == "chat:write channels:read"
    assert credential.access_token not in stored_columns(credential)[0]


def test_it_offers_the_open_public_channels_with_the_apps_own_first(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)

    choices = integrations.slack_choices(membership=admin)

    names = [c.name for c in choices.channels]
    assert names[:2] == ["engineering", "pr-notices"]
    assert "old-launch" not in names and len(names) == 13
    assert choices.workspace == "Acme" and choices.chosen_id == ""


def test_it_reads_every_page_of_channels(admin: Membership, slack_sandbox: RunningSandbox) -> None:
    token = slack_sandbox.control.issue_slack_token()

    channels = slack.make_client().list_channels(token=token, page_size=5)

    assert len({c.id for c in channels}) == 13
    counts = slack_sandbox.control.slack_counters()["by_endpoint"]
    assert counts["POST /slack/api/conversations.list"] == 3


def test_it_posts_a_first_message_to_the_chosen_channel(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    integration = connect_slack(admin, channel="pr-notices")

    assert integration.config["channel_name"] == "pr-notices"
    assert integration.config["channel_id"] == slack_sandbox.control.slack_channel_id("pr-notices")
    messages = slack_sandbox.control.slack_messages("pr-notices")
    assert [m["text"] for m in messages] == [
        "PR Insights will post here when an import of acme finishes or fails."
    ]


def test_it_refuses_a_channel_the_app_was_not_invited_to(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)
    general = slack_sandbox.control.slack_channel_id("general")

    with pytest.raises(integrations.NotInChannel) as refused:
        integrations.choose_slack_channel(membership=admin, channel_id=general)

    assert refused.value.channel_name == "general"
    assert "channel_id" not in Integration.objects.get(provider="slack").config
    slack_sandbox.control.invite_slack_bot(general)
    chosen = integrations.choose_slack_channel(membership=admin, channel_id=general)
    assert chosen.config["channel_name"] == "general"


def test_it_refuses_a_channel_slack_does_not_list(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)
    archived = slack_sandbox.control.slack_channel_id("old-launch")
    for channel_id in ("C0NOTACHANNEL", archived):
        with pytest.raises(integrations.UnknownChoice):
            integrations.choose_slack_channel(membership=admin, channel_id=channel_id)
    assert slack_sandbox.control.slack_messages() == []


def test_it_marks_slack_revoked_when_the_app_is_uninstalled(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)
    slack_sandbox.control.revoke_slack()

    with pytest.raises(integrations.Revoked):
        integrations.slack_choices(membership=admin)

    integration = Integration.objects.get(provider="slack")
    assert integration.status == Integration.Status.REVOKED
    connect_slack(admin, channel=None)  # installing again fixes it
    assert Integration.objects.get(provider="slack").status == Integration.Status.ACTIVE


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        ({"kind": "status", "status": 500}, slack.Transient),
        ({"kind": "status", "status": 429}, slack.Transient),
        ({"kind": "malformed_json"}, slack.Transient),
        ({"kind": "delay", "delay_s": 1.5}, slack.Transient),
        (
            {"kind": "status", "status": 200, "body": {"ok": False, "error": "fatal_error"}},
            slack.Transient,
        ),
    ],
)
def test_it_turns_slack_failures_into_domain_errors(
    slack_sandbox: RunningSandbox,
    settings: object,
    fault: dict[str, object],
    raised: type[Exception],
    db: None,
) -> None:
    token = slack_sandbox.control.issue_slack_token()
    settings.SLACK_TIMEOUT = 0.5  # type: ignore[attr-defined]
    slack_sandbox.control.add_fault("chat.postMessage", count=1, **fault)  # type: ignore[arg-type]

    with pytest.raises(raised):
        slack.make_client().post_message(token=token, channel="pr-notices", text="hello")


def test_it_explains_a_bad_install_code_and_wrong_app_credentials(
    admin: Membership, slack_sandbox: RunningSandbox, settings: object
) -> None:
    callback = "http://testserver/onboarding/slack/callback/"
    with pytest.raises(slack.BadCode):
        integrations.connect_slack(membership=admin, code="made-up", redirect_uri=callback)
    settings.SLACK_CLIENT_SECRET = "wrong"  # type: ignore[attr-defined]
    with pytest.raises(slack.Misconfigured):
        integrations.connect_slack(membership=admin, code="made-up", redirect_uri=callback)
