from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def test_it_refuses_to_run_on_the_embedded_fallbacks_under_ci() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/project/test_logs.py",
        ],
        cwd=ROOT,
        env={**env, "REQUIRE_REAL_BACKENDS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 3
    assert "database is sqlite, not postgresql" in result.stdout + result.stderr
    assert "redis is the embedded fakeredis" in result.stdout + result.stderr


def test_it_refuses_to_run_without_redis_server_under_ci() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/project/test_logs.py",
        ],
        cwd=ROOT,
        env={**os.environ, "REQUIRE_REAL_BACKENDS": "1", "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 3
    assert "redis-server is not installed" in result.stdout + result.stderr
