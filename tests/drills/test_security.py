"""Drill: security over real HTTP and WebSockets against Daphne, with CSRF checks on.

CSRF on every state-changing POST, staff pages and actions closed to everyone else, sockets of
other teams and the staff socket refused, error pages without debug detail or a token, and
encryption keys rotated under a real worker that then knows only the new key.

That no token reaches a page, a socket frame or a log line during the whole onboarding flow is
proven by tests/browser/test_onboarding_flow.py; this drill adds the error pages to it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse
from websockets.exceptions import InvalidStatus

import onboarding.urls
import staff.urls
from sandbox.testing import RunningSandbox
from sync import services
from sync.models import IntegrationCredential, Membership, SyncJob, Team
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.drills.visitors import REFUSED, Visitor, assert_page, rows
from tests.onboarding.personas import connect, identity, plain_member
from tests.processes import ROOT, child_env
from tests.sync.importing import since_of, start_sync_worker, truth_from_db, wait_finished
from tests.sync.jobs import make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXPIRED_FORM = "This form has expired"
NOT_FOUND = "This page does not exist"
# Every POST the product accepts: (URL name, the id it takes, who it would work for, the form).
POSTS: list[tuple[str, str, str, dict[str, str]]] = [
    ("onboarding:github_connect", "", "alice", {}),
    ("onboarding:choose_org", "", "alice", {"org": "acme"}),
    ("onboarding:submit_repos", "", "alice", {"repos": "1"}),
    ("onboarding:jira_connect", "", "alice", {}),
    ("onboarding:jira_projects", "", "alice", {"site": "s", "projects": "ENG"}),
    ("onboarding:slack_connect", "", "alice", {}),
    ("onboarding:slack_channel", "", "alice", {"channel": "C0123ABCD"}),
    ("onboarding:start_incremental_sync", "", "alice", {}),
    ("onboarding:sync_cancel", "job_id", "alice", {}),
    ("onboarding:sync_retry", "job_id", "alice", {}),
    ("onboarding:sync_run_now", "job_id", "alice", {}),
    ("onboarding:sync_reconnect", "job_id", "alice", {}),
    ("staff:sync_now", "team_id", "sam", {}),
    ("staff:full_resync", "team_id", "sam", {"confirmed": "on"}),
    ("staff:extend_history", "team_id", "sam", {"extend_to": "2020-01-01"}),
    ("staff:resync_repository", "repository_id", "sam", {}),
    ("staff:retry_failed", "job_id", "sam", {}),
    ("staff:cancel_job", "job_id", "sam", {"confirmed": "on"}),
    ("staff:run_now", "job_id", "sam", {}),
    ("onboarding:remove_repository", "repository_id", "alice", {"keep_data": "keep"}),
    ("onboarding:jira_disconnect", "", "alice", {}),
    ("onboarding:slack_disconnect", "", "alice", {}),
    ("onboarding:webhook_authorize", "", "alice", {}),
    ("onboarding:webhook_register", "", "alice", {}),
    ("onboarding:sign_out", "", "alice", {}),  # last: alice's later posts need her session
]
# Pages that change nothing, whatever the method.
READ_ONLY = set(
    """onboarding:start onboarding:github_callback onboarding:select_org
    onboarding:organization_list onboarding:select_repos onboarding:repository_list
    onboarding:jira onboarding:jira_callback onboarding:slack
    onboarding:slack_callback onboarding:complete onboarding:sync
    onboarding:jira_projects_list onboarding:slack_channel_list onboarding:webhooks
    staff:syncs staff:audit staff:team""".split()
)


@pytest.fixture
def job(acme_admin: Membership) -> SyncJob:
    """An import of alice's team, running."""
    return make_job(acme_admin.team, status=SyncJob.Status.RUNNING)


def _path(name: str, id_name: str, job: SyncJob) -> str:
    repository = job.team.repositories.order_by("pk").first()
    assert repository is not None
    ids = {"job_id": job.pk, "team_id": job.team_id, "repository_id": repository.pk}
    return reverse(name, kwargs={id_name: ids[id_name]} if id_name else {})


# -- CSRF --------------------------------------------------------------------------------------


def test_it_lists_every_post_the_product_accepts() -> None:
    names = {
        f"{module.app_name}:{pattern.name}"
        for module in (onboarding.urls, staff.urls)
        for pattern in module.urlpatterns
    }
    assert names == {name for name, *_ in POSTS} | READ_ONLY


def test_it_refuses_every_post_without_the_right_csrf_token_and_changes_nothing(
    web: DaphneServer, acme_admin: Membership, sam: User, job: SyncJob
) -> None:
    users = {"alice": acme_admin.user, "sam": sam}
    browsers = {who: Visitor(web, user, acme_admin.team) for who, user in users.items()}
    cookieless = {who: Visitor(web, user, acme_admin.team) for who, user in users.items()}
    for browser in cookieless.values():
        browser.http.cookies.pop("csrftoken")
    another_browsers_token = Visitor(web).csrf
    before = rows()

    for name, id_name, who, form in POSTS:
        browser, path = browsers[who], _path(name, id_name, job)
        for attempt in (
            browser.post(path, form, csrf=False),
            browser.post(path, form, csrf=another_browsers_token),
            browser.post(path, form, csrf="not-a-token"),
            browser.post(path, form, origin="https://evil.example"),
            cookieless[who].post(path, form, csrf=another_browsers_token),
        ):
            try:
                assert_page(attempt, 403, EXPIRED_FORM, "nothing was changed")
            except AssertionError as failure:
                raise AssertionError(f"{name}: {failure}") from None

    assert rows() == before
    # With the page's own token each of them gets past the check (registering a webhook then
    # meets GitHub's own refusal: alice's token lacks admin:org_hook).
    for name, id_name, who, form in POSTS:
        answer = browsers[who].post(_path(name, id_name, job), form)
        assert EXPIRED_FORM not in answer.text, name
        assert answer.status_code != 403 or name == "onboarding:webhook_register", name
    assert rows() != before


# -- staff -------------------------------------------------------------------------------------


def test_it_closes_staff_pages_and_actions_to_everyone_but_staff(
    web: DaphneServer, acme_admin: Membership, sam: User, job: SyncJob
) -> None:
    pages = ["/staff/syncs/", "/staff/syncs/audit/", f"/staff/syncs/teams/{job.team_id}/"]
    actions = [(_path(name, id_name, job), form) for name, id_name, who, form in POSTS]
    actions = [(path, form) for path, form in actions if path.startswith("/staff/")]
    alice, anonymous, staff = Visitor(web, acme_admin.user), Visitor(web), Visitor(web, sam)
    before = rows()

    for path in pages:
        assert anonymous.get(path).headers["Location"] == f"/admin/login/?next={path}"
        assert_page(alice.get(path), 404, NOT_FOUND)
    for path, form in actions:
        assert anonymous.post(path, form).headers["Location"] == f"/admin/login/?next={path}"
        assert_page(alice.post(path, form), 404, NOT_FOUND)
    assert alice.get("/admin/").headers["Location"] == "/admin/login/?next=/admin/"

    assert rows() == before
    assert [staff.get(path).status_code for path in pages] == [200, 200, 200]
    cancel = _path("staff:cancel_job", "job_id", job)
    assert staff.post(cancel, {"confirmed": "on"}).status_code == 302
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED


# -- sockets -----------------------------------------------------------------------------------


def test_it_refuses_sockets_of_other_teams_and_the_staff_socket_to_non_staff(
    web: DaphneServer, acme_admin: Membership, charlie: User, sam: User, job: SyncJob
) -> None:
    alice, stranger, anonymous = Visitor(web, acme_admin.user), Visitor(web, charlie), Visitor(web)
    staff = Visitor(web, sam)
    job_socket, staff_socket = f"/ws/sync/{job.pk}/", "/ws/sync/staff/"
    team_socket = f"/ws/team/{job.team_id}/"

    for visitor, path in [
        (stranger, job_socket),
        (anonymous, job_socket),
        (stranger, team_socket),
        (anonymous, team_socket),
        (alice, staff_socket),
        (stranger, staff_socket),
        (anonymous, staff_socket),
    ]:
        refused = visitor.socket(path)
        assert (refused.frames, refused.code) == ([], REFUSED), path
    # A page of another site may not open a socket with the user's cookie.
    for visitor, path in [(alice, job_socket), (alice, team_socket), (staff, staff_socket)]:
        with pytest.raises(InvalidStatus) as refused_handshake:
            visitor.socket(path, origin="https://evil.example")
        assert refused_handshake.value.response.status_code == 403

    # Those allowed get their snapshot first.
    assert 'id="sync-status"' in alice.socket(job_socket).frames[0]
    assert 'id="overview-sync"' in alice.socket(team_socket).frames[0]
    assert 'id="staff-sync-jobs"' in staff.socket(staff_socket).frames[0]


# -- error pages -------------------------------------------------------------------------------


def test_it_shows_error_pages_without_debug_detail_or_a_token(
    web: DaphneServer, github: RunningSandbox, acme_admin: Membership, bob: User, sam: User
) -> None:
    mona = acme_admin.user.github_account.credential.access_token  # type: ignore[union-attr]
    # Bob's token was stored under a key the service no longer has: reading it fails.
    member = identity(github, plain_member(github))
    with override_settings(ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        connect(bob, member)
    alice, broken = Visitor(web, acme_admin.user, acme_admin.team), Visitor(web, bob)
    staff, stranger = Visitor(web, sam), Visitor(web)

    pages: list[tuple[Any, int, str]] = [
        (alice.get("/no/such/page/"), 404, NOT_FOUND),
        (alice.get("/onboarding/sync/123456789/"), 404, NOT_FOUND),
        (staff.get("/admin/sync/team/"), 403, "You may not open this page"),
        (
            stranger.http.get(f"{web.url}/", headers={"Host": "evil.example"}, timeout=10),
            400,
            "This request could not be read",
        ),
        (alice.post("/onboarding/select-org/choose/", csrf=False), 403, EXPIRED_FORM),
        (broken.get("/onboarding/select-org/"), 500, "Something went wrong on our side"),
    ]

    for response, status, says in pages:
        assert_page(response, status, says)
        for secret in (mona, member.token, alice.session_id, broken.session_id):
            assert secret not in response.text
    log = web.process.output()  # type: ignore[union-attr]
    assert "DecryptionError" in log  # the 500's cause is in the log, for the operators
    assert mona not in log and member.token not in log


# -- key rotation ------------------------------------------------------------------------------


def test_it_rotates_keys_under_a_worker_that_then_knows_only_the_new_key(
    acme: Team, github: RunningSandbox, request: pytest.FixtureRequest
) -> None:
    old_key, new_key = settings.ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    credential = IntegrationCredential.objects.get(integration__team=acme)
    token = credential.access_token
    stored = _stored_token(credential)
    assert Fernet(old_key.encode()).decrypt(stored.encode()).decode() == token

    rotation = subprocess.run(
        [sys.executable, "manage.py", "rotate_encryption_keys"],
        cwd=ROOT,
        env=child_env(ENCRYPTION_KEYS=f"{new_key},{old_key}"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert rotation.returncode == 0, rotation.stderr
    assert "Re-encrypted 1 secrets with the current key." in rotation.stdout
    rotated = _stored_token(credential)
    assert rotated != stored and token not in rotated
    assert Fernet(new_key.encode()).decrypt(rotated.encode()).decode() == token
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(rotated.encode())

    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    worker = start_sync_worker(log, GITHUB_API_URL=github.api_url, ENCRYPTION_KEYS=new_key)
    try:
        job = wait_finished(services.start_sync(team=acme), timeout=120)
    finally:
        worker.stop()
    assert job.status == SyncJob.Status.SUCCEEDED, job.error_message
    truth = github.control.truth("acme", since=since_of(job))
    assert truth_from_db(acme) == truth and truth["pull_requests"] > 0
    output = worker.output() + rotation.stdout + rotation.stderr
    assert token not in output and "DecryptionError" not in output


def _stored_token(credential: IntegrationCredential) -> str:
    """The access token's column as stored: the ciphertext, not decrypted."""
    stored = IntegrationCredential.objects.filter(pk=credential.pk).values_list("access_token")
    return str(stored.get()[0])
