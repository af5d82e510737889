"""The web process's access log: requests are logged, OAuth codes and states are not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.browser.servers import DaphneServer
from tests.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CODE = "c0de4f1e2d3c4b5a6978"
STATE = "st4te-9f8e7d6c5b4a3210"


@pytest.fixture
def daphne(tmp_path: Path) -> Iterator[DaphneServer]:
    server = DaphneServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("provider", ["github", "jira", "slack"])
def test_it_keeps_oauth_codes_and_states_out_of_the_access_log(
    daphne: DaphneServer, provider: str
) -> None:
    callback = f"/onboarding/{provider}/callback/"
    requests.get(f"{daphne.url}{callback}?code={CODE}&state={STATE}", timeout=10)
    requests.get(f"{daphne.url}/onboarding/start/?next=/onboarding/", timeout=10)
    assert daphne.process is not None
    log = daphne.process

    wait_for(lambda: "/onboarding/start/?next=" in log.output(), timeout=10)

    assert f'"GET {callback}?[redacted]' in log.output()
    assert '"GET /onboarding/start/?next=/onboarding/"' in log.output()
    assert CODE not in log.output() and STATE not in log.output()
