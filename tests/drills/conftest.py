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
from sync.models import Team

# The browser fixtures (Daphne in a subprocess, Debian's Chromium, signed-in pages).
from tests.browser.conftest import browser, daphne, page_as, playwright  # noqa: F401
from tests.sync.importing import connect, forget_github_budgets, track_all


@pytest.fixture
def acme(team: Team, alice: User, github: RunningSandbox) -> Iterator[Team]:
    """The acme team connected to the sandbox with alice's token, every repository tracked."""
    forget_github_budgets()
    team.token = connect(team, alice, github)  # type: ignore[attr-defined]
    track_all(team, team.token)  # type: ignore[attr-defined]
    yield team
    dramatiq.get_broker().flush_all()  # no message of this drill may reach a later worker
