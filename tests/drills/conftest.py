"""Resilience drills: the real processes (Daphne, a `rundramatiq` worker, Redis, the database,
the sandbox GitHub and Chromium) broken on purpose mid-sync. Each drill ends with the
database equal to the sandbox's ground truth and the page or socket showing the right state.
"""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from django.contrib.auth.models import User

from sandbox.testing import RunningSandbox
from sync.models import Membership, Team

# The browser fixtures (Daphne in a subprocess, Debian's Chromium, signed-in pages).
from tests.browser.conftest import browser, daphne, page_as, playwright  # noqa: F401
from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS
from tests.onboarding import personas
from tests.sync.importing import connect, forget_github_budgets, track_all


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Iterator[Team]:
    """The acme team connected to the sandbox with alice's token, every repository tracked."""
    forget_github_budgets()
    team.token = connect(team, alice, github)  # type: ignore[attr-defined]
    track_all(team, team.token)  # type: ignore[attr-defined]
    yield team
    dramatiq.get_broker().flush_all()  # no message of this drill may reach a later worker


@pytest.fixture
def web(
    request: pytest.FixtureRequest, transactional_db: None, github: RunningSandbox
) -> Iterator[DaphneServer]:
    """Daphne as production runs it (DEBUG off), its GitHub, Jira and Slack the sandbox's."""
    forget_github_budgets()
    server = DaphneServer(
        ARTIFACTS / "logs" / request.node.name,
        GITHUB_API_URL=github.api_url,
        GITHUB_CLIENT_ID=personas.CLIENT_ID,
        GITHUB_CLIENT_SECRET=personas.CLIENT_SECRET,
        JIRA_AUTH_URL=github.jira_auth_url,
        JIRA_API_URL=github.jira_api_url,
        SLACK_URL=github.slack_url,
    )
    server.start()
    github.control.set_callback_url(f"{server.url}/onboarding/github/callback/")
    yield server
    server.stop()
    dramatiq.get_broker().flush_all()  # no message queued here may reach a later worker


@pytest.fixture
def acme_admin(alice: User, github: RunningSandbox) -> Membership:
    """Alice signed in with GitHub as mona and created the acme team: she is its admin."""
    mona = personas.identity(github, "mona")
    personas.connect(alice, mona)
    return personas.join(alice, mona)
