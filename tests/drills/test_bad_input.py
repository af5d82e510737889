"""Drill: bad input over real HTTP and WebSockets against Daphne, with CSRF checks on.

Tampered form posts, job ids that are not the user's on the progress socket, oversize socket
frames, and garbage or replayed OAuth callbacks. Each is refused with a readable page (or a
44xx close code) and the right status, never a 500, and leaves every row as it was.

Requests go through ``requests`` sessions carrying a session cookie (Django's test Client
would skip the CSRF check) and the ``websockets`` client with the browser's Origin and Cookie.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.contrib.auth.models import User

from sandbox.testing import RunningSandbox
from sync.github import orgs
from sync.models import Membership, SyncJob
from tests.browser.servers import DaphneServer
from tests.drills.visitors import REFUSED, Visitor, assert_page, rows
from tests.onboarding.personas import connect, identity, outsider
from tests.staff.teams import make_team
from tests.sync.integrating import consent_on_atlassian, install_on_slack
from tests.sync.jobs import make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NOT_FOUND, FRAME_TOO_LARGE, TOO_MANY_FRAMES = 4404, 4413, 4429
SUBMIT_REPOS = "/onboarding/select-repos/submit/"
CHOOSE_ORG = "/onboarding/select-org/choose/"
HIDDEN_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@pytest.fixture
def globex(db: None) -> SyncJob:
    """Another team (nobody here is a member) with an import running."""
    return make_job(make_team("globex", 2002), status=SyncJob.Status.RUNNING)


def _repository_ids(github: RunningSandbox, org: str) -> list[int]:
    return [
        repository.id for repository in orgs.list_org_repos(identity(github, "mona").token, org)
    ]


# -- tampered form posts -----------------------------------------------------------------------


def test_it_refuses_tampered_repository_selections_and_saves_nothing(
    web: DaphneServer, github: RunningSandbox, acme_admin: Membership
) -> None:
    mine, theirs = _repository_ids(github, "acme")[0], _repository_ids(github, "globex")[0]
    unknown = "of the repositories you sent are not repositories of acme"
    not_an_id = "That is not a repository id."
    unreadable = "This request could not be read"
    cases: list[tuple[str, list[tuple[str, Any]], str]] = [
        ("another organization's repository", [("repos", theirs)], f"1 {unknown}"),
        ("a repository that does not exist", [("repos", mine), ("repos", 987654321)], unknown),
        ("not a number", [("repos", "1; DROP TABLE sync_team")], not_an_id),
        ("a negative id", [("repos", "-5")], not_an_id),
        ("an id beyond 64 bits", [("repos", str(2**63))], not_an_id),
        ("a 5,000-digit id", [("repos", "9" * 5000)], not_an_id),
        ("no repository", [], "Choose at least one repository."),
        ("a team id instead", [("team", acme_admin.team_id)], "Choose at least one repository."),
        ("5,001 repositories", [("repos", i) for i in range(1, 5002)], "Choose at most 5000"),
        ("more fields than are read", [("repos", i) for i in range(10_001)], unreadable),
        ("a 3 MB body", [("repos", "1" * 3_000_000)], unreadable),
    ]
    alice = Visitor(web, acme_admin.user, acme_admin.team)
    before = rows()

    for name, fields, says in cases:
        response = alice.post(SUBMIT_REPOS, fields)
        try:
            assert_page(response, 400, says)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None

    assert rows() == before
    # The same browser's honest choice goes through: the refusals above were the input's.
    chosen = alice.post(SUBMIT_REPOS, {"repos": mine})
    assert chosen.status_code == 302 and "/onboarding/sync/" in chosen.headers["Location"]
    assert acme_admin.team.repositories.get().github_id == mine


def test_it_refuses_an_organization_choice_it_cannot_honour(
    web: DaphneServer, github: RunningSandbox, acme_admin: Membership, charlie: User
) -> None:
    connect(charlie, identity(github, outsider(github)))
    alice, stranger = Visitor(web, acme_admin.user), Visitor(web, charlie)
    not_a_member = "You are not a member of this organization"
    not_an_org = "That is not an organization"
    cases = [
        (stranger, {"org": "acme"}, 403, f"{not_a_member}</h1>"),
        (stranger, {"org": "globex"}, 403, "GitHub says your account is not a member of globex."),
        (alice, {"org": "no-such-org-here"}, 403, not_a_member),
        (alice, {"org": "../../user"}, 400, not_an_org),
        (alice, {"org": "acme\x00"}, 400, not_an_org),
        (alice, {"org": "a" * 5000}, 400, not_an_org),
        (alice, {}, 400, not_an_org),
    ]
    before = rows()

    for visitor, fields, status, says in cases:
        assert_page(visitor.post(CHOOSE_ORG, fields), status, says)

    assert rows() == before


def test_it_refuses_tampered_jira_and_slack_choices(
    web: DaphneServer, acme_admin: Membership
) -> None:
    alice = Visitor(web, acme_admin.user, acme_admin.team)
    for provider, consent in (("jira", consent_on_atlassian), ("slack", install_on_slack)):
        authorize, _ = _start_oauth(alice, provider)
        assert alice.get(consent(authorize)).status_code == 302
    projects, channel = "/onboarding/jira/projects/", "/onboarding/slack/channel/"
    site = re.findall(r'name="site" value="([^"]+)"', alice.get(f"{projects}list/").text)[0]
    not_listed = "That is not one of your Jira projects"
    cases: list[tuple[str, list[tuple[str, Any]], str]] = [
        (projects, [("site", site), ("projects", "NOPE")], not_listed),
        (projects, [("site", "another-accounts-site"), ("projects", "BILL")], not_listed),
        (projects, [("site", "s" * 5000), ("projects", "BILL")], not_listed),
        (projects, [("site", site), ("projects", "bill'; --")], "Not a Jira project key."),
        (projects, [("site", site), *[("projects", f"P{i}") for i in range(1001)]], "That is not"),
        (projects, [("site", site)], "Choose at least one project, or skip this step."),
        (channel, [("channel", "C0NOSUCH")], "That channel cannot be used"),
        (channel, [("channel", "#general")], "Choose a channel, or skip this step."),
        (channel, [("channel", "C" * 5000)], "Choose a channel, or skip this step."),
        (channel, [], "Choose a channel, or skip this step."),
    ]
    before = rows()

    for path, fields, says in cases:
        assert_page(alice.post(path, fields), 400, says)

    assert rows() == before


def test_it_refuses_tampered_staff_actions(
    web: DaphneServer, acme_admin: Membership, sam: User, globex: SyncJob
) -> None:
    team = acme_admin.team_id
    staff = Visitor(web, sam)
    before = rows()

    for extend_to, says in [
        ("2020-13-45", "Enter a valid date."),
        ("9999-12-31", "Choose a date in the past."),
        ("x" * 5000, "Enter a valid date."),
        ("", "This field is required."),
    ]:
        refused = staff.post(f"/staff/syncs/teams/{team}/extend/", {"extend_to": extend_to})
        assert refused.headers["Location"] == f"/staff/syncs/teams/{team}/"
        assert_page(staff.get(refused.headers["Location"]), 200, says)
    for path in [
        "/staff/syncs/teams/999999/sync/",
        "/staff/syncs/teams/999999/full-resync/",
        f"/staff/syncs/jobs/{globex.pk + 1000}/cancel/",
        f"/staff/syncs/jobs/{10**23}/retry/",
        "/staff/syncs/repositories/999999/resync/",
    ]:
        assert_page(staff.post(path, {"confirmed": "on"}), 404, "This page does not exist")
    assert_page(staff.get(f"/staff/syncs/teams/{team}/", job="999999"), 404, "This page does")

    assert rows() == before


def test_it_refuses_actions_on_another_teams_import(
    web: DaphneServer, acme_admin: Membership, globex: SyncJob
) -> None:
    own = make_job(acme_admin.team, status=SyncJob.Status.RUNNING)
    alice = Visitor(web, acme_admin.user, acme_admin.team)
    before = rows()

    for job_id in (globex.pk, own.pk + 1000, 10**23):
        assert_page(alice.get(f"/onboarding/sync/{job_id}/"), 404, "This page does not exist")
        for action in ("cancel", "retry", "run-now", "reconnect"):
            response = alice.post(f"/onboarding/sync/{job_id}/{action}/")
            assert_page(response, 404, "This page does not exist")
    assert_page(alice.post("/onboarding/sync/not-a-number/cancel/"), 404, "This page does not")

    assert rows() == before
    # The same action on her own import is carried out.
    assert alice.post(f"/onboarding/sync/{own.pk}/cancel/").status_code == 302
    assert SyncJob.objects.get(pk=own.pk).status == SyncJob.Status.CANCELLED


# -- the progress socket -----------------------------------------------------------------------


def test_it_closes_a_socket_asking_for_an_import_that_is_not_the_users(
    web: DaphneServer, acme_admin: Membership, globex: SyncJob
) -> None:
    own = make_job(acme_admin.team)
    alice = Visitor(web, acme_admin.user)
    before = rows()

    for job_id in (globex.pk, own.pk + 1000, 10**23):
        refused = alice.socket(f"/ws/sync/{job_id}/")
        assert (refused.frames, refused.code) == ([], REFUSED), job_id
    for path in ("/ws/sync/abc/", "/ws/sync/", "/ws/nothing/"):
        unknown = alice.socket(path)
        assert (unknown.frames, unknown.code) == ([], NOT_FOUND), path
    # Her own import's socket opens on its snapshot: the refusals were about the job id.
    opened = alice.socket(f"/ws/sync/{own.pk}/")
    assert 'id="sync-status"' in opened.frames[0] and opened.code is None

    assert rows() == before


@pytest.mark.parametrize(
    ("frames", "code"),
    [(("x" * 2000,), FRAME_TOO_LARGE), (("ping",) * 31, TOO_MANY_FRAMES)],
    ids=["one oversize frame", "too many frames"],
)
def test_it_closes_a_socket_that_sends_too_much(
    web: DaphneServer, acme_admin: Membership, frames: tuple[str, ...], code: int
) -> None:
    job = make_job(acme_admin.team)
    alice = Visitor(web, acme_admin.user)
    before = rows()

    socket = alice.socket(f"/ws/sync/{job.pk}/", send=frames)

    assert len(socket.frames) == 1 and 'id="sync-status"' in socket.frames[0]
    assert socket.code == code
    assert rows() == before


# -- OAuth callbacks ---------------------------------------------------------------------------


def _github_exchanges(github: RunningSandbox) -> int:
    counts = github.control.counters()["by_endpoint"]
    return sum(count for name, count in counts.items() if "access_token" in name)


def _start_oauth(visitor: Visitor, provider: str) -> tuple[str, str]:
    """Press "Connect" for ``provider``; return where the browser is sent, and its state."""
    started = visitor.post(f"/onboarding/{provider}/connect/")
    assert started.status_code == 302, started.text
    authorize = started.headers["Location"]
    return authorize, parse_qs(urlsplit(authorize).query)["state"][0]


def _authorize_on_github(visitor: Visitor, github: RunningSandbox) -> str:
    """Continue with GitHub and approve on the sandbox's page as mona; return the callback."""
    authorize, _ = _start_oauth(visitor, "github")
    page = requests.get(f"{authorize}&login=mona", timeout=10)
    fields = {name: unescape(value) for name, value in HIDDEN_FIELD.findall(page.text)}
    answer = requests.post(
        f"{github.url}/login/oauth/authorize",
        data={**fields, "authorize": "1"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def test_it_refuses_garbage_github_callbacks(web: DaphneServer, github: RunningSandbox) -> None:
    expired = "This sign-in link is no longer valid"
    garbage: list[dict[str, str]] = [
        {},
        {"code": "0123456789abcdef"},
        {"state": "forged", "code": "0123456789abcdef"},
        {"error": "access_denied"},
        {"state": "s" * 5000, "code": "c" * 5000},
        {"state": "\x00\u00e9", "code": "<script>"},
    ]
    visitor = Visitor(web)
    before = rows()

    for query in garbage:
        assert_page(visitor.get("/onboarding/github/callback/", **query), 400, expired)
    # With a state this browser was really sent, GitHub's answer decides.
    for query, status, says in [
        ({"code": "not-a-code-github-issued"}, 400, "GitHub did not accept the sign-in code"),
        ({"error": "access_denied"}, 403, "GitHub access was not granted"),
        ({"error": "<b>made-up</b>"}, 400, "GitHub refused the sign-in"),
    ]:
        _, state = _start_oauth(visitor, "github")
        response = visitor.get("/onboarding/github/callback/", state=state, **query)
        assert_page(response, status, says)

    assert rows() == before
    assert _github_exchanges(github) == 1  # only the one code that was sent to GitHub


def test_it_refuses_a_replayed_github_callback_and_sends_its_own_browser_back_to_its_step(
    web: DaphneServer, github: RunningSandbox
) -> None:
    visitor = Visitor(web)
    callback = _authorize_on_github(visitor, github)
    signed_in = visitor.get(callback)
    assert signed_in.status_code == 302, signed_in.text
    assert signed_in.headers["Location"] == "/onboarding/select-org/"
    before = rows()

    # The same browser (Back onto GitHub's page after signing in) lands on its step again;
    # one that stole the link is refused. Neither redeems the code a second time.
    replay = visitor.get(callback)
    assert (replay.status_code, replay.headers["Location"]) == (302, "/onboarding/select-org/")
    replay = Visitor(web).get(callback)
    assert_page(replay, 400, "This sign-in link is no longer valid", "Nothing was connected.")

    assert rows() == before
    assert _github_exchanges(github) == 1


@pytest.mark.parametrize("provider", ["jira", "slack"])
def test_it_refuses_garbage_callbacks_and_sends_a_connected_replay_back_to_the_step(
    web: DaphneServer, github: RunningSandbox, acme_admin: Membership, provider: str
) -> None:
    expired = {"jira": "This Jira link is no longer valid", "slack": "This Slack link is no"}
    consent = {"jira": consent_on_atlassian, "slack": install_on_slack}[provider]
    callback_path = f"/onboarding/{provider}/callback/"
    alice = Visitor(web, acme_admin.user, acme_admin.team)
    before = rows()

    for query in ({}, {"code": "x"}, {"state": "forged", "code": "x"}, {"state": "s" * 5000}):
        assert_page(alice.get(callback_path, **query), 400, expired[provider])
    assert rows() == before
    authorize, _ = _start_oauth(alice, provider)
    callback = consent(authorize)
    assert alice.get(callback).status_code == 302  # connected
    connected = rows()
    assert acme_admin.team.integrations.filter(provider=provider).exists()

    # Back onto the provider's page after connecting: the step again, nothing redeemed twice.
    replay = alice.get(callback)
    assert replay.status_code == 302 and replay.headers["Location"].startswith(
        f"/onboarding/{provider}/"
    )
    assert rows() == connected
