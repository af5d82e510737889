"""Browser fixtures: Daphne in a subprocess (pytest-django's live_server cannot serve
WebSockets) on this run's database and Redis, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.browser.servers import DaphneServer
from tests.conftest import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"
# Playwright's sync API runs an event loop in the test's thread, and pytest-django sets the
# database up in that thread too; the ORM calls made there are plain synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def daphne(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[DaphneServer]:
    server = DaphneServer(ARTIFACTS / "logs" / request.node.name)
    server.start()
    yield server
    server.stop()


# Module scope: a test that starts Playwright itself must not find this one running.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    yield browser
    browser.close()


def signed_in(browser: Browser, server: DaphneServer, user: User, **options: Any) -> BrowserContext:
    """Return a browser context with ``user``'s session cookie for ``server``."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(**options)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.url}]
    )
    return context


@pytest.fixture
def page_as(browser: Browser, daphne: DaphneServer) -> Iterator[object]:
    """``page_as(user)`` opens a page signed in as ``user``; closed after the test."""
    contexts: list[BrowserContext] = []

    def open_page(user: User) -> Page:
        context = signed_in(browser, daphne, user)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print axe-core's violations per page checked in this run (tests/browser/axe.py)."""
    from tests.browser.axe import IMPACTS, RESULTS

    if not RESULTS:
        return
    terminalreporter.section("axe-core violations per page (critical, serious, moderate, minor)")
    for name, counts in RESULTS:
        terminalreporter.write_line(f"{name}: " + " ".join(str(counts[i]) for i in IMPACTS))
