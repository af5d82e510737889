from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import requests

from sandbox.testing import RunningSandbox, SandboxControl

CLIENT_ID, CLIENT_SECRET = "sandbox-jira-client-id", "sandbox-jira-client-secret"
CALLBACK = "http://127.0.0.1:8000/onboarding/jira/callback/"
SCOPES = "read:jira-work offline_access"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_OPTION = re.compile(r'<option value="([^"]+)">([^<]+)</option>')


def consent(sandbox: RunningSandbox, **params: str) -> requests.Response:
    query = {
        "audience": "api.atlassian.com",
        "client_id": CLIENT_ID,
        "scope": SCOPES,
        "redirect_uri": CALLBACK,
        "state": "s-1",
        "response_type": "code",
        "prompt": "consent",
    }
    return requests.get(f"{sandbox.url}/atlassian/authorize", params=query | params, timeout=10)


def sites_on(page: requests.Response) -> dict[str, str]:
    """The consent page's "Use app on" choices: site name -> cloud id."""
    return {unescape(label).split(" ")[0]: value for value, label in _OPTION.findall(page.text)}


def decide(
    sandbox: RunningSandbox, decision: str = "accept", site: str = "acme", **params: str
) -> dict[str, list[str]]:
    """Press Accept or Cancel on the consent page; return the query of the redirect back."""
    page = consent(sandbox, **params)
    assert page.status_code == 200, page.text
    fields = {name: unescape(value) for name, value in _HIDDEN.findall(page.text)}
    answer = requests.post(
        f"{sandbox.url}/atlassian/authorize",
        data=fields | {"site": sites_on(page)[site], "decision": decision},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(params.get("redirect_uri", CALLBACK))
    return parse_qs(urlsplit(answer.headers["Location"]).query)


def token(sandbox: RunningSandbox, **fields: str) -> requests.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET} | fields
    return requests.post(f"{sandbox.url}/atlassian/oauth/token", json=body, timeout=10)


def exchange(sandbox: RunningSandbox, code: str, redirect_uri: str = CALLBACK) -> requests.Response:
    return token(sandbox, grant_type="authorization_code", code=code, redirect_uri=redirect_uri)


def tokens_for(sandbox: RunningSandbox, site: str = "acme", scope: str = SCOPES) -> dict[str, str]:
    answer = exchange(sandbox, decide(sandbox, site=site, scope=scope)["code"][0])
    assert answer.status_code == 200, answer.text
    return answer.json()


def refresh(sandbox: RunningSandbox, refresh_token: str) -> requests.Response:
    return token(sandbox, grant_type="refresh_token", refresh_token=refresh_token)


def api(
    sandbox: RunningSandbox, path: str, access_token: str, **params: str | int
) -> requests.Response:
    return requests.get(
        f"{sandbox.url}/atlassian-api{path}",
        params=params,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout=10,
    )


def resources(sandbox: RunningSandbox, access_token: str) -> requests.Response:
    return api(sandbox, "/oauth/token/accessible-resources", access_token)


def search(
    sandbox: RunningSandbox, cloud_id: str, access_token: str, **params: str | int
) -> requests.Response:
    return api(sandbox, f"/ex/jira/{cloud_id}/rest/api/3/project/search", access_token, **params)


def test_it_shows_a_consent_page_with_the_scopes_the_sites_and_both_buttons(
    sandbox: RunningSandbox,
) -> None:
    page = consent(sandbox)
    assert page.status_code == 200
    assert "PR Insights is requesting access to your Atlassian account" in page.text
    assert "<code>read:jira-work</code>" in page.text
    assert set(sites_on(page)) == {"acme", "acme-labs"}
    assert ">Accept</button>" in page.text and ">Cancel</button>" in page.text


def test_it_refuses_an_authorize_request_that_atlassian_would_refuse(
    sandbox: RunningSandbox,
) -> None:
    assert consent(sandbox, audience="api.example.com").status_code == 400
    assert consent(sandbox, client_id="someone-else").status_code == 400
    assert consent(sandbox, response_type="token").status_code == 400
    assert consent(sandbox, scope="read:everything").status_code == 400


def test_it_trades_a_code_once_for_an_hour_long_token_and_a_refresh_token(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    code = decide(sandbox)["code"][0]
    first = exchange(sandbox, code)
    assert first.status_code == 200
    body = first.json()
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    assert body["scope"] == SCOPES
    assert body["access_token"] and body["refresh_token"]
    again = exchange(sandbox, code)
    assert again.status_code == 403
    assert again.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid authorization code",
    }


def test_it_gives_no_refresh_token_without_offline_access(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    assert "refresh_token" not in tokens_for(sandbox, scope="read:jira-work")


def test_it_rotates_refresh_tokens_within_atlassians_reuse_leeway(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    first = tokens_for(sandbox)
    second = refresh(sandbox, first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 3600
    assert resources(sandbox, second["access_token"]).status_code == 200
    # The used token still works within the 10-minute leeway...
    assert refresh(sandbox, first["refresh_token"]).status_code == 200
    control.advance_clock(11 * 60)
    # ...and after it, reusing it invalidates the whole family.
    late = refresh(sandbox, first["refresh_token"])
    assert (late.status_code, late.json()["error"]) == (403, "invalid_grant")
    assert refresh(sandbox, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_it_expires_access_tokens_after_an_hour(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    tokens = tokens_for(sandbox)
    control.advance_clock(3599)
    assert resources(sandbox, tokens["access_token"]).status_code == 200
    control.advance_clock(2)
    expired = resources(sandbox, tokens["access_token"])
    assert (expired.status_code, expired.json()) == (401, {"code": 401, "message": "Unauthorized"})
    fresh = refresh(sandbox, tokens["refresh_token"]).json()
    assert resources(sandbox, fresh["access_token"]).status_code == 200


def test_it_lists_the_sites_the_user_granted_as_accessible_resources(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    first = tokens_for(sandbox, site="acme")
    sites = resources(sandbox, first["access_token"]).json()
    assert [(s["name"], s["url"]) for s in sites] == [("acme", "https://acme.atlassian.net")]
    assert set(sites[0]) == {"id", "url", "name", "scopes", "avatarUrl"}
    assert sites[0]["scopes"] == ["read:jira-work"]
    tokens_for(sandbox, site="acme-labs")
    assert {s["name"] for s in resources(sandbox, first["access_token"]).json()} == {
        "acme",
        "acme-labs",
    }


def test_it_pages_the_project_search_as_jira_does(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    access = tokens_for(sandbox)["access_token"]
    cloud_id = resources(sandbox, access).json()[0]["id"]
    first = search(sandbox, cloud_id, access, maxResults=4).json()
    assert (first["startAt"], first["maxResults"], first["total"], first["isLast"]) == (
        0,
        4,
        6,
        False,
    )
    assert len(first["values"]) == 4
    assert first["nextPage"].endswith(
        f"/ex/jira/{cloud_id}/rest/api/3/project/search?maxResults=4&startAt=4"
    )
    second = requests.get(
        first["nextPage"], headers={"Authorization": f"Bearer {access}"}, timeout=10
    ).json()
    assert (second["startAt"], second["isLast"], len(second["values"])) == (4, True, 2)
    assert "nextPage" not in second
    keys = [p["key"] for p in first["values"] + second["values"]]
    assert len(set(keys)) == 6
    project = first["values"][0]
    assert {
        "self",
        "id",
        "key",
        "name",
        "avatarUrls",
        "projectTypeKey",
        "simplified",
        "style",
    } <= set(project)
    assert search(sandbox, cloud_id, access, maxResults=1000).json()["maxResults"] == 100


def test_it_refuses_a_site_the_user_did_not_grant(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    access = tokens_for(sandbox, site="acme")["access_token"]
    labs = sites_on(consent(sandbox))["acme-labs"]
    assert search(sandbox, labs, access).status_code == 401


def test_it_refuses_a_token_without_read_jira_work(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    access = tokens_for(sandbox, scope="read:me offline_access")["access_token"]
    cloud_id = resources(sandbox, access).json()[0]["id"]
    answer = search(sandbox, cloud_id, access)
    assert answer.status_code == 401
    assert answer.json()["message"] == "Unauthorized; scope does not match"


def test_it_revokes_a_grant_and_every_token_of_it(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    tokens = tokens_for(sandbox)
    other = tokens_for(sandbox)
    assert control.revoke_jira(tokens["access_token"]) == 1
    assert resources(sandbox, tokens["access_token"]).status_code == 401
    assert refresh(sandbox, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert resources(sandbox, other["access_token"]).status_code == 200
    control.revoke_jira()  # the user removes the app from their account
    assert resources(sandbox, other["access_token"]).status_code == 401


def test_it_withdraws_the_app_from_one_site(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    tokens_for(sandbox, site="acme")
    access = tokens_for(sandbox, site="acme-labs")["access_token"]
    control.remove_jira_site(sites_on(consent(sandbox))["acme"])
    assert [s["name"] for s in resources(sandbox, access).json()] == ["acme-labs"]


def test_it_breaks_jira_requests_with_the_fault_api(
    sandbox: RunningSandbox, control: SandboxControl
) -> None:
    access = tokens_for(sandbox)["access_token"]
    control.add_fault("^/atlassian-api/oauth/token/accessible-resources$", status=503, count=1)
    assert resources(sandbox, access).status_code == 503
    assert resources(sandbox, access).status_code == 200
    refresh_token = tokens_for(sandbox)["refresh_token"]
    control.add_fault("^/atlassian/oauth/token$", kind="malformed_json", count=1)
    answer = refresh(sandbox, refresh_token)
    assert answer.status_code == 200
    try:
        answer.json()
        raise AssertionError("the body should be cut short")
    except ValueError:
        pass


def test_it_counts_requests_by_endpoint(sandbox: RunningSandbox, control: SandboxControl) -> None:
    access = tokens_for(sandbox)["access_token"]
    resources(sandbox, access)
    counters = control.jira_counters()
    assert counters["by_endpoint"]["POST /atlassian/oauth/token"] == 1
    assert counters["by_endpoint"]["GET /atlassian-api/oauth/token/accessible-resources"] == 1
    assert counters["by_token"][access] == 1
    control.reset()
    assert control.jira_counters()["requests"] == 0
