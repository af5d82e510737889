from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT


def _start_django(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "ENCRYPTION_KEYS", "ALLOWED_HOSTS")
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_refuses_to_start_without_keys_when_debug_is_off() -> None:
    result = _start_django(DEBUG="0", SECRET_KEY="s3cret", ALLOWED_HOSTS="example.com")

    assert result.returncode != 0
    assert "set ENCRYPTION_KEYS" in result.stderr
    assert "refusing to start" in result.stderr


def test_it_starts_when_configured() -> None:
    result = _start_django(
        DEBUG="0",
        SECRET_KEY="s3cret",
        ALLOWED_HOSTS="example.com",
        ENCRYPTION_KEYS="x7rL0Ulh2c3jc6M1d3JXW1dnpzZxQp3Kqn2E3mYkP4A=",
    )

    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_it_creates_development_keys_under_var(tmp_path: object) -> None:
    result = _start_django(DEBUG="1", VAR_DIR=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "encryption.key").read_text().strip()  # type: ignore[operator]
