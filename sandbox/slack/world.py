"""The sandbox Slack's state: one workspace and its channels from the seed, the app's install
codes and bot tokens, and every message the app posted.

Slack: https://api.slack.com/authentication/oauth-v2. The app's bot user is a member of a few
channels only (as if invited earlier); posting elsewhere answers ``not_in_channel``, as Slack
does for an app with ``chat:write`` and not ``chat:write.public``. All state sits behind one
lock.
"""

from __future__ import annotations

import random
import secrets
import string
from dataclasses import dataclass, field

from sandbox.github.limits import Clock
from sandbox.standin import StandInWorld

CHANNELS = (
    "general", "random", "engineering", "deploys", "pr-notices", "incidents", "design",
    "support", "announcements", "data", "mobile", "frontend", "backend-guild", "old-launch",
)  # fmt: skip
BOT_CHANNELS = ("engineering", "pr-notices")
ARCHIVED = ("old-launch",)
KNOWN_SCOPES = (
    "chat:write",
    "chat:write.public",
    "channels:read",
    "channels:join",
    "groups:read",
    "users:read",
    "incoming-webhook",
)


@dataclass(slots=True)
class Channel:
    id: str
    name: str
    created: int
    creator: str
    is_general: bool
    is_archived: bool
    num_members: int
    topic: str
    bot_member: bool


@dataclass(slots=True)
class Token:
    value: str
    scopes: tuple[str, ...]
    revoked: bool = False


@dataclass(slots=True)
class Message:
    channel: str
    text: str
    blocks: list[object]
    ts: str
    user: str
    bot_id: str

    def as_json(self, channels: dict[str, Channel]) -> dict[str, object]:
        return {
            "channel": self.channel,
            "channel_name": channels[self.channel].name,
            "text": self.text,
            "blocks": self.blocks,
            "ts": self.ts,
            "user": self.user,
            "bot_id": self.bot_id,
        }


def _slack_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(string.ascii_uppercase + string.digits, k=10))


@dataclass(slots=True)
class Workspace:
    team_id: str
    name: str
    domain: str
    bot_user_id: str
    bot_id: str
    app_id: str
    channels: list[Channel] = field(default_factory=list)


class Slack(StandInWorld):
    """One workspace, the app's install and tokens, and the messages it posted."""

    def __init__(self, *, seed: int, clock: Clock, client_id: str, client_secret: str) -> None:
        super().__init__(clock=clock, client_id=client_id, client_secret=client_secret)
        self.workspace = _build_workspace(seed)
        self.tokens: dict[str, Token] = {}
        self.messages: list[Message] = []
        self._rng = random.Random(f"slack-tokens:{seed}")

    @property
    def by_id(self) -> dict[str, Channel]:
        return {c.id: c for c in self.workspace.channels}

    def channel(self, id_or_name: str) -> Channel | None:
        """Find a channel by id, or by name (``#name`` or ``name``) as chat.postMessage allows."""
        name = id_or_name.removeprefix("#")
        return next(
            (c for c in self.workspace.channels if id_or_name == c.id or c.name == name), None
        )

    def grant(self, *, client_id: str, redirect_uri: str, scopes: tuple[str, ...]) -> str:
        """Record an Allow on the install page; return the single-use code."""
        team_digits = "".join(ch for ch in self.workspace.team_id if ch.isdigit())[:10]
        code = f"{team_digits or '1'}.{secrets.randbelow(10**13)}.{secrets.token_hex(32)}"
        return self.issue_code(
            client_id=client_id, redirect_uri=redirect_uri, scopes=scopes, code=code
        )

    def redeem(self, *, code: str, redirect_uri: str | None) -> tuple[str, Token | None]:
        """Trade a code for a bot token: ("", token), or (Slack's error code, None)."""
        with self.lock:
            found, problem = self.take_code(code, redirect_uri)
        if found is None:
            return ("bad_redirect_uri" if problem == "redirect_uri" else "invalid_code"), None
        return "", self.issue_token(found.scopes)

    def issue_token(self, scopes: tuple[str, ...]) -> Token:
        with self.lock:
            digits = "".join(self._rng.choices(string.digits, k=13))
            secret = "".join(self._rng.choices(string.ascii_letters + string.digits, k=24))
            token = Token(f"xoxb-{digits[:10]}-{digits}-{secret}", scopes)
            self.tokens[token.value] = token
            return token

    def revoke(self, value: str | None = None) -> int:
        """Revoke one token, or (None) uninstall the app: every token stops working."""
        with self.lock:
            if value is not None and value not in self.tokens:
                raise KeyError("no such Slack token")
            chosen = [self.tokens[value]] if value else list(self.tokens.values())
            for token in chosen:
                token.revoked = True
            return len(chosen)

    def post(self, channel: Channel, text: str, blocks: list[object]) -> Message:
        with self.lock:
            now = self.clock.now()
            ts = f"{int(now)}.{len(self.messages) + 1:06d}"
            ws = self.workspace
            message = Message(channel.id, text, blocks, ts, ws.bot_user_id, ws.bot_id)
            self.messages.append(message)
            return message

    def set_member(self, channel_id: str, member: bool) -> Channel:
        with self.lock:
            found = self.by_id.get(channel_id)
            if found is None:
                raise KeyError(f"no channel {channel_id}")
            found.bot_member = member
            return found


def _build_workspace(seed: int) -> Workspace:
    rng = random.Random(f"slack:{seed}")
    workspace = Workspace(
        team_id=_slack_id(rng, "T"),
        name="Acme",
        domain="acme",
        bot_user_id=_slack_id(rng, "U"),
        bot_id=_slack_id(rng, "B"),
        app_id=_slack_id(rng, "A"),
    )
    creator = _slack_id(rng, "U")
    created = 1_600_000_000
    for index, name in enumerate(CHANNELS):
        workspace.channels.append(
            Channel(
                id=_slack_id(rng, "C"),
                name=name,
                created=created + index * 86_400 + rng.randint(0, 86_000),
                creator=creator,
                is_general=name == "general",
                is_archived=name in ARCHIVED,
                num_members=rng.randint(3, 60),
                topic=f"Talk about {name.replace('-', ' ')}",
                bot_member=name in BOT_CHANNELS,
            )
        )
    return workspace
