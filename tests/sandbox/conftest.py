from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from github import Auth, Github

from sandbox.testing import RunningSandbox, SandboxControl, start_sandbox

SMALL_WORLD = ("--seed", "7", "--repos", "5", "--prs", "300", "--members", "12")
CALLBACK = "http://127.0.0.1:8000/onboarding/callback/"  # the OAuth app's registered callback


def make_github(api_url: str, token: str | None, **options: object) -> Github:
    """Build the real PyGithub client as the product does, without its sleeping retries."""
    settings: dict[str, object] = {"per_page": 100, "seconds_between_requests": None, "retry": None}
    settings |= options
    auth = Auth.Token(token) if token else None
    return Github(base_url=api_url, auth=auth, timeout=10, **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sandbox() -> Iterator[RunningSandbox]:
    running = start_sandbox(*SMALL_WORLD, "--callback-url", CALLBACK)
    yield running
    running.stop()


@pytest.fixture
def control(sandbox: RunningSandbox) -> Iterator[SandboxControl]:
    yield sandbox.control
    sandbox.control.reset()


@pytest.fixture
def mona_token(control: SandboxControl) -> str:
    return control.issue_token("mona", ["read:org", "repo", "user"])


@pytest.fixture
def gh(sandbox: RunningSandbox, mona_token: str) -> Github:
    return make_github(sandbox.api_url, mona_token)


@pytest.fixture
def github_for(sandbox: RunningSandbox, control: SandboxControl) -> Callable[..., Github]:
    def build(login: str = "mona", scopes: list[str] | None = None, **options: object) -> Github:
        return make_github(sandbox.api_url, control.issue_token(login, scopes), **options)

    return build
