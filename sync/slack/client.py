"""Slack's OAuth v2 install and Web API: the only module that talks to Slack.

Slack: https://api.slack.com/authentication/oauth-v2 and https://api.slack.com/web. Web API
methods answer HTTP 200 with ``{"ok": false, "error": "..."}`` for most failures (429 with
``Retry-After`` when rate limited); each error code becomes one of the exceptions below here,
and answers become typed objects. Nothing in this module logs or formats a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from sync.fields import Secret
from sync.providers.errors import AccessRevoked, BadCode, Misconfigured, ProviderError, Transient
from sync.providers.http import ProviderHttp, json_of

logger = logging.getLogger(__name__)

# Post the import's outcome, and list the public channels to pick one from.
SCOPES = ("chat:write", "channels:read")
CHANNEL_PAGE = 200  # Slack recommends no more than 200 per page of conversations.list
MAX_CHANNEL_PAGES = 50


SlackError = ProviderError  # Slack's error code is ``error.code``


class ChannelUnavailable(SlackError):
    """The channel does not exist (any more) or is archived."""


class NotInChannel(SlackError):
    """The app's bot is not a member of the channel: someone must /invite it."""


_ERRORS: dict[str, type[SlackError]] = {
    "invalid_code": BadCode,
    "code_already_used": BadCode,
    "invalid_client_id": Misconfigured,
    "bad_client_secret": Misconfigured,
    "bad_redirect_uri": Misconfigured,
    "oauth_authorization_url_mismatch": Misconfigured,
    "not_authed": AccessRevoked,
    "invalid_auth": AccessRevoked,
    "token_revoked": AccessRevoked,
    "token_expired": AccessRevoked,
    "account_inactive": AccessRevoked,
    "missing_scope": AccessRevoked,
    "channel_not_found": ChannelUnavailable,
    "is_archived": ChannelUnavailable,
    "not_in_channel": NotInChannel,
    "ratelimited": Transient,
    "internal_error": Transient,
    "fatal_error": Transient,
    "service_unavailable": Transient,
    "request_timeout": Transient,
}


@dataclass(frozen=True)
class Install:
    """What installing the app into a workspace gave us: the bot token and the workspace."""

    access_token: Secret
    team_id: str
    team_name: str
    bot_user_id: str
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Install(team_id={self.team_id!r}, scopes={self.scopes!r})"


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    is_member: bool  # the app's bot is in it, so it may post there
    num_members: int


@dataclass(frozen=True)
class PostedMessage:
    channel: str
    ts: str


class SlackClient(ProviderHttp):
    """Slack's install page, oauth.v2.access, conversations.list and chat.postMessage."""

    vendor = "Slack"

    def __init__(self, *, base_url: str, **app: Any) -> None:
        super().__init__(**app)
        self.base_url = base_url.rstrip("/")

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        """Return Slack's install page for our bot scopes."""
        query = {
            "client_id": self.client_id,
            "scope": ",".join(SCOPES),
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return f"{self.base_url}/oauth/v2/authorize?{urlencode(query)}"

    def exchange_code(self, *, code: str, redirect_uri: str) -> Install:
        """Trade the callback's code for the bot token (oauth.v2.access)."""
        data = self._call(
            "oauth.v2.access",
            data={"code": code, "redirect_uri": redirect_uri},
            auth=(self.client_id, self.client_secret),
        )
        try:
            token, team = data["access_token"], data["team"]
            return Install(
                access_token=Secret(str(token)),
                team_id=str(team["id"]),
                team_name=str(team.get("name") or ""),
                bot_user_id=str(data.get("bot_user_id") or ""),
                scopes=tuple(s for s in str(data.get("scope") or "").split(",") if s),
            )
        except (KeyError, TypeError, AttributeError):
            raise Transient("Slack's answer carried no bot token; try again shortly.") from None

    def list_channels(self, *, token: str, page_size: int = CHANNEL_PAGE) -> list[Channel]:
        """Return the workspace's public, unarchived channels, following next_cursor."""
        channels: list[Channel] = []
        cursor = ""
        for _ in range(MAX_CHANNEL_PAGES):
            params = {"types": "public_channel", "exclude_archived": "true", "limit": page_size}
            data = self._call("conversations.list", token=token, data=params | {"cursor": cursor})
            try:
                channels += [_channel(item) for item in data["channels"]]
                cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            except (KeyError, TypeError, AttributeError):
                raise Transient("Slack sent an unexpected list of channels.") from None
            if not cursor:
                break
        return channels

    def post_message(
        self, *, token: str, channel: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> PostedMessage:
        """Post ``text`` (and optional blocks) to ``channel`` as the app's bot."""
        body: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks:
            body["blocks"] = blocks
        data = self._call("chat.postMessage", token=token, json=body)
        return PostedMessage(str(data.get("channel") or channel), str(data.get("ts") or ""))

    # -- HTTP --------------------------------------------------------------------------------

    def _call(self, method: str, *, token: str | None = None, **options: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if "json" in options:
            headers["Content-Type"] = "application/json; charset=utf-8"
        response = self.send("POST", f"{self.base_url}/api/{method}", headers=headers, **options)
        data = json_of(response)
        if response.status_code != 200 or not isinstance(data, dict):
            raise Transient(f"Slack sent an unexpected answer to {method}; try again shortly.")
        if not data.get("ok"):
            raise _error(method, str(data.get("error") or "unknown_error"))
        return data


def make_client() -> SlackClient:
    """Build the Slack client from settings (URL, app credentials, timeout)."""
    return SlackClient(
        base_url=settings.SLACK_URL,
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        timeout=settings.SLACK_TIMEOUT,
    )


def _error(method: str, code: str) -> SlackError:
    logger.info("Slack refused %s: %s", method, code)
    kind = _ERRORS.get(code, SlackError)
    return kind(f"Slack refused {method}: {code}.", code=code)


def _channel(item: dict[str, Any]) -> Channel:
    return Channel(
        id=str(item["id"]),
        name=str(item["name"]),
        is_member=bool(item.get("is_member")),
        num_members=int(item.get("num_members") or 0),
    )
