from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT

SIGNS = ("DEBUG", "SECRET_KEY", "ENCRYPTION_KEYS", "DATABASE_URL", "ALLOWED_HOSTS")


def _manage(var_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SIGNS}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_runs_commands_in_development_when_nothing_says_production(tmp_path: Path) -> None:
    result = _manage(tmp_path, "check")

    assert result.returncode == 0, result.stderr
    assert "running in development (DEBUG=1" in result.stderr
    assert (tmp_path / "encryption.key").exists()


def test_it_assumes_nothing_once_a_production_key_is_set(tmp_path: Path) -> None:
    result = _manage(tmp_path, "check", SECRET_KEY="s3cret")

    assert result.returncode != 0
    assert "running in development" not in result.stderr
    assert "refusing to start" in result.stderr
    assert not (tmp_path / "encryption.key").exists()
