from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from dramatiq.brokers.redis import RedisBroker

from onboarding.views.repos import ago
from sandbox.testing import RunningSandbox
from sync.github import orgs
from sync.models import Membership, RepoSync, SyncJob, TrackedRepository
from tests.onboarding.personas import Identity, connect, identity, join

SHELL = reverse("onboarding:select_repos")
LIST = reverse("onboarding:repository_list")
SUBMIT = reverse("onboarding:submit_repos")
HTMX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}  # **extra for Client.get
ROW = re.compile(r'<li class="pick( pick-archived)?"><label><input type="checkbox" name="repos" '
                 r'value="(\d+)"')  # fmt: skip


@pytest.fixture
def unreachable_broker() -> Iterator[None]:
    working = dramatiq.get_broker()
    dramatiq.set_broker(RedisBroker(url="redis://127.0.0.1:9/0", socket_connect_timeout=0.5))
    yield
    dramatiq.set_broker(working)


@pytest.fixture
def big_acme(
    alice: User, big_org: RunningSandbox, settings: object, gh: RunningSandbox
) -> Membership:
    """Alice's team for the 30-repository acme (three archived)."""
    settings.GITHUB_API_URL = big_org.api_url  # type: ignore[attr-defined]
    big_org.control.reset()
    who = identity(big_org, "mona")
    connect(alice, who)
    return join(alice, who)


def _signed_in(client: Client, membership: Membership) -> Client:
    client.force_login(membership.user)
    session = client.session
    session["onboarding_team_id"] = membership.team_id
    session.save()
    return client


def _repo_ids(membership: Membership) -> list[int]:
    token = membership.user.github_account.credential.access_token  # type: ignore[union-attr]
    return [r.id for r in orgs.list_org_repos(token, membership.team.github_org_login)]


# -- the page shell -------------------------------------------------------------------------


def test_it_renders_the_shell_without_asking_github(
    client: Client, acme: Membership, gh: RunningSandbox
) -> None:
    _signed_in(client, acme)
    gh.control.reset_counters()
    response = client.get(SHELL)
    assert response.status_code == 200
    assert gh.control.counters()["requests"] == 0
    text = response.content.decode()
    assert f'hx-get="{LIST}" hx-trigger="load"' in text
    assert "Loading your repositories from GitHub…" in text
    assert f'<noscript><p>Your browser runs no JavaScript: <a href="{LIST}">' in text


def test_it_lists_repositories_most_recently_pushed_first(
    client: Client, big_acme: Membership
) -> None:
    response = _signed_in(client, big_acme).get(LIST, **HTMX)
    text = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in text  # a fragment for htmx
    assert response["Server-Timing"].startswith("github;dur=")
    rows = ROW.findall(text)
    token = big_acme.user.github_account.credential.access_token  # type: ignore[union-attr]
    expected = orgs.list_org_repos(token, "acme")
    assert [int(i) for _, i in rows] == [r.id for r in expected]
    pushed = [r.pushed_at for r in expected]
    assert pushed == sorted(pushed, reverse=True)
    assert "Private" in text and "Public" in text
    assert re.search(r"pushed [^<]+ ago</time>", text)
    # Each name carries its full text as a title: a phone shows it truncated on one line.
    for repository in expected:
        name = repository.name
        assert f'<span class="pick-name" title="{name}">{name}</span>' in text
    assert 'id="repo-hidden"' in text and "Deselect the hidden ones" in text


def test_it_hides_archived_repositories_behind_a_toggle(
    client: Client, big_acme: Membership
) -> None:
    text = _signed_in(client, big_acme).get(LIST, **HTMX).content.decode()
    archived = [i for flag, i in ROW.findall(text) if flag]
    assert len(archived) == 3
    assert '<input type="checkbox" id="show-archived"> Show 3 archived' in text
    assert "30 repositories, 3 of them archived" in text


def test_it_serves_the_whole_page_with_the_list_without_javascript(
    client: Client, acme: Membership
) -> None:
    response = _signed_in(client, acme).get(LIST)
    text = response.content.decode()
    assert response.status_code == 200
    assert "<html" in text and 'id="repo-form"' in text
    assert 'hx-trigger="load"' not in text
    assert len(ROW.findall(text)) == len(_repo_ids(acme))
    assert "Import selected repositories" in text


def test_it_marks_repositories_already_imported(client: Client, acme: Membership) -> None:
    first = _repo_ids(acme)[0]
    _signed_in(client, acme).post(SUBMIT, {"repos": [first]})
    text = client.get(LIST, **HTMX).content.decode()
    assert f'value="{first}" checked disabled>' in text
    assert "1 already imported" in text


def test_it_shows_a_github_failure_in_the_list_with_a_retry(
    client: Client, acme: Membership, gh: RunningSandbox
) -> None:
    gh.control.add_fault("/orgs/acme/repos$", status=502)
    fragment = _signed_in(client, acme).get(LIST, **HTMX)
    assert fragment.status_code == 200  # htmx swaps only 2xx answers
    text = fragment.content.decode()
    assert "GitHub did not answer" in text
    assert f'hx-get="{LIST}"' in text and "Try again" in text
    assert client.get(LIST).status_code == 502


def test_it_offers_a_reconnect_when_the_token_was_revoked(
    client: Client, acme: Membership, alice_github: Identity, gh: RunningSandbox
) -> None:
    gh.control.revoke_token(alice_github.token)
    text = _signed_in(client, acme).get(LIST, **HTMX).content.decode()
    assert "GitHub access was revoked" in text
    assert "Reconnect GitHub" in text


# -- submitting --------------------------------------------------------------------------------


def test_it_tracks_the_chosen_repositories_and_opens_the_progress_page(
    client: Client, acme: Membership
) -> None:
    chosen = _repo_ids(acme)[:3]
    _signed_in(client, acme).get(LIST, **HTMX)
    response = client.post(SUBMIT, {"repos": chosen})
    job = SyncJob.objects.get(team=acme.team)
    assert response.status_code == 302
    assert response["Location"] == f"/onboarding/sync/{job.pk}/"
    assert set(TrackedRepository.objects.values_list("github_id", flat=True)) == set(chosen)
    assert RepoSync.objects.filter(job=job).count() == 3


def test_it_checks_submitted_ids_even_when_the_list_was_never_loaded(
    client: Client, acme: Membership
) -> None:
    chosen = _repo_ids(acme)[:1]
    response = _signed_in(client, acme).post(SUBMIT, {"repos": chosen})
    assert response.status_code == 302
    assert TrackedRepository.objects.count() == 1


def test_it_refuses_a_tampered_id_and_creates_nothing(client: Client, acme: Membership) -> None:
    chosen = [*_repo_ids(acme)[:2], 987654321]
    _signed_in(client, acme).get(LIST, **HTMX)
    response = client.post(SUBMIT, {"repos": chosen})
    assert response.status_code == 400
    assert b"1 of the repositories you sent are not repositories of acme" in response.content
    assert b"Nothing was saved." in response.content
    assert not TrackedRepository.objects.exists()
    assert not SyncJob.objects.exists()


def test_it_refuses_a_repository_of_another_organization(
    client: Client, acme: Membership, alice_github: Identity
) -> None:
    globex = orgs.list_org_repos(alice_github.token, "globex")[0].id
    response = _signed_in(client, acme).post(SUBMIT, {"repos": [globex]})
    assert response.status_code == 400
    assert not TrackedRepository.objects.exists()


def test_it_refuses_ids_that_are_not_numbers(client: Client, acme: Membership) -> None:
    response = _signed_in(client, acme).post(SUBMIT, {"repos": ["1; DROP TABLE"]})
    assert response.status_code == 400
    assert b"That is not a repository id." in response.content


def test_it_asks_for_at_least_one_repository(client: Client, acme: Membership) -> None:
    response = _signed_in(client, acme).post(SUBMIT, {})
    assert response.status_code == 400
    assert b"Choose at least one repository." in response.content
    assert not SyncJob.objects.exists()


def test_it_survives_a_double_submit(client: Client, acme: Membership) -> None:
    chosen = _repo_ids(acme)[:2]
    _signed_in(client, acme)
    first = client.post(SUBMIT, {"repos": chosen})
    second = client.post(SUBMIT, {"repos": chosen})
    job = SyncJob.objects.get()
    assert first["Location"] == second["Location"] == f"/onboarding/sync/{job.pk}/"
    assert TrackedRepository.objects.count() == 2


def test_it_explains_an_unreachable_queue_and_leaves_nothing_half_created(
    client: Client, acme: Membership, unreachable_broker: None
) -> None:
    chosen = _repo_ids(acme)[:2]
    response = _signed_in(client, acme).post(SUBMIT, {"repos": chosen})
    assert response.status_code == 503
    assert b"The job queue could not be reached, so the import could not start." in (
        response.content
    )
    assert not TrackedRepository.objects.exists()
    assert not SyncJob.objects.exists()
    assert not RepoSync.objects.exists()


# -- who may do it -----------------------------------------------------------------------------


def test_it_lets_only_admins_choose_repositories(
    client: Client, acme: Membership, bob: User, bob_github: Identity
) -> None:
    member = join(bob, bob_github)
    _signed_in(client, member)
    for response in (client.get(SHELL), client.get(LIST, **HTMX), client.post(SUBMIT)):
        assert response.status_code == 403
        assert b"Only the team&#x27;s admins choose repositories" in response.content
    assert not SyncJob.objects.exists()


def test_it_never_shows_another_teams_repositories(
    client: Client, acme: Membership, charlie: User, charlie_github: Identity, gh: RunningSandbox
) -> None:
    client.force_login(charlie)
    session = client.session
    session["onboarding_team_id"] = acme.team_id  # a forged team id
    session.save()
    gh.control.reset_counters()
    for response in (client.get(SHELL), client.get(LIST, **HTMX), client.post(SUBMIT)):
        assert response.status_code == 302
        assert response["Location"] == reverse("onboarding:select_org")
    assert gh.control.counters()["requests"] == 0
    assert not TrackedRepository.objects.exists()


def test_it_says_how_long_ago_in_words() -> None:
    assert ago(timedelta(seconds=20)) == "just now"
    assert ago(timedelta(minutes=1, seconds=5)) == "1 minute ago"
    assert ago(timedelta(hours=5, minutes=59)) == "5 hours ago"
    assert ago(timedelta(days=45)) == "1 month ago"
    assert ago(timedelta(days=800)) == "2 years ago"


def test_it_accepts_thousands_of_ids_in_one_submission(client: Client, acme: Membership) -> None:
    made_up = list(range(10_000_001, 10_002_001))
    response = _signed_in(client, acme).post(SUBMIT, {"repos": made_up})
    assert response.status_code == 400
    assert b"2000 of the repositories you sent are not repositories of acme" in response.content
    assert not TrackedRepository.objects.exists()


def test_it_sends_htmx_to_connect_github_when_the_credential_is_gone(
    client: Client, acme: Membership
) -> None:
    acme.user.github_account.credential.delete()  # type: ignore[union-attr]
    response = _signed_in(client, acme).get(LIST, **HTMX)
    assert response["HX-Redirect"] == reverse("onboarding:start")


def test_it_explains_a_github_failure_when_the_saved_list_expired(
    client: Client, acme: Membership, gh: RunningSandbox
) -> None:
    chosen = _repo_ids(acme)[:2]
    _signed_in(client, acme)  # the list was never loaded here (or its 15 minutes ran out)
    gh.control.add_fault("/orgs/acme/repos$", status=502)

    response = client.post(SUBMIT, {"repos": chosen})

    assert response.status_code == 502
    assert "GitHub could not be reached or answered with an error." in response.content.decode()
    assert not TrackedRepository.objects.exists() and not SyncJob.objects.exists()
