from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from github import BadCredentialsException, GithubException

from sandbox.server import Config, SandboxServer, build_server, serve_in_thread
from sandbox.testing import RunningSandbox, SandboxControl
from tests.sandbox.conftest import make_github

CLIENT_ID, CLIENT_SECRET = "sandbox-client-id", "sandbox-client-secret"
CALLBACK = "http://127.0.0.1:8000/onboarding/callback/"


class FormReader(HTMLParser):
    """Collect the first form's action, hidden fields and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = found["action"]
        elif tag == "input" and found.get("type") == "hidden":
            self.fields[found["name"]] = found.get("value", "")
        elif tag == "button":
            self._button = found

    def handle_data(self, data: str) -> None:
        if self._button is not None and data.strip():
            self.buttons[data.strip().split()[0]] = (self._button["name"], self._button["value"])
            self._button = None


def authorize(base_url: str, choice: str = "Authorize", **params: str) -> dict[str, list[str]]:
    """Open the authorize page, press a button like a person would, return the redirect query."""
    query = {
        "client_id": CLIENT_ID,
        "redirect_uri": CALLBACK,
        "scope": "read:org repo",
        "state": "s-1",
    }
    page = requests.get(f"{base_url}/login/oauth/authorize", params=query | params, timeout=10)
    assert page.status_code == 200, page.text
    form = FormReader()
    form.feed(page.text)
    name, value = form.buttons[choice]
    answer = requests.post(
        f"{base_url}{form.action}",
        data=form.fields | {name: value},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(params.get("redirect_uri", CALLBACK))
    return parse_qs(urlsplit(location).query)


def exchange(base_url: str, accept: str = "application/json", **fields: str) -> requests.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET} | fields
    return requests.post(
        f"{base_url}/login/oauth/access_token", data=body, headers={"Accept": accept}, timeout=10
    )


def test_it_shows_an_authorize_page_with_both_buttons(sandbox: RunningSandbox) -> None:
    page = requests.get(
        f"{sandbox.url}/login/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "scope": "repo"},
        timeout=10,
    )
    form = FormReader()
    form.feed(page.text)

    assert "Authorize Sandbox OAuth App" in page.text
    assert set(form.buttons) == {"Authorize", "Cancel"}
    assert form.fields["login"] == "mona"


def test_it_exchanges_a_code_through_pygithub(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    query = authorize(sandbox.url)
    app = make_github(sandbox.api_url, None).get_oauth_application(CLIENT_ID, CLIENT_SECRET)

    token = app.get_access_token(query["code"][0])
    gh = make_github(sandbox.api_url, token.token)

    assert query["state"] == ["s-1"]
    assert token.type == "bearer"
    assert token.scope == "read:org,repo"
    assert gh.get_user().login == "mona"
    assert gh.oauth_scopes == ["read:org", "repo"]


def test_it_lets_tests_choose_the_authorizing_user(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    query = authorize(sandbox.url, login="alice")
    token = exchange(sandbox.url, code=query["code"][0]).json()["access_token"]

    assert make_github(sandbox.api_url, token).get_user().login == "alice"


def test_it_redirects_with_access_denied_on_cancel(sandbox: RunningSandbox) -> None:
    query = authorize(sandbox.url, choice="Cancel")

    assert query["error"] == ["access_denied"]
    assert query["state"] == ["s-1"]
    assert "code" not in query


def test_it_accepts_a_code_only_once(sandbox: RunningSandbox, control: SandboxControl) -> None:
    code = authorize(sandbox.url)["code"][0]
    app = make_github(sandbox.api_url, None).get_oauth_application(CLIENT_ID, CLIENT_SECRET)
    app.get_access_token(code)

    with pytest.raises(BadCredentialsException) as raised:
        app.get_access_token(code)

    assert raised.value.status == 200
    assert raised.value.data["error"] == "bad_verification_code"


def test_it_refuses_a_code_after_ten_minutes(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = authorize(sandbox.url)["code"][0]
    control.advance_clock(601)

    answer = exchange(sandbox.url, code=code)

    assert answer.status_code == 200
    assert answer.json()["error"] == "bad_verification_code"


def test_it_refuses_wrong_client_credentials(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = authorize(sandbox.url)["code"][0]
    app = make_github(sandbox.api_url, None).get_oauth_application(CLIENT_ID, "wrong")

    with pytest.raises(GithubException) as raised:
        app.get_access_token(code)

    assert raised.value.status == 200
    assert raised.value.data["error"] == "incorrect_client_credentials"


def test_it_refuses_a_different_redirect_uri(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = authorize(sandbox.url)["code"][0]

    answer = exchange(sandbox.url, code=code, redirect_uri="http://127.0.0.1:9/elsewhere")

    assert answer.status_code == 200
    assert answer.json()["error"] == "redirect_uri_mismatch"


def test_it_answers_form_encoded_unless_json_is_asked(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = authorize(sandbox.url)["code"][0]

    answer = exchange(sandbox.url, accept="*/*", code=code)
    fields = parse_qs(answer.text)

    assert answer.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert fields["token_type"] == ["bearer"]
    assert fields["access_token"][0].startswith("gho_")


def test_it_takes_a_json_body(sandbox: RunningSandbox, control: SandboxControl) -> None:
    code = authorize(sandbox.url)["code"][0]
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}

    answer = requests.post(
        f"{sandbox.url}/login/oauth/access_token",
        json=body,
        headers={"Accept": "application/json"},
        timeout=10,
    )

    assert answer.json()["access_token"].startswith("gho_")


@pytest.fixture
def registered() -> Iterator[SandboxServer]:
    server = build_server(None, Config(callback_url=CALLBACK), "127.0.0.1", 0)
    serve_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


def test_it_sends_a_foreign_redirect_uri_back_to_the_registered_callback(
    registered: SandboxServer,
) -> None:
    page = requests.get(
        f"{registered.url}/login/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": "http://evil.example/cb", "state": "s-2"},
        allow_redirects=False,
        timeout=10,
    )
    query = parse_qs(urlsplit(page.headers["Location"]).query)

    assert page.headers["Location"].startswith(CALLBACK)
    assert query["error"] == ["redirect_uri_mismatch"]
    assert query["state"] == ["s-2"]


def test_it_accepts_a_subdirectory_of_the_registered_callback(registered: SandboxServer) -> None:
    query = authorize(registered.url, redirect_uri=CALLBACK + "github/")

    assert len(query["code"][0]) == 20


def test_it_answers_oauth_faults(sandbox: RunningSandbox, control: SandboxControl) -> None:
    code = authorize(sandbox.url)["code"][0]
    control.add_fault(r"^/login/oauth/access_token$", kind="status", status=503, count=1)

    failed = exchange(sandbox.url, code=code)
    retried = exchange(sandbox.url, code=code)

    assert failed.status_code == 503
    assert retried.json()["access_token"].startswith("gho_")
