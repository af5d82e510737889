"""What every provider's stand-in (Jira, Slack) does alike: the consent page, single-use codes,
the app's credentials, faults and counters. Their own ways live in test_jira.py, test_slack.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.github.limits import Clock
from sandbox.jira.world import Jira
from sandbox.slack.world import Slack
from sandbox.standin import StandInWorld
from sandbox.testing import RunningSandbox, SandboxControl

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_OPTION = re.compile(r'<option value="([^"]+)">')


@dataclass(frozen=True)
class StandIn:
    name: str
    authorize: str  # the consent page's path
    query: dict[str, str]  # what a client asks the consent page, beside the state
    accept: str  # the accept button's decision value
    exchange_path: str
    errors: dict[str, str]  # what the exchange answers: bad code, other redirect_uri, bad secret
    fault_path: str  # a path to break with the fault API
    heading: str
    world: Callable[[int], StandInWorld]

    @property
    def client_id(self) -> str:
        return f"sandbox-{self.name}-client-id"

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:8000/onboarding/{self.name}/callback/"

    def counters(self, control: SandboxControl) -> dict[str, Any]:
        return control.jira_counters() if self.name == "jira" else control.slack_counters()


STANDINS = {
    "jira": StandIn(
        name="jira",
        authorize="/atlassian/authorize",
        query={
            "audience": "api.atlassian.com",
            "scope": "read:jira-work offline_access",
            "response_type": "code",
            "prompt": "consent",
        },
        accept="accept",
        exchange_path="/atlassian/oauth/token",
        errors={"code": "invalid_grant", "redirect": "invalid_grant", "secret": "access_denied"},
        fault_path="/atlassian/oauth/token",
        heading="PR Insights is requesting access to your Atlassian account",
        world=lambda seed: Jira(seed=seed, clock=Clock(), client_id="c", client_secret="s"),
    ),
    "slack": StandIn(
        name="slack",
        authorize="/slack/oauth/v2/authorize",
        query={"scope": "chat:write,channels:read"},
        accept="allow",
        exchange_path="/slack/api/oauth.v2.access",
        errors={
            "code": "invalid_code",
            "redirect": "bad_redirect_uri",
            "secret": "bad_client_secret",
        },
        fault_path="/slack/api/oauth.v2.access",
        heading="PR Insights is requesting permission to access the Acme Slack workspace",
        world=lambda seed: Slack(seed=seed, clock=Clock(), client_id="c", client_secret="s"),
    ),
}


@pytest.fixture(params=sorted(STANDINS))
def standin(request: pytest.FixtureRequest) -> StandIn:
    return STANDINS[request.param]


def _consent(sandbox: RunningSandbox, standin: StandIn, **params: str) -> requests.Response:
    query = standin.query | {"client_id": standin.client_id, "redirect_uri": standin.callback}
    return requests.get(
        f"{sandbox.url}{standin.authorize}", params=query | {"state": "s-1"} | params, timeout=10
    )


def _decide(
    sandbox: RunningSandbox, standin: StandIn, decision: str = "", **params: str
) -> dict[str, list[str]]:
    page = _consent(sandbox, standin, **params)
    assert page.status_code == 200, page.text
    fields = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    sites = _OPTION.findall(page.text)[:1]
    answer = requests.post(
        f"{sandbox.url}{standin.authorize}",
        data=fields
        | {"decision": decision or standin.accept}
        | ({"site": sites[0]} if sites else {}),
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(standin.callback)
    return parse_qs(urlsplit(answer.headers["Location"]).query)


def _exchange(
    sandbox: RunningSandbox, standin: StandIn, code: str, **fields: str
) -> tuple[int, str]:
    """Trade ``code``; return the HTTP status and the error ("" when it worked)."""
    body = {
        "client_id": standin.client_id,
        "client_secret": f"sandbox-{standin.name}-client-secret",
        "redirect_uri": standin.callback,
        "code": code,
        "grant_type": "authorization_code",
    } | fields
    answer = requests.post(f"{sandbox.url}{standin.exchange_path}", data=body, timeout=10)
    data = answer.json()
    return answer.status_code, str(data.get("error") or "") if data.get(
        "ok", True
    ) is not True or "error" in data else ""


def test_it_shows_a_consent_page_with_the_scopes_and_both_buttons(
    sandbox: RunningSandbox, standin: StandIn
) -> None:
    page = _consent(sandbox, standin)
    assert page.status_code == 200
    assert standin.heading in page.text
    scopes = re.split("[ ,]", standin.query["scope"])
    assert all(f"<code>{scope}</code>" in page.text for scope in scopes)
    assert ">Cancel</button>" in page.text


def test_it_refuses_an_unknown_app_or_scope(sandbox: RunningSandbox, standin: StandIn) -> None:
    assert _consent(sandbox, standin, client_id="someone-else").status_code == 400
    assert _consent(sandbox, standin, scope="read:everything").status_code == 400


def test_it_sends_a_cancel_back_as_access_denied_with_the_state(
    sandbox: RunningSandbox, control: SandboxControl, standin: StandIn
) -> None:
    query = _decide(sandbox, standin, "cancel", state="xyz")
    assert query["error"] == ["access_denied"] and query["state"] == ["xyz"]
    assert "code" not in query


def test_it_trades_a_code_once(
    sandbox: RunningSandbox, control: SandboxControl, standin: StandIn
) -> None:
    code = _decide(sandbox, standin)["code"][0]
    assert _exchange(sandbox, standin, code) == (200, "")
    assert _exchange(sandbox, standin, code)[1] == standin.errors["code"]
    assert _exchange(sandbox, standin, "made-up")[1] == standin.errors["code"]


def test_it_refuses_a_code_after_ten_minutes(
    sandbox: RunningSandbox, control: SandboxControl, standin: StandIn
) -> None:
    code = _decide(sandbox, standin)["code"][0]
    control.advance_clock(601)
    assert _exchange(sandbox, standin, code)[1] == standin.errors["code"]


def test_it_refuses_a_code_sent_with_another_redirect_uri(
    sandbox: RunningSandbox, control: SandboxControl, standin: StandIn
) -> None:
    code = _decide(sandbox, standin)["code"][0]
    wrong = _exchange(sandbox, standin, code, redirect_uri="http://evil.example/cb")
    assert wrong[1] == standin.errors["redirect"]
    assert _exchange(sandbox, standin, code) == (200, "")  # the code was not spent


def test_it_refuses_wrong_app_credentials_without_spending_the_code(
    sandbox: RunningSandbox, control: SandboxControl, standin: StandIn
) -> None:
    code = _decide(sandbox, standin)["code"][0]
    assert _exchange(sandbox, standin, code, client_secret="x")[1] == standin.errors["secret"]
    assert _exchange(sandbox, standin, code) == (200, "")


def test_it_breaks_requests_with_the_fault_api_and_counts_them(
    sandbox: RunningSandbox, control: SandboxControl, standin: StandIn
) -> None:
    code = _decide(sandbox, standin)["code"][0]
    control.add_fault(f"^{re.escape(standin.fault_path)}$", status=503, count=1)
    assert _exchange(sandbox, standin, code)[0] == 503
    assert _exchange(sandbox, standin, code) == (200, "")
    counters = standin.counters(control)
    assert counters["by_endpoint"][f"POST {standin.exchange_path}"] == 2
    assert counters["by_status"]["503"] == 1
    control.reset()
    assert standin.counters(control)["requests"] == 0


def test_it_builds_the_same_world_from_the_same_seed(standin: StandIn) -> None:
    def shape(seed: int) -> str:
        return repr(
            vars(standin.world(seed)).get("sites") or vars(standin.world(seed))["workspace"]
        )

    assert shape(7) == shape(7)
    assert shape(7) != shape(8)
