"""Dramatiq entry points: thin, id-only, idempotent; the logic lives in the modules they call."""

from __future__ import annotations

import dramatiq

from sync import credentials
from sync.crypto import DecryptionError
from sync.models import Integration


@dramatiq.actor(
    max_retries=3,
    min_backoff=1_000,
    time_limit=60_000,
    # Retrying cannot fix a key that is missing or a row that is gone.
    throws=(DecryptionError, Integration.DoesNotExist),
)
def verify_github_integration(integration_id: int) -> None:
    credentials.verify_github_integration(integration_id)
