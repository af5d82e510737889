"""A database that cannot be reached: Daphne answers 503 with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.browser.servers import _free_port
from tests.processes import Process, child_env, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def daphne_without_database(tmp_path: Path) -> Iterator[str]:
    """Daphne as production runs it, its PostgreSQL a port nobody listens on."""
    env = child_env(DATABASE_POOL_TIMEOUT="2")
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:{_free_port()}/gone"
    port = _free_port()
    args = ["-m", "project.web", "-b", "127.0.0.1", "-p", str(port), "asgi:application"]
    server = Process(args, env, tmp_path / "daphne.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=30, interval=0.1)
        yield url
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def test_it_asks_a_signed_in_user_to_retry_later_without_touching_the_session(
    daphne_without_database: str,
) -> None:
    http = requests.Session()
    http.cookies.set("sessionid", "a" * 32)

    response = http.get(f"{daphne_without_database}/onboarding/sync/7/?from=start", timeout=30)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "Set-Cookie" not in response.headers
    assert "no-store" in response.headers["Cache-Control"]
    assert "cannot reach its database" in response.text
    assert 'href="/onboarding/sync/7/?from=start" data-testid="retry"' in response.text
    assert "Traceback" not in response.text
