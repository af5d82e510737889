"""GitHub's delivery signature: ``sha256=`` + hex HMAC-SHA256 of the raw body with the secret.

GitHub: https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """Return the ``X-Hub-Signature-256`` value GitHub sends for ``body``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """Tell whether ``header`` signs ``body`` with ``secret`` (compared in constant time)."""
    if not secret or not header.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


def new_secret() -> str:
    """Return a fresh secret for a hook (GitHub accepts any string)."""
    return secrets.token_urlsafe(32)
