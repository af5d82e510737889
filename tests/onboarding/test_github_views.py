from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from sandbox.testing import RunningSandbox
from sync.models import GitHubAccount, IntegrationCredential
from tests.conftest import TEST_CLIENT_CALLBACK
from tests.onboarding.personas import CLIENT_ID, authorize_on_github


def _exchanges(sandbox: RunningSandbox) -> int:
    counts = sandbox.control.counters()["by_endpoint"]
    return sum(n for name, n in counts.items() if "access_token" in name)


def test_it_shows_the_start_page(client: Client, db: None) -> None:
    response = client.get(reverse("onboarding:start"))
    assert response.status_code == 200
    assert b"Continue with GitHub" in response.content


def test_it_sends_the_browser_to_github_with_a_random_state(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    first = client.post(reverse("onboarding:github_connect"))
    query = parse_qs(urlsplit(first["Location"]).query)
    assert first["Location"].startswith(f"{gh.url}/login/oauth/authorize?")
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == ["read:org repo"]
    assert query["redirect_uri"] == ["http://testserver/onboarding/github/callback/"]
    second = client.post(reverse("onboarding:github_connect"))
    state = parse_qs(urlsplit(second["Location"]).query)["state"][0]
    assert state != query["state"][0] and len(state) >= 32


def test_it_starts_a_sign_in_only_on_a_post(client: Client, db: None, gh: RunningSandbox) -> None:
    for _ in range(3):  # an <img src> on another site, repeated
        response = client.get(reverse("onboarding:github_connect"), {"next": "/"})
        assert response.status_code == 405
    assert not Session.objects.exists()  # no session row written, no OAuth state replaced


def test_it_creates_and_signs_in_a_new_user(client: Client, db: None, gh: RunningSandbox) -> None:
    callback, _ = authorize_on_github(client, gh, login="mona")
    response = client.get(callback)
    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:select_org")
    account = GitHubAccount.objects.get(login="mona")
    assert client.session["_auth_user_id"] == str(account.user_id)
    assert account.credential is not None
    assert account.credential.scopes == "read:org repo"
    page = client.get(reverse("onboarding:organization_list"))
    assert b"acme" in page.content


def test_it_signs_in_the_same_user_the_next_time(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    client.get(authorize_on_github(client, gh)[0])
    other = Client()
    other.get(authorize_on_github(other, gh)[0])
    assert User.objects.count() == 1
    assert IntegrationCredential.objects.count() == 1


def test_it_returns_to_the_page_that_asked_for_a_reconnect(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh, next_url="/onboarding/complete/")
    assert client.get(callback)["Location"] == "/onboarding/complete/"


def test_it_never_returns_to_another_site(client: Client, db: None, gh: RunningSandbox) -> None:
    callback, _ = authorize_on_github(client, gh, next_url="https://evil.example/")
    assert client.get(callback)["Location"] == reverse("onboarding:select_org")


def test_it_explains_a_cancel_on_github(client: Client, db: None, gh: RunningSandbox) -> None:
    callback, _ = authorize_on_github(client, gh, approve=False)
    response = client.get(callback)
    assert response.status_code == 403
    assert b"GitHub access was not granted" in response.content
    assert b"You cancelled on GitHub" in response.content
    assert b"Connect GitHub again" in response.content
    assert not User.objects.exists()


def test_it_refuses_a_state_it_did_not_send_without_exchanging_the_code(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, state = authorize_on_github(client, gh)
    gh.control.reset_counters()
    response = client.get(callback.replace(state, "forged-state"))
    assert response.status_code == 400
    assert b"This sign-in link is no longer valid" in response.content
    assert _exchanges(gh) == 0
    assert not User.objects.exists()


def test_it_uses_a_state_once(client: Client, db: None, gh: RunningSandbox) -> None:
    callback, _ = authorize_on_github(client, gh)
    assert client.get(callback).status_code == 302
    client.logout()
    gh.control.reset_counters()
    replay = client.get(callback)
    assert replay.status_code == 400
    assert b"This sign-in link is no longer valid" in replay.content
    assert _exchanges(gh) == 0


def test_it_sends_a_signed_in_user_back_onto_githubs_page_to_their_step(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh)
    assert client.get(callback)["Location"] == reverse("onboarding:select_org")
    gh.control.reset_counters()
    # Back onto GitHub's page, which sends the browser to the callback again: a used state.
    response = client.get(callback)
    assert response.status_code == 302
    assert response["Location"] == reverse("onboarding:select_org")
    assert _exchanges(gh) == 0  # the code is not redeemed
    assert client.get(response["Location"]).status_code == 200


def test_it_sends_a_signed_in_admin_back_to_the_step_their_team_is_at(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    from sync.models import Membership, SyncJob, Team

    callback, _ = authorize_on_github(client, gh)
    client.get(callback)
    user = GitHubAccount.objects.get().user
    team = Team.objects.create(name="Acme", github_org_id=1001, github_org_login="acme")
    Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    stale = client.get(callback)
    assert stale["Location"] == reverse("onboarding:select_repos")
    team.repositories.create(github_id=1, full_name="acme/api")
    job = SyncJob.objects.create(team=team, status=SyncJob.Status.RUNNING)
    assert client.get(callback)["Location"] == reverse("onboarding:sync", args=[job.pk])
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.SUCCEEDED)
    assert client.get(callback)["Location"] == reverse("onboarding:complete")


def test_it_still_refuses_a_used_state_from_a_browser_not_signed_in(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh)
    client.get(callback)
    client.logout()
    assert client.get(callback).status_code == 400
    assert Client().get(callback).status_code == 400


def test_it_refuses_a_callback_from_another_browser(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh)
    response = Client().get(callback)  # no state in that browser's session
    assert response.status_code == 400
    assert not User.objects.exists()


def test_it_explains_an_expired_code(client: Client, db: None, gh: RunningSandbox) -> None:
    callback, _ = authorize_on_github(client, gh)
    gh.control.advance_clock(11 * 60)
    response = client.get(callback)
    assert response.status_code == 400
    assert b"GitHub did not accept the sign-in code" in response.content
    assert not User.objects.exists()


def test_it_explains_missing_scopes_and_keeps_no_token(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh, scopes="read:org")
    response = client.get(callback)
    assert response.status_code == 403
    text = response.content.decode()
    assert (
        "The `repo` scope is missing, so private repositories and their pull requests "
        "cannot be read." in text
    )
    assert "Connect GitHub again and approve all the access GitHub asks for" in text
    assert not User.objects.exists()
    assert not IntegrationCredential.objects.exists()


def test_it_explains_a_github_outage_during_the_exchange(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh)
    gh.control.add_fault("^/login/oauth/access_token$", status=503)
    response = client.get(callback)
    assert response.status_code == 502
    assert b"GitHub did not answer" in response.content


def test_it_explains_misconfigured_app_credentials(
    client: Client, db: None, gh: RunningSandbox, settings: object
) -> None:
    callback, _ = authorize_on_github(client, gh)
    settings.GITHUB_CLIENT_SECRET = "wrong"  # type: ignore[attr-defined]
    response = client.get(callback)
    assert response.status_code == 502
    assert b"GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET" in response.content


def test_it_explains_a_preflight_that_github_did_not_answer_in_time(
    client: Client, db: None, gh: RunningSandbox
) -> None:
    callback, _ = authorize_on_github(client, gh)
    gh.control.add_fault("^/api/v3/user$", kind="delay", delay_s=6)
    response = client.get(callback)
    assert response.status_code == 502
    assert b"GitHub did not answer within 4 seconds." in response.content
    assert not User.objects.exists()


def test_it_never_shows_or_logs_the_token(
    client: Client, db: None, gh: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    callback, _ = authorize_on_github(client, gh)
    client.get(callback)
    token = str(IntegrationCredential.objects.get().access_token)
    pages = [
        client.get(reverse("onboarding:organization_list")),
        client.get(reverse("onboarding:start")),
    ]
    gh.control.revoke_token(token)
    pages.append(client.get(reverse("onboarding:organization_list")))
    assert all(token not in page.content.decode() for page in pages)
    assert token not in caplog.text


def test_it_carries_the_page_to_return_to_through_the_start_page(client: Client, db: None) -> None:
    response = client.get(reverse("onboarding:start"), {"next": "/onboarding/sync/7/"})
    assert b'<input type="hidden" name="next" value="/onboarding/sync/7/">' in response.content


def test_it_signs_out_on_a_post_only(client: Client, alice: User) -> None:
    client.force_login(alice)
    session_id = client.cookies["sessionid"].value

    assert client.get(reverse("onboarding:sign_out")).status_code == 405
    response = client.post(reverse("onboarding:sign_out"))

    assert response.status_code == 302 and response["Location"] == "/onboarding/start/"
    assert not Session.objects.filter(pk=session_id).exists()
    after = client.get(reverse("onboarding:complete"))
    assert after.status_code == 302 and after["Location"].startswith("/onboarding/start/")


def test_it_offers_a_sign_out_button_to_a_signed_in_user(client: Client, alice: User) -> None:
    assert b'data-testid="sign-out"' not in client.get(reverse("onboarding:start")).content
    client.force_login(alice)
    page = client.get(reverse("onboarding:start")).content.decode()
    assert f'<form method="post" action="{reverse("onboarding:sign_out")}"' in page


@pytest.fixture
def misregistered(gh: RunningSandbox) -> Iterator[RunningSandbox]:
    """The OAuth app registered with another callback URL than this site's."""
    gh.control.set_callback_url("http://testserver/registered/callback/")
    yield gh
    gh.control.set_callback_url(TEST_CLIENT_CALLBACK)


def test_it_explains_a_redirect_uri_github_refuses(
    client: Client, db: None, misregistered: RunningSandbox
) -> None:
    started = client.post(reverse("onboarding:github_connect"))
    refused = requests.get(f"{started['Location']}&login=mona", allow_redirects=False, timeout=5)
    back = urlsplit(refused.headers["Location"])
    query = parse_qs(back.query)

    response = client.get(
        reverse("onboarding:github_callback"), {k: v[0] for k, v in query.items()}
    )

    assert back.path == "/registered/callback/"
    assert query["error"] == ["redirect_uri_mismatch"]
    assert response.status_code == 400
    assert b"misconfigured" in response.content
    assert b"callback URL" in response.content
    assert not GitHubAccount.objects.exists()
