"""The providers' services (``sync.integrations``) against the sandbox: one suite over every
provider, then what only Jira (refreshing tokens, sites) or Slack (posting) does."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.testing import RunningSandbox
from sync import accounts, integrations
from sync.jira import client as jira
from sync.models import Integration, IntegrationCredential, Membership, Team
from sync.providers import errors
from sync.slack import client as slack
from tests.sync.integrating import (
    DRIVERS,
    JIRA_CALLBACK,
    Driver,
    connect_jira,
    connect_provider,
    connect_slack,
    stored_columns,
)


@pytest.fixture
def admin(team: Team, alice: User) -> Membership:
    return Membership.objects.select_related("team", "user").get(team=team, user=alice)


@pytest.fixture
def member(team: Team, bob: User) -> Membership:
    return Membership.objects.select_related("team", "user").get(team=team, user=bob)


@pytest.fixture(params=sorted(DRIVERS))
def provider(
    request: pytest.FixtureRequest, jira_sandbox: RunningSandbox, slack_sandbox: RunningSandbox
) -> Driver:
    return DRIVERS[request.param]


def _choices(provider: Driver, membership: Membership, **pick: Any) -> Any:
    return integrations.choices(provider=provider.name, membership=membership, pick=pick)


def _valid_pick(
    provider: Driver, membership: Membership, sandbox: RunningSandbox
) -> dict[str, Any]:
    choices = _choices(provider, membership)
    if provider.name == "jira":
        return {
            "site": choices.site.id,
            "projects": [choices.projects[2].key, choices.projects[0].key],
        }
    return {"channel": sandbox.control.slack_channel_id("pr-notices")}


# -- every provider --------------------------------------------------------------------------


def test_it_stores_the_tokens_encrypted(admin: Membership, provider: Driver) -> None:
    integration = connect_provider(provider, admin)

    assert integration.provider == provider.name
    assert integration.status == Integration.Status.ACTIVE
    credential = IntegrationCredential.objects.get(integration=integration)
    assert credential.user == admin.user
    access_column, refresh_column = stored_columns(credential)
    assert credential.access_token and credential.access_token not in access_column
    if credential.refresh_token:
        assert credential.refresh_token not in (refresh_column or "")
    assert "Secret('********')" in repr(credential.access_token)


def test_it_saves_a_choice_checked_against_the_provider(
    admin: Membership, provider: Driver, github: RunningSandbox
) -> None:
    connect_provider(provider, admin)
    pick = _valid_pick(provider, admin, github)

    integration = integrations.choose(provider=provider.name, membership=admin, pick=pick)

    assert integration.status == Integration.Status.ACTIVE
    stored = Integration.objects.get(pk=integration.pk)
    assert stored.config == integration.config and stored.status_detail == integration.status_detail
    again = _choices(provider, admin)
    if provider.name == "jira":
        assert again.chosen_keys == set(pick["projects"])
        assert [p["key"] for p in stored.config["projects"]] == pick["projects"]
    else:
        assert again.chosen_id == pick["channel"]


def test_it_refuses_a_choice_the_provider_does_not_list(
    admin: Membership, provider: Driver, github: RunningSandbox
) -> None:
    connect_provider(provider, admin)
    pick = _valid_pick(provider, admin, github)
    wrong = {k: (["NOPE"] if isinstance(v, list) else "C0NOTLISTED") for k, v in pick.items()}
    if provider.name == "jira":
        wrong["site"] = pick["site"]

    with pytest.raises(integrations.UnknownChoice):
        integrations.choose(provider=provider.name, membership=admin, pick=wrong)

    config = Integration.objects.get(provider=provider.name).config
    assert not {"projects", "channel_id"} & set(config)


def test_it_marks_the_integration_revoked_once(
    admin: Membership, provider: Driver, github: RunningSandbox
) -> None:
    connect_provider(provider, admin)
    provider.revoke(github.control)

    with pytest.raises(integrations.Revoked):
        _choices(provider, admin)

    integration = Integration.objects.get(provider=provider.name)
    assert integration.status == Integration.Status.REVOKED
    assert integration.status_detail == f"{provider.label} access was revoked: connect again."
    calls = provider.counters(github.control)["requests"]
    with pytest.raises(integrations.Revoked):  # no second trip to the provider
        _choices(provider, admin)
    assert provider.counters(github.control)["requests"] == calls


def test_it_keeps_the_choice_and_drops_the_old_tokens_on_reconnect(
    admin: Membership, provider: Driver, github: RunningSandbox
) -> None:
    first = connect_provider(provider, admin)
    pick = _valid_pick(provider, admin, github)
    chosen = integrations.choose(provider=provider.name, membership=admin, pick=pick).config
    provider.revoke(github.control)
    with pytest.raises(integrations.Revoked):
        _choices(provider, admin)

    second = connect_provider(provider, admin)

    assert second.pk == first.pk and second.status == Integration.Status.ACTIVE
    assert Integration.objects.get(pk=second.pk).config == chosen
    assert IntegrationCredential.objects.filter(provider=provider.name).count() == 1


def test_it_lets_only_the_teams_admins_connect_choose_and_disconnect(
    admin: Membership, member: Membership, provider: Driver, github: RunningSandbox
) -> None:
    with pytest.raises(accounts.NotAdmin):
        connect_provider(provider, member)
    assert provider.exchanges(github.control) == 0
    assert not Integration.objects.filter(provider=provider.name).exists()
    connect_provider(provider, admin)
    pick = _valid_pick(provider, admin, github)
    with pytest.raises(accounts.NotAdmin):
        integrations.choose(provider=provider.name, membership=member, pick=pick)
    with pytest.raises(accounts.NotAdmin):
        integrations.disconnect(provider=provider.name, membership=member)
    assert Integration.objects.filter(provider=provider.name).exists()


def test_it_disconnects_and_deletes_the_tokens(admin: Membership, provider: Driver) -> None:
    connect_provider(provider, admin)

    integrations.disconnect(provider=provider.name, membership=admin)
    integrations.disconnect(provider=provider.name, membership=admin)  # twice: no harm

    assert not Integration.objects.filter(provider=provider.name).exists()
    assert not IntegrationCredential.objects.filter(provider=provider.name).exists()
    with pytest.raises(integrations.NotConnected):
        _choices(provider, admin)


def test_it_explains_a_bad_code_and_wrong_app_credentials(
    admin: Membership, provider: Driver, settings: object
) -> None:
    def connect() -> None:
        integrations.connect(
            provider=provider.name, membership=admin, code="made-up", redirect_uri=provider.callback
        )

    with pytest.raises(errors.BadCode):
        connect()
    setattr(settings, f"{provider.name.upper()}_CLIENT_SECRET", "wrong")
    with pytest.raises(errors.Misconfigured):
        connect()


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 429},
        {"kind": "malformed_json"},
        {"kind": "delay", "delay_s": 1.5},
    ],
)
def test_it_turns_provider_failures_into_transient_errors(
    admin: Membership,
    provider: Driver,
    github: RunningSandbox,
    settings: object,
    fault: dict[str, object],
) -> None:
    connect_provider(provider, admin)
    setattr(settings, f"{provider.name.upper()}_TIMEOUT", 0.5)
    github.control.add_fault(provider.list_fault, count=1, **fault)  # type: ignore[arg-type]

    with pytest.raises(errors.Transient):
        _choices(provider, admin)

    assert Integration.objects.get(provider=provider.name).status == Integration.Status.ACTIVE


def test_it_never_logs_a_token(
    admin: Membership, provider: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    integration = connect_provider(provider, admin)
    IntegrationCredential.objects.filter(integration=integration).update(expires_at=timezone.now())
    _choices(provider, admin)
    credential = IntegrationCredential.objects.get(integration=integration)
    for secret in filter(None, (credential.access_token, credential.refresh_token)):
        assert secret not in caplog.text


# -- Jira only -------------------------------------------------------------------------------


def _token_requests(sandbox: RunningSandbox) -> int:
    return DRIVERS["jira"].exchanges(sandbox.control)


def test_it_keeps_the_jira_tokens_expiry_and_scopes(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    credential = connect_jira(admin).credential
    assert credential is not None and credential.refresh_token
    assert credential.scopes == "read:jira-work offline_access"
    lifetime = credential.expires_at - timezone.now()  # type: ignore[operator]
    assert timedelta(minutes=58) < lifetime <= timedelta(hours=1)


def test_it_lists_the_granted_jira_sites_and_the_projects_of_the_only_one(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)

    choices = _choices(DRIVERS["jira"], admin)

    assert [site.name for site in choices.sites] == ["acme"]
    assert choices.site is not None and choices.site.url == "https://acme.atlassian.net"
    assert len(choices.projects) == 6 and choices.chosen_keys == frozenset()
    with pytest.raises(integrations.UnknownChoice):
        _choices(DRIVERS["jira"], admin, site="not-a-cloud-id")


def test_it_refreshes_an_expired_jira_token_and_keeps_the_rotated_refresh_token(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    credential = connect_jira(admin).credential
    assert credential is not None
    old_access, old_refresh = credential.access_token, credential.refresh_token
    IntegrationCredential.objects.filter(pk=credential.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    before = _token_requests(jira_sandbox)

    assert len(_choices(DRIVERS["jira"], admin).projects) == 6

    assert _token_requests(jira_sandbox) == before + 1
    fresh = IntegrationCredential.objects.get(pk=credential.pk)
    assert fresh.access_token != old_access and fresh.refresh_token != old_refresh
    assert fresh.expires_at > timezone.now() + timedelta(minutes=58)  # type: ignore[operator]
    _choices(DRIVERS["jira"], admin)
    assert _token_requests(jira_sandbox) == before + 1  # fresh now: no second refresh


def test_it_refreshes_once_when_jira_refuses_a_token_before_its_expiry(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)
    jira_sandbox.control.advance_clock(3601)  # Jira's clock says expired; ours does not
    before = _token_requests(jira_sandbox)

    assert len(_choices(DRIVERS["jira"], admin).projects) == 6

    assert _token_requests(jira_sandbox) == before + 1


def test_it_reads_every_page_of_jira_projects(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    integration = connect_jira(admin)
    token = integrations.access_token(integration=integration)
    site = jira.make_client().accessible_sites(access_token=token)[0]

    projects = jira.make_client().list_projects(access_token=token, cloud_id=site.id, page_size=4)

    assert len({p.key for p in projects}) == 6
    searches = jira_sandbox.control.jira_counters()["by_endpoint"]
    assert searches["GET /atlassian-api/ex/jira/{cloudid}/rest/api/3/project/search"] == 2


def test_it_explains_a_jira_grant_without_a_site(
    admin: Membership, jira_sandbox: RunningSandbox
) -> None:
    connect_jira(admin)
    site = _choices(DRIVERS["jira"], admin).site
    jira_sandbox.control.remove_jira_site(site.id)
    with pytest.raises(integrations.NothingOffered):
        _choices(DRIVERS["jira"], admin)
    with pytest.raises(jira.BadCode):  # the old name of the shared error still answers
        integrations.connect(
            provider="jira", membership=admin, code="made-up", redirect_uri=JIRA_CALLBACK
        )


# -- Slack only ------------------------------------------------------------------------------


def test_it_keeps_the_slack_workspace(admin: Membership, slack_sandbox: RunningSandbox) -> None:
    integration = connect_slack(admin, channel=None)

    assert integration.external_id.startswith("T") and integration.config["workspace"] == "Acme"
    credential = IntegrationCredential.objects.get(integration=integration)
    assert credential.access_token.startswith("xoxb-")
    assert credential.scopes == "chat:write channels:read" and credential.expires_at is None


def test_it_offers_the_open_public_channels_with_the_apps_own_first(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)

    choices = _choices(DRIVERS["slack"], admin)

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


def test_it_refuses_a_channel_the_app_was_not_invited_to_or_that_is_archived(
    admin: Membership, slack_sandbox: RunningSandbox
) -> None:
    connect_slack(admin, channel=None)
    general = slack_sandbox.control.slack_channel_id("general")
    archived = slack_sandbox.control.slack_channel_id("old-launch")

    with pytest.raises(integrations.NotInChannel) as refused:
        integrations.choose(provider="slack", membership=admin, pick={"channel": general})
    with pytest.raises(integrations.UnknownChoice):
        integrations.choose(provider="slack", membership=admin, pick={"channel": archived})

    assert refused.value.channel_name == "general"
    assert "channel_id" not in Integration.objects.get(provider="slack").config
    assert slack_sandbox.control.slack_messages() == []
    slack_sandbox.control.invite_slack_bot(general)
    chosen = integrations.choose(provider="slack", membership=admin, pick={"channel": general})
    assert chosen.config["channel_name"] == "general"


def test_it_turns_slacks_own_error_answers_into_domain_errors(
    slack_sandbox: RunningSandbox, db: None
) -> None:
    token = slack_sandbox.control.issue_slack_token()
    fatal = {"ok": False, "error": "fatal_error"}
    slack_sandbox.control.add_fault("chat.postMessage", count=1, status=200, body=fatal)

    with pytest.raises(slack.Transient) as raised:
        slack.make_client().post_message(token=token, channel="pr-notices", text="hello")

    assert raised.value.code == "fatal_error"
