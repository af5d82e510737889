# Fixtures are imported from tests/onboarding/personas.py, so test arguments reuse their names.
# ruff: noqa: F811
from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.testing import RunningSandbox
from sync.github import oauth
from sync.github.client import Transient
from tests.onboarding.personas import CLIENT_ID, CLIENT_SECRET, gh  # noqa: F401

CALLBACK = "http://testserver/onboarding/github/callback/"


def _code(sandbox: RunningSandbox, *, scope: str = "read:org repo") -> str:
    """Approve our app on the sandbox's Authorize page and return the code it sends back."""
    url = oauth.authorize_url(redirect_uri=CALLBACK, state="s1")
    page = requests.get(url, timeout=5)
    fields = {
        name: html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    }
    fields["scope"] = scope
    answer = requests.post(
        f"{sandbox.url}/login/oauth/authorize",
        data={**fields, "authorize": "1"},
        allow_redirects=False,
        timeout=5,
    )
    return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


def test_it_derives_the_web_root_from_the_api_url(settings: object) -> None:
    settings.GITHUB_WEB_URL = ""  # type: ignore[attr-defined]
    settings.GITHUB_API_URL = "https://api.github.com"  # type: ignore[attr-defined]
    assert oauth.web_url() == "https://github.com"
    settings.GITHUB_API_URL = "https://ghe.example.com/api/v3"  # type: ignore[attr-defined]
    assert oauth.web_url() == "https://ghe.example.com"
    settings.GITHUB_WEB_URL = "https://login.example.com/"  # type: ignore[attr-defined]
    assert oauth.web_url() == "https://login.example.com"


def test_it_asks_for_read_org_and_repo_with_our_state(gh: RunningSandbox) -> None:
    url = oauth.authorize_url(redirect_uri=CALLBACK, state="random-state")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}" == gh.url
    assert parts.path == "/login/oauth/authorize"
    assert query["scope"] == ["read:org repo"]
    assert query["state"] == ["random-state"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [CALLBACK]
    page = requests.get(url, timeout=5)
    assert "read:org" in page.text and "repo" in page.text


def test_it_exchanges_a_code_for_a_token_with_its_scopes(gh: RunningSandbox) -> None:
    grant = oauth.exchange_code(code=_code(gh), redirect_uri=CALLBACK)
    assert grant.access_token.startswith("gho_")
    assert grant.scopes == ("read:org", "repo")
    assert grant.access_token not in repr(grant)
    user = requests.get(
        f"{gh.api_url}/user",
        headers={"Authorization": f"Bearer {grant.access_token}"},
        timeout=5,
    )
    assert user.json()["login"] == "mona"


def test_it_refuses_a_code_used_twice(gh: RunningSandbox) -> None:
    code = _code(gh)
    oauth.exchange_code(code=code, redirect_uri=CALLBACK)
    with pytest.raises(oauth.BadVerificationCode):
        oauth.exchange_code(code=code, redirect_uri=CALLBACK)


def test_it_refuses_a_made_up_code(gh: RunningSandbox) -> None:
    with pytest.raises(oauth.BadVerificationCode):
        oauth.exchange_code(code="0123456789abcdef0123", redirect_uri=CALLBACK)


def test_it_refuses_an_expired_code(gh: RunningSandbox) -> None:
    code = _code(gh)
    gh.control.advance_clock(11 * 60)  # GitHub: codes expire after ten minutes
    with pytest.raises(oauth.BadVerificationCode):
        oauth.exchange_code(code=code, redirect_uri=CALLBACK)


def test_it_reports_wrong_client_credentials(gh: RunningSandbox, settings: object) -> None:
    code = _code(gh)
    settings.GITHUB_CLIENT_SECRET = "not-the-secret"  # type: ignore[attr-defined]
    with pytest.raises(oauth.IncorrectClientCredentials) as raised:
        oauth.exchange_code(code=code, redirect_uri=CALLBACK)
    assert "not-the-secret" not in str(raised.value)


def test_it_reports_a_redirect_uri_that_does_not_match(gh: RunningSandbox) -> None:
    with pytest.raises(oauth.RedirectUriMismatch):
        oauth.exchange_code(code=_code(gh), redirect_uri="http://elsewhere.example/callback/")


def test_it_turns_a_github_outage_into_transient(gh: RunningSandbox) -> None:
    gh.control.add_fault("^/login/oauth/access_token$", status=502)
    with pytest.raises(Transient):
        oauth.exchange_code(code=_code(gh), redirect_uri=CALLBACK)


def test_it_turns_a_malformed_answer_into_transient(gh: RunningSandbox) -> None:
    gh.control.add_fault("^/login/oauth/access_token$", kind="malformed_json")
    with pytest.raises(Transient):
        oauth.exchange_code(code=_code(gh), redirect_uri=CALLBACK)


def test_it_gives_up_on_a_github_that_does_not_answer(gh: RunningSandbox, settings: object) -> None:
    settings.GITHUB_TIMEOUT = 0.3  # type: ignore[attr-defined]
    gh.control.add_fault("^/login/oauth/access_token$", kind="delay", delay_s=1.5)
    with pytest.raises(Transient):
        oauth.exchange_code(code=_code(gh), redirect_uri=CALLBACK)


def test_it_turns_an_unreachable_github_into_transient(settings: object) -> None:
    settings.GITHUB_WEB_URL = "http://127.0.0.1:9"  # type: ignore[attr-defined]
    settings.GITHUB_CLIENT_SECRET = CLIENT_SECRET  # type: ignore[attr-defined]
    with pytest.raises(Transient):
        oauth.exchange_code(code="abc", redirect_uri=CALLBACK)
