"""Shared fixtures: personas (alice owns acme, bob is a member, charlie has no access, sam is
staff), the sandbox GitHub over real HTTP, and a real Dramatiq worker process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import User

from sync.models import Membership, Team
from tests.processes import Process, start_worker

if TYPE_CHECKING:
    from sandbox.testing import RunningSandbox

# GitHub refuses a redirect_uri unlike the OAuth app's callback URL: the Django test client's.
TEST_CLIENT_CALLBACK = "http://testserver/onboarding/github/callback/"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", "alice@example.com", "alice-password")


@pytest.fixture
def bob(db: None) -> User:
    return User.objects.create_user("bob", "bob@example.com", "bob-password")


@pytest.fixture
def charlie(db: None) -> User:
    return User.objects.create_user("charlie", "charlie@example.com", "charlie-password")


@pytest.fixture
def sam(db: None) -> User:
    return User.objects.create_user("sam", "sam@example.com", "sam-password", is_staff=True)


@pytest.fixture
def team(alice: User, bob: User) -> Team:
    team = Team.objects.create(name="Acme", github_org_id=1001, github_org_login="acme")
    Membership.objects.create(user=alice, team=team, role=Membership.Role.ADMIN)
    Membership.objects.create(user=bob, team=team, role=Membership.Role.MEMBER)
    return team


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    from sandbox.testing import start_sandbox

    running = start_sandbox(
        "--seed", "3", "--repos", "6", "--prs", "400", "--members", "8",
        "--callback-url", TEST_CLIENT_CALLBACK,
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture
def github(sandbox: RunningSandbox, settings: object) -> RunningSandbox:
    """The sandbox, reset, with the project's settings pointed at it.

    A reset keeps the OAuth app's registered callback (a running service keeps its own): it goes
    back to the test client's here, so a server an earlier test registered never leaks into
    the next test's OAuth flow.
    """
    sandbox.control.reset()
    sandbox.control.set_callback_url(TEST_CLIENT_CALLBACK)
    settings.GITHUB_API_URL = sandbox.api_url  # type: ignore[attr-defined]
    return sandbox


@pytest.fixture
def jira_sandbox(github: RunningSandbox, settings: object) -> RunningSandbox:
    """The sandbox (reset by ``github``), with the Jira settings pointed at its Atlassian."""
    sandbox = github
    settings.JIRA_AUTH_URL = sandbox.jira_auth_url  # type: ignore[attr-defined]
    settings.JIRA_API_URL = sandbox.jira_api_url  # type: ignore[attr-defined]
    settings.JIRA_CLIENT_ID = "sandbox-jira-client-id"  # type: ignore[attr-defined]
    settings.JIRA_CLIENT_SECRET = "sandbox-jira-client-secret"  # type: ignore[attr-defined]
    return sandbox


@pytest.fixture
def slack_sandbox(github: RunningSandbox, settings: object) -> RunningSandbox:
    """The sandbox (reset by ``github``), with the Slack settings pointed at its Slack."""
    sandbox = github
    settings.SLACK_URL = sandbox.slack_url  # type: ignore[attr-defined]
    settings.SLACK_CLIENT_ID = "sandbox-slack-client-id"  # type: ignore[attr-defined]
    settings.SLACK_CLIENT_SECRET = "sandbox-slack-client-secret"  # type: ignore[attr-defined]
    return sandbox


@pytest.fixture
def worker(request: pytest.FixtureRequest, sandbox: RunningSandbox) -> Iterator[Process]:
    """A real `rundramatiq` worker process on this run's database, Redis and sandbox."""
    log = ARTIFACTS / "logs" / f"worker-{request.node.name}.log"
    process = start_worker(
        log,
        GITHUB_API_URL=sandbox.api_url,
        JIRA_AUTH_URL=sandbox.jira_auth_url,
        JIRA_API_URL=sandbox.jira_api_url,
        SLACK_URL=sandbox.slack_url,
    )
    yield process
    process.stop()


@pytest.fixture
def worker_beating() -> Iterator[None]:
    """A worker heartbeat written every second, as a running worker process writes it, for
    tests that drive a job's rows by hand and must not see "no worker is running"."""
    import threading

    from tests.sync.jobs import no_worker, worker_alive

    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            worker_alive()
            stop.wait(1)

    worker_alive()
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(5)
    no_worker()
