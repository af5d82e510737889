"""The sandbox Slack over HTTP, mounted under ``/slack`` (= https://slack.com):

    GET/POST /slack/oauth/v2/authorize      the install page (Allow / Cancel)
    POST     /slack/api/oauth.v2.access     code -> bot token
    GET/POST /slack/api/auth.test
    GET/POST /slack/api/conversations.list  cursor pagination (response_metadata.next_cursor)
    POST     /slack/api/chat.postMessage    JSON or form body

Slack: https://api.slack.com/authentication/oauth-v2, https://api.slack.com/web. Web API
errors come back with HTTP 200 and ``{"ok": false, "error": "..."}``, as Slack sends them.
"""

from __future__ import annotations

import base64
import binascii
import json

from sandbox.server import Request, Response
from sandbox.slack.world import KNOWN_SCOPES, Channel, Slack
from sandbox.standin import StandInService, bearer, client_credentials, page, with_query

PREFIX = "/slack"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_TEXT = 40_000
# Slack: errors any method may answer when the token is missing, unknown or revoked.
NOT_AUTHED, INVALID_AUTH, TOKEN_REVOKED = "not_authed", "invalid_auth", "token_revoked"
CONTROL_API = """\
Slack (OAuth app sandbox-slack-client-id / sandbox-slack-client-secret; workspace "Acme" with
14 public channels, one archived; the app's bot is in #engineering and #pr-notices only):
  GET    /_sandbox/slack/messages?channel=    messages the app posted (channel: id or name)
  GET    /_sandbox/slack/channels             channels with ids and the bot's membership
  GET    /_sandbox/slack/counters             requests by endpoint/status/token
  POST   /_sandbox/slack/tokens               {scopes?} -> {access_token} (an install without
                                              the browser; default chat:write,channels:read)
  POST   /_sandbox/slack/revoke               {token?} -> that token answers token_revoked;
                                              no token: the app is uninstalled
  POST   /_sandbox/slack/channels/{id}/invite the bot joins the channel (/invite @app)
  POST   /_sandbox/slack/channels/{id}/kick   the bot leaves it
Faults (POST /_sandbox/faults) match /atlassian, /atlassian-api and /slack paths too.
"""


def _ok(**data: object) -> Response:
    return Response.json(200, {"ok": True, **data}, {"X-Slack-Req-Id": "sandbox"})


def _fail(error: str, **data: object) -> Response:
    return Response.json(200, {"ok": False, "error": error, **data}, {"X-Slack-Req-Id": "sandbox"})


class SlackService(StandInService):
    """Answer ``/slack/...`` against ``sandbox.slack``."""

    @property
    def slack(self) -> Slack:
        return self.sandbox.slack  # type: ignore[attr-defined,no-any-return]

    @property
    def world(self) -> Slack:
        return self.slack

    def answer(self, request: Request) -> Response:
        path = request.path.removeprefix(PREFIX).rstrip("/")
        if path == "/oauth/v2/authorize":
            if request.method == "POST":
                return self.decide(request.form())
            return self.install_page(request.form())
        if not path.startswith("/api/"):
            return Response.html(404, page("Not found", "<h1>There's been a glitch…</h1>"))
        method = path.removeprefix("/api/")
        params = self._params(request)
        if params is None:
            return _fail("invalid_json")
        if method == "oauth.v2.access":
            return self.access(request, params)
        handler = {
            "auth.test": self.auth_test,
            "conversations.list": self.conversations_list,
            "chat.postMessage": self.post_message,
        }.get(method)
        if handler is None:
            return Response.json(404, {"ok": False, "error": "unknown_method"})
        token, problem = self._token(request, params)
        if problem:
            return _fail(problem)
        return handler(params, token)  # type: ignore[arg-type]

    def _params(self, request: Request) -> dict[str, object] | None:
        if "json" not in request.header("Content-Type"):
            return dict(request.form())
        try:
            data = request.json() if request.body else {}
        except ValueError:
            return None
        return {**dict(request.args), **data} if isinstance(data, dict) else None

    def _token(self, request: Request, params: dict[str, object]) -> tuple[str, str]:
        # Slack: JSON bodies must carry the token in the Authorization header.
        value = bearer(request)
        if value is None and "json" not in request.header("Content-Type"):
            value = str(params.get("token") or "") or None
        if value is None:
            return "", NOT_AUTHED
        token = self.slack.tokens.get(value)
        if token is None:
            return "", INVALID_AUTH
        if token.revoked:
            return "", TOKEN_REVOKED
        return value, ""

    def _missing_scope(self, token: str, needed: str) -> Response | None:
        scopes = self.slack.tokens[token].scopes
        if needed in scopes:
            return None
        return _fail("missing_scope", needed=needed, provided=",".join(scopes))

    # -- install -----------------------------------------------------------------------------

    def _install_problem(self, fields: dict[str, str]) -> Response | None:
        if fields.get("client_id") != self.slack.client_id:
            return Response.html(400, page("Slack", "<h1>Invalid client_id parameter</h1>"))
        scopes = fields.get("scope", "").replace(" ", "").split(",")
        if not any(scopes) or any(s not in KNOWN_SCOPES for s in scopes):
            return Response.html(400, page("Slack", "<h1>Invalid permissions requested</h1>"))
        if not fields.get("redirect_uri"):
            # A real app may rely on its one configured redirect URL; the sandbox has none.
            return Response.html(400, page("Slack", "<h1>redirect_uri did not match</h1>"))
        return None

    def install_page(self, fields: dict[str, str]) -> Response:
        """Show "<app> is requesting permission to access the <workspace> workspace"."""
        problem = self._install_problem(fields)
        if problem is not None:
            return problem
        hidden = {k: fields.get(k, "") for k in ("client_id", "scope", "redirect_uri", "state")}
        return self.consent_page(
            title=f"Install {self.app_name}",
            heading=f"{self.app_name} is requesting permission to access the "
            f"{self.slack.workspace.name} Slack workspace",
            action=f"{PREFIX}/oauth/v2/authorize",
            fields=hidden,
            scopes=hidden["scope"].split(","),
            accept=("allow", "Allow"),
        )

    def decide(self, fields: dict[str, str]) -> Response:
        """Redirect back with a code (Allow) or ``error=access_denied`` (Cancel)."""
        problem = self._install_problem(fields)
        if problem is not None:
            return problem
        uri, state = fields["redirect_uri"], fields.get("state", "")
        if fields.get("decision") != "allow":
            return Response.redirect(with_query(uri, {"error": "access_denied", "state": state}))
        scopes = tuple(dict.fromkeys(fields["scope"].replace(" ", "").split(",")))
        code = self.slack.grant(client_id=fields["client_id"], redirect_uri=uri, scopes=scopes)
        return Response.redirect(with_query(uri, {"code": code, "state": state}))

    def access(self, request: Request, params: dict[str, object]) -> Response:
        """``oauth.v2.access``: client credentials (form or Basic) and the code."""
        client_id, secret = client_credentials(request, params)
        if client_id != self.slack.client_id:
            return _fail("invalid_client_id")
        if secret != self.slack.client_secret:
            return _fail("bad_client_secret")
        redirect_uri = params.get("redirect_uri")
        error, token = self.slack.redeem(
            code=str(params.get("code") or ""),
            redirect_uri=str(redirect_uri) if redirect_uri else None,
        )
        if token is None:
            return _fail(error)
        ws = self.slack.workspace
        return _ok(
            app_id=ws.app_id,
            authed_user={"id": ws.channels[0].creator},
            scope=",".join(token.scopes),
            token_type="bot",  # noqa: S106 - Slack's token kind, not a secret
            access_token=token.value,
            bot_user_id=ws.bot_user_id,
            team={"id": ws.team_id, "name": ws.name},
            enterprise=None,
            is_enterprise_install=False,
        )

    # -- Web API -----------------------------------------------------------------------------

    def auth_test(self, params: dict[str, object], token: str) -> Response:
        ws = self.slack.workspace
        return _ok(
            url=f"https://{ws.domain}.slack.com/",
            team=ws.name,
            user="pr_insights",
            team_id=ws.team_id,
            user_id=ws.bot_user_id,
            bot_id=ws.bot_id,
            is_enterprise_install=False,
        )

    def conversations_list(self, params: dict[str, object], token: str) -> Response:
        missing = self._missing_scope(token, "channels:read")
        if missing:
            return missing
        try:
            limit = int(str(params.get("limit") or DEFAULT_LIMIT))
        except ValueError:
            return _fail("invalid_limit")
        if not 1 <= limit <= MAX_LIMIT:
            return _fail("invalid_limit")
        types = str(params.get("types") or "public_channel").split(",")
        exclude_archived = str(params.get("exclude_archived") or "").lower() in ("true", "1")
        channels = [
            c
            for c in self.slack.workspace.channels
            if "public_channel" in types and not (exclude_archived and c.is_archived)
        ]
        start = 0
        if params.get("cursor"):
            start = self._cursor_index(str(params["cursor"]), channels)
            if start < 0:
                return _fail("invalid_cursor")
        chunk = channels[start : start + limit]
        after = channels[start + limit] if start + limit < len(channels) else None
        next_cursor = _cursor(after.id) if after else ""
        return _ok(
            channels=[self._channel_json(c) for c in chunk],
            response_metadata={"next_cursor": next_cursor},
        )

    def _cursor_index(self, cursor: str, channels: list[Channel]) -> int:
        try:
            wanted = base64.b64decode(cursor, validate=True).decode().removeprefix("team:")
        except (binascii.Error, UnicodeDecodeError):
            return -1
        return next((i for i, c in enumerate(channels) if c.id == wanted), -1)

    def _channel_json(self, channel: Channel) -> dict[str, object]:
        team = self.slack.workspace.team_id
        topic = {"value": channel.topic, "creator": channel.creator, "last_set": channel.created}
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": False,
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_general": channel.is_general,
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": team,
            "updated": channel.created * 1000,
            "parent_conversation": None,
            "creator": channel.creator,
            "is_ext_shared": False,
            "shared_team_ids": [team],
            "pending_connected_team_ids": [],
            "is_member": channel.bot_member,
            "topic": topic,
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            "num_members": channel.num_members,
        }

    def post_message(self, params: dict[str, object], token: str) -> Response:
        missing = self._missing_scope(token, "chat:write")
        if missing:
            return missing
        channel = self.slack.channel(str(params.get("channel") or ""))
        if channel is None:
            return _fail("channel_not_found")
        text = str(params.get("text") or "")
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                return _fail("invalid_blocks")
        if not isinstance(blocks, list):
            return _fail("invalid_blocks")
        if not text and not blocks:
            return _fail("no_text")
        if len(text) > MAX_TEXT:
            return _fail("msg_too_long")
        if channel.is_archived:
            return _fail("is_archived")
        public = "chat:write.public" in self.slack.tokens[token].scopes
        if not channel.bot_member and not public:
            return _fail("not_in_channel")
        message = self.slack.post(channel, text, blocks)
        ws = self.slack.workspace
        return _ok(
            channel=channel.id,
            ts=message.ts,
            message={
                "user": ws.bot_user_id,
                "type": "message",
                "ts": message.ts,
                "bot_id": ws.bot_id,
                "app_id": ws.app_id,
                "text": text,
                "team": ws.team_id,
                "blocks": blocks,
            },
        )

    # -- control ---------------------------------------------------------------------------------

    def control(self, request: Request) -> Response:
        """``/_sandbox/slack/...``: messages, channels, tokens, counters."""
        path = request.path.removeprefix("/_sandbox/slack").rstrip("/")
        slack = self.slack
        try:
            data = request.json() if request.body else {}
        except ValueError:
            return Response.json(400, {"error": "the body is not JSON"})
        fields = data if isinstance(data, dict) else {}
        try:
            if request.method == "GET" and path == "/messages":
                return Response.json(200, self._messages(request.arg("channel")))
            if request.method == "GET" and path == "/channels":
                return Response.json(
                    200, [self._control_channel(c) for c in slack.workspace.channels]
                )
            if request.method == "GET" and path == "/counters":
                return Response.json(200, self.slack.recorder.snapshot())
            if request.method == "POST" and path == "/tokens":
                raw = fields.get("scopes", ["chat:write", "channels:read"])
                scopes = raw.replace(" ", "").split(",") if isinstance(raw, str) else list(raw)
                token = slack.issue_token(tuple(map(str, scopes)))
                return Response.json(201, {"access_token": token.value, "scopes": token.scopes})
            if request.method == "POST" and path == "/revoke":
                token_value = fields.get("token")
                revoked = slack.revoke(str(token_value) if token_value else None)
                return Response.json(200, {"revoked": revoked})
            parts = path.strip("/").split("/")
            if request.method == "POST" and len(parts) == 3 and parts[0] == "channels":
                if parts[2] in ("invite", "kick"):
                    channel = slack.set_member(parts[1], parts[2] == "invite")
                    return Response.json(200, self._control_channel(channel))
        except KeyError as error:
            return Response.json(404, {"error": str(error).strip("'\"")})
        return Response.json(404, {"error": f"no control endpoint {request.method} {request.path}"})

    def _messages(self, channel: str | None) -> list[dict[str, object]]:
        slack = self.slack
        with slack.lock:
            messages = list(slack.messages)
        wanted = slack.channel(channel) if channel else None
        if channel and wanted is None:
            raise KeyError(f"no channel {channel}")
        return [
            m.as_json(slack.by_id) for m in messages if wanted is None or m.channel == wanted.id
        ]

    def _control_channel(self, channel: Channel) -> dict[str, object]:
        return {
            "id": channel.id,
            "name": channel.name,
            "is_archived": channel.is_archived,
            "bot_member": channel.bot_member,
        }


def _cursor(channel_id: str) -> str:
    return base64.b64encode(f"team:{channel_id}".encode()).decode()
