"""Slack's step: install the app in a workspace, choose the channel for import notices.

The bot token does not expire; choosing a channel posts a first message there, which proves the
app may post in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.access import Action
from sync.providers.base import Chosen, Grant, Provider, WithToken
from sync.providers.errors import NotInChannel, UnknownChoice
from sync.slack import client as slack


@dataclass(frozen=True)
class SlackChoices:
    workspace: str
    channels: list[slack.Channel]
    chosen_id: str


class SlackProvider(Provider):
    name = "slack"
    label = "Slack"
    action = Action.SLACK

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        return slack.make_client().authorize_url(redirect_uri=redirect_uri, state=state)

    def exchange(self, *, code: str, redirect_uri: str) -> Grant:
        install = slack.make_client().exchange_code(code=code, redirect_uri=redirect_uri)
        return Grant(
            access_token=install.access_token,
            refresh_token=None,
            expires_at=None,
            scopes=install.scopes,
            external_id=install.team_id,
            config={"workspace": install.team_name},
            detail=f"Installed in the {install.team_name} workspace.",
        )

    def choices(
        self, *, with_token: WithToken, config: Mapping[str, Any], pick: Mapping[str, Any]
    ) -> SlackChoices:
        """Return the workspace's public channels (the app's own first) and the saved one."""
        channels = with_token(lambda token: slack.make_client().list_channels(token=token))
        channels.sort(key=lambda c: (not c.is_member, c.name))
        workspace = str(config.get("workspace") or "")
        return SlackChoices(workspace, channels, str(config.get("channel_id") or ""))

    def choose(
        self,
        *,
        with_token: WithToken,
        config: Mapping[str, Any],
        pick: Mapping[str, Any],
        org: str,
    ) -> Chosen:
        """Post a first message to the channel; it becomes the team's channel for notices."""
        channels = self.choices(with_token=with_token, config=config, pick=pick).channels
        channel = next((c for c in channels if c.id == pick.get("channel")), None)
        if channel is None:
            raise UnknownChoice("That channel is not one of the workspace's public channels.")
        text = f"PR Insights will post here when an import of {org} finishes or fails."
        client = slack.make_client()
        try:
            with_token(
                lambda token: client.post_message(token=token, channel=channel.id, text=text)
            )
        except slack.NotInChannel:
            raise NotInChannel(channel.name) from None
        except slack.ChannelUnavailable:
            raise UnknownChoice(f"#{channel.name} no longer takes messages.") from None
        return Chosen(
            config=dict(config) | {"channel_id": channel.id, "channel_name": channel.name},
            external_id=None,
            detail=f"Posts to #{channel.name}.",
            announce=True,
        )
