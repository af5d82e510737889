from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox.testing import RunningSandbox, SandboxControl

CLIENT_ID, CLIENT_SECRET = "sandbox-slack-client-id", "sandbox-slack-client-secret"
CALLBACK = "http://127.0.0.1:8000/onboarding/slack/callback/"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def install_page(sandbox: RunningSandbox, **params: str) -> requests.Response:
    query = {
        "client_id": CLIENT_ID,
        "scope": "chat:write,channels:read",
        "redirect_uri": CALLBACK,
        "state": "s-1",
    }
    return requests.get(
        f"{sandbox.url}/slack/oauth/v2/authorize", params=query | params, timeout=10
    )


def decide(sandbox: RunningSandbox, decision: str = "allow", **params: str) -> dict[str, list[str]]:
    """Press Allow or Cancel on the install page; return the query of the redirect back."""
    page = install_page(sandbox, **params)
    assert page.status_code == 200, page.text
    fields = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    answer = requests.post(
        f"{sandbox.url}/slack/oauth/v2/authorize",
        data=fields | {"decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return parse_qs(urlsplit(answer.headers["Location"]).query)


def access(sandbox: RunningSandbox, **fields: str) -> requests.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": CALLBACK}
    return requests.post(f"{sandbox.url}/slack/api/oauth.v2.access", data=body | fields, timeout=10)


def call(sandbox: RunningSandbox, method: str, bearer: str | None, **params: Any) -> dict[str, Any]:
    """Call a Web API method as the Slack SDK does (JSON body, bearer token); expect HTTP 200."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    answer = requests.post(
        f"{sandbox.url}/slack/api/{method}", json=params, headers=headers, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def channel_names(sandbox: RunningSandbox, token: str, **params: Any) -> list[list[str]]:
    """Follow next_cursor through conversations.list; return the names page by page."""
    pages, cursor = [], ""
    while True:
        answer = call(sandbox, "conversations.list", token, cursor=cursor, **params)
        assert answer["ok"], answer
        pages.append([c["name"] for c in answer["channels"]])
        cursor = answer["response_metadata"]["next_cursor"]
        if not cursor:
            return pages


def test_it_shows_an_install_page_with_allow_and_cancel(sandbox: RunningSandbox) -> None:
    page = install_page(sandbox)
    assert page.status_code == 200
    assert "PR Insights is requesting permission to access the Acme Slack" in page.text
    assert "<code>chat:write</code>" in page.text and "<code>channels:read</code>" in page.text
    assert ">Allow</button>" in page.text and ">Cancel</button>" in page.text


def test_it_trades_a_code_once_for_a_bot_token(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = decide(sandbox)["code"][0]
    answer = access(sandbox, code=code)
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True
    assert body["token_type"] == "bot"
    assert body["access_token"].startswith("xoxb-")
    assert body["scope"] == "chat:write,channels:read"
    assert body["team"]["name"] == "Acme" and body["team"]["id"].startswith("T")
    assert body["bot_user_id"].startswith("U")
    again = access(sandbox, code=code)
    assert (again.status_code, again.json()) == (200, {"ok": False, "error": "invalid_code"})


def test_it_answers_exchange_errors_with_http_200_as_slack_does(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = decide(sandbox)["code"][0]
    assert access(sandbox, code=code, client_secret="wrong").json()["error"] == "bad_client_secret"
    assert access(sandbox, code=code, client_id="wrong").json()["error"] == "invalid_client_id"
    wrong_uri = access(sandbox, code=code, redirect_uri="http://evil.example/")
    assert wrong_uri.status_code == 200 and wrong_uri.json()["error"] == "bad_redirect_uri"
    assert access(sandbox, code="made-up").json()["error"] == "invalid_code"
    control.advance_clock(601)
    assert access(sandbox, code=code).json()["error"] == "invalid_code"


def test_it_takes_client_credentials_by_basic_auth(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = decide(sandbox)["code"][0]
    answer = requests.post(
        f"{sandbox.url}/slack/api/oauth.v2.access",
        data={"code": code, "redirect_uri": CALLBACK},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert answer.json()["ok"] is True


def test_it_pages_conversations_with_next_cursor(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    pages = channel_names(sandbox, token, limit=5)
    assert [len(names) for names in pages] == [5, 5, 4]
    names = [name for page in pages for name in page]
    assert names[0] == "general" and "old-launch" in names and len(set(names)) == 14
    current = [n for page in channel_names(sandbox, token, exclude_archived=True) for n in page]
    assert "old-launch" not in current and len(current) == 13
    channel = call(sandbox, "conversations.list", token, limit=1)["channels"][0]
    assert channel["is_channel"] is True and channel["is_general"] is True
    assert {"id", "name", "is_archived", "is_member", "is_private", "num_members"} <= set(channel)


def test_it_says_which_channels_the_bot_is_in(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    channels = call(sandbox, "conversations.list", token, limit=100)["channels"]
    assert {c["name"] for c in channels if c["is_member"]} == {"engineering", "pr-notices"}


def test_it_refuses_bad_cursors_and_limits(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    assert call(sandbox, "conversations.list", token, cursor="nope!")["error"] == "invalid_cursor"
    assert call(sandbox, "conversations.list", token, limit=1001)["error"] == "invalid_limit"


def test_it_posts_to_a_channel_the_bot_is_in_and_records_the_message(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    channel = control.slack_channel_id("pr-notices")
    answer = call(sandbox, "chat.postMessage", token, channel=channel, text="Import finished")
    assert answer["ok"] is True
    assert answer["channel"] == channel and answer["message"]["text"] == "Import finished"
    by_name = call(sandbox, "chat.postMessage", token, channel="#engineering", text="hello")
    assert by_name["ok"] is True
    messages = control.slack_messages()
    assert [(m["channel_name"], m["text"]) for m in messages] == [
        ("pr-notices", "Import finished"),
        ("engineering", "hello"),
    ]
    assert messages[0]["ts"] == answer["ts"]
    assert [m["text"] for m in control.slack_messages("pr-notices")] == ["Import finished"]


def test_it_refuses_posts_as_slack_does(sandbox: RunningSandbox, control: SandboxControl) -> None:
    token = control.issue_slack_token()
    general = control.slack_channel_id("general")

    def post(**params: Any) -> str:
        return call(sandbox, "chat.postMessage", token, **params).get("error", "")

    assert post(channel=general, text="hi") == "not_in_channel"
    assert post(channel="C0NOTACHANNEL", text="hi") == "channel_not_found"
    assert post(channel="old-launch", text="hi") == "is_archived"
    assert post(channel="pr-notices") == "no_text"
    assert post(channel="pr-notices", text="x" * 40_001) == "msg_too_long"
    control.invite_slack_bot(general)
    assert post(channel=general, text="hi") == ""
    control.kick_slack_bot(general)
    assert post(channel=general, text="hi again") == "not_in_channel"
    assert [m["text"] for m in control.slack_messages()] == ["hi"]


def test_it_answers_missing_scope_with_what_was_needed(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token(["chat:write"])
    answer = call(sandbox, "conversations.list", token)
    assert answer == {
        "ok": False,
        "error": "missing_scope",
        "needed": "channels:read",
        "provided": "chat:write",
    }


def test_it_tells_missing_unknown_and_revoked_tokens_apart(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    other = control.issue_slack_token()
    assert call(sandbox, "auth.test", token)["ok"] is True
    assert call(sandbox, "auth.test", None)["error"] == "not_authed"
    assert call(sandbox, "auth.test", "xoxb-made-up")["error"] == "invalid_auth"
    control.revoke_slack(token)
    assert call(sandbox, "chat.postMessage", token, channel="pr-notices", text="x") == {
        "ok": False,
        "error": "token_revoked",
    }
    assert call(sandbox, "auth.test", other)["ok"] is True
    control.revoke_slack()  # the app is uninstalled
    assert call(sandbox, "auth.test", other)["error"] == "token_revoked"


def test_it_wants_the_token_in_the_header_for_json_bodies(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    answer = call(sandbox, "auth.test", None, token=token)
    assert answer["error"] == "not_authed"
    form = requests.post(f"{sandbox.url}/slack/api/auth.test", data={"token": token}, timeout=10)
    assert form.json()["ok"] is True


def test_it_breaks_slack_requests_with_the_fault_api(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    token = control.issue_slack_token()
    control.add_fault("^/slack/api/chat.postMessage$", status=500, count=1)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{sandbox.url}/slack/api/chat.postMessage"
    body = {"channel": "pr-notices", "text": "hi"}
    assert requests.post(url, json=body, headers=headers, timeout=10).status_code == 500
    assert requests.post(url, json=body, headers=headers, timeout=10).json()["ok"] is True
    assert control.slack_counters()["by_endpoint"]["POST /slack/api/chat.postMessage"] == 2
