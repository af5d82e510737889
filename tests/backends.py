"""Pick the test backends before Django's settings load, and say which ones ran.

PostgreSQL when DATABASE_URL is set, SQLite otherwise; Redis at REDIS_URL when set,
otherwise an embedded Redis-protocol server started here; the browser tests drive Debian's
Chromium at /usr/bin/chromium (`make test` installs it when missing). With
REQUIRE_REAL_BACKENDS=1 (CI) the run stops at once unless both are the real servers and
`redis-server` is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

_EMBEDDED_REDIS = not os.environ.get("REDIS_URL")
if _EMBEDDED_REDIS:
    from project.embedded_redis import start_embedded_redis

    _server, os.environ["REDIS_URL"] = start_embedded_redis()

# Fixed, readable test secrets; production refuses to start without its own.
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("ENCRYPTION_KEYS", "x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A=")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("DEBUG", "0")
# Production's defaults with DEBUG off, but over plain http on localhost.
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
# A prefix and a database of our own, so a run never meets another run's messages or rows.
_RUN = uuid.uuid4().hex[:8]
os.environ["REDIS_PREFIX"] = f"test-{_RUN}"
os.environ["TEST_DATABASE_NAME"] = f"test_{_RUN}"


CHROMIUM = "/usr/bin/chromium"


def describe_browser() -> str:
    """Name the browser the browser tests drive, with its version, or say it is missing."""
    try:
        answer = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return f"browser=missing ({CHROMIUM}; `make test` installs it with apt-get)"
    version = answer.stdout.split(" built on")[0].strip() or "unknown version"
    return f"browser={version} ({CHROMIUM})"


def describe_backends() -> str:
    """Name the database, Redis and browser this run uses."""
    database = os.environ.get("DATABASE_URL")
    database_text = f"postgresql ({database.split('@')[-1]})" if database else "sqlite (var/)"
    redis_url = os.environ["REDIS_URL"]
    redis_text = f"embedded fakeredis ({redis_url})" if _EMBEDDED_REDIS else f"redis ({redis_url})"
    return f"backends: database={database_text} redis={redis_text} {_BROWSER}"


_BROWSER = describe_browser()


def _require_real_backends() -> None:
    from django.db import connection

    problems = []
    if connection.vendor != "postgresql":
        problems.append(f"database is {connection.vendor}, not postgresql")
    if _EMBEDDED_REDIS:
        problems.append("redis is the embedded fakeredis, not a Redis server")
    if shutil.which("redis-server") is None:
        # The Redis drill restarts a redis-server of its own; without one it would run on the
        # embedded server only.
        problems.append("redis-server is not installed (tests/drills/test_redis_restart.py)")
    if problems:
        pytest.exit("REQUIRE_REAL_BACKENDS is set but " + "; ".join(problems), returncode=3)


def pytest_report_header(config: pytest.Config) -> str:
    return describe_backends()


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("REQUIRE_REAL_BACKENDS") == "1":
        import django

        django.setup()
        _require_real_backends()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(describe_backends())
