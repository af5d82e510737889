"""Development secrets: created once under var/ so `make run` needs no configuration."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet


def ensure_dev_secrets(var_dir: Path, secret_key: str, keys: list[str]) -> tuple[str, list[str]]:
    """Return the secret key and encryption keys, creating missing ones under ``var_dir``."""
    var_dir.mkdir(parents=True, exist_ok=True)
    if not secret_key:
        secret_key = _read_or_create(var_dir / "secret_key", lambda: secrets.token_urlsafe(50))
    if not keys:
        keys = [_read_or_create(var_dir / "encryption.key", lambda: Fernet.generate_key().decode())]
    return secret_key, keys


def _read_or_create(path: Path, make: Callable[[], str]) -> str:
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()
